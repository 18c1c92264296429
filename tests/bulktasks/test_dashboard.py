"""The staff dashboard on the admin index: the last 24 hours of tasks, in a few queries."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bulktasks.dashboard import dashboard_get
from bulktasks.models import BulkTask
from tests.factories import BulkTaskFactory, OrganizationFactory, UserFactory
from users.models import Organization

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
INDEX_URL = "/admin/"


def task(created_ago: dt.timedelta, **fields: object) -> BulkTask:
    """A task created ``created_ago`` before NOW (created_at is set on insert, so updated after)."""
    bulk_task = BulkTaskFactory(**fields)
    BulkTask.objects.filter(pk=bulk_task.pk).update(created_at=NOW - created_ago)
    bulk_task.refresh_from_db()
    return bulk_task


HOUR = dt.timedelta(hours=1)
INSIDE = dt.timedelta(hours=23, minutes=59)
OUTSIDE = dt.timedelta(hours=24, seconds=1)


@pytest.fixture
def acme() -> Organization:
    return OrganizationFactory(slug="acme", name="Acme Corporation")


@pytest.fixture
def globex() -> Organization:
    return OrganizationFactory(slug="globex", name="Globex")


def test_tasks_per_status_count_the_tasks_created_in_the_last_24_hours_only(
    acme: Organization, globex: Organization
) -> None:
    task(HOUR, organization=acme, status=BulkTask.Status.PENDING)
    task(INSIDE, organization=globex, status=BulkTask.Status.PENDING)
    task(HOUR, organization=acme, status=BulkTask.Status.COMPLETED)
    task(HOUR, organization=globex, status=BulkTask.Status.FAILED, cancelled_at=NOW)
    task(HOUR, organization=acme, status=BulkTask.Status.FAILED)
    task(OUTSIDE, organization=acme, status=BulkTask.Status.COMPLETED)
    task(dt.timedelta(days=30), organization=globex, status=BulkTask.Status.FAILED)

    dashboard = dashboard_get(now=NOW)

    assert dashboard.tasks_by_status == {
        "pending": 2,
        "inProgress": 0,
        "completed": 1,
        "failed": 2,
    }
    assert dashboard.tasks == 5
    assert dashboard.cancelled == 1
    assert dashboard.since == NOW - dt.timedelta(hours=24)


def test_lines_processed_add_every_outcome_of_tasks_in_the_window_and_exports_apart(
    acme: Organization, globex: Organization
) -> None:
    task(HOUR, organization=acme, status=BulkTask.Status.COMPLETED, num_items=10,
         num_inserts=6, num_updates=1, num_skips=1, num_errors=2)  # fmt: skip
    # Still running: what it did so far counts.
    task(INSIDE, organization=globex, status=BulkTask.Status.IN_PROGRESS, num_items=200_000,
         num_inserts=84_000)  # fmt: skip
    task(HOUR, organization=acme, action="users.export", result_format="csv",
         status=BulkTask.Status.COMPLETED, num_items=1_500)  # fmt: skip
    task(OUTSIDE, organization=acme, status=BulkTask.Status.COMPLETED, num_items=7, num_inserts=7)

    dashboard = dashboard_get(now=NOW)

    assert dashboard.lines_processed == 10 + 84_000
    assert dashboard.rows_exported == 1_500


def test_the_top_organizations_by_errored_lines_are_five_most_first(acme: Organization) -> None:
    organizations = [acme] + [OrganizationFactory(slug=f"org-{n}") for n in range(6)]
    for n, organization in enumerate(organizations):
        task(HOUR, organization=organization, num_errors=10 * (n + 1))
    task(HOUR, organization=acme, num_errors=65)  # acme: 10 + 65 = 75, in two tasks
    # Outside the window, or without errors: not counted.
    task(OUTSIDE, organization=organizations[1], num_errors=1_000)
    task(HOUR, organization=OrganizationFactory(slug="clean"), num_inserts=5)

    top = dashboard_get(now=NOW).top_errors

    assert [(entry.slug, entry.errored_lines, entry.tasks) for entry in top] == [
        ("acme", 75, 2),
        ("org-5", 70, 1),
        ("org-4", 60, 1),
        ("org-3", 50, 1),
        ("org-2", 40, 1),
    ]
    assert top[0].name == "Acme Corporation"
    assert top[0].organization_id == acme.pk


def test_the_oldest_pending_task_is_found_whenever_it_was_created(
    acme: Organization, globex: Organization
) -> None:
    task(HOUR, organization=acme, status=BulkTask.Status.PENDING)
    oldest = task(dt.timedelta(days=3, hours=2), organization=globex, status="pending")
    task(dt.timedelta(days=9), organization=acme, status=BulkTask.Status.COMPLETED)

    dashboard = dashboard_get(now=NOW)

    assert dashboard.oldest_pending == oldest
    assert dashboard.oldest_pending_age == dt.timedelta(days=3, hours=2)


def test_with_no_task_the_dashboard_is_all_zero() -> None:
    dashboard = dashboard_get(now=NOW)

    assert (dashboard.tasks, dashboard.lines_processed, dashboard.top_errors) == (0, 0, [])
    assert dashboard.oldest_pending is None


# --- On the admin index --------------------------------------------------------------------


def page_text(html: str, element_id: str) -> str:
    match = re.search(
        rf'<div class="task-dashboard-card" id="{element_id}">(.*?)\n    </div>', html, re.S
    )
    assert match is not None, element_id
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def seed_now(acme: Organization, globex: Organization) -> BulkTask:
    """Tasks of the last hours, relative to the real clock (the page reads it)."""
    now = timezone.now()
    for organization, errors in ((acme, 3), (globex, 12)):
        bulk_task = BulkTaskFactory(
            organization=organization,
            status=BulkTask.Status.COMPLETED,
            num_items=1_200,
            num_inserts=1_200 - errors,
            num_errors=errors,
        )
    pending = BulkTaskFactory(organization=acme, status=BulkTask.Status.PENDING)
    BulkTask.objects.filter(pk=pending.pk).update(created_at=now - dt.timedelta(hours=2, minutes=5))
    old = BulkTaskFactory(organization=globex, status=BulkTask.Status.FAILED, num_errors=99)
    BulkTask.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(days=2))
    assert bulk_task
    return pending


def test_the_admin_index_shows_the_dashboard_above_the_apps(
    staff_client: Client, acme: Organization, globex: Organization
) -> None:
    pending = seed_now(acme, globex)

    response = staff_client.get(INDEX_URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index('id="task-dashboard"') < html.index('id="content-main"')
    assert 'class="app-bulktasks module' in html  # the app list is kept
    statuses = page_text(html, "dashboard-statuses")
    assert statuses.startswith("Tasks created: 3 Pending 1 In progress 0 Completed 2 Failed 0")
    assert page_text(html, "dashboard-lines").startswith("Lines processed 2,400 Lines with an")
    assert page_text(html, "dashboard-errors") == (
        "Most errored lines Globex 12 in 1 task Acme Corporation 3 in 1 task"
    )
    assert page_text(html, "dashboard-pending").startswith(
        f"Oldest pending task 2 h 5 min {pending.pk} users.import for acme"
    )
    assert f'href="/admin/bulktasks/bulktask/{pending.pk}/change/"' in html
    assert f"?organization__id__exact={globex.pk}&amp;created_at__gte=" in html


def test_the_dashboards_links_open_the_task_list_filtered_to_the_window(
    staff_client: Client, acme: Organization, globex: Organization
) -> None:
    seed_now(acme, globex)
    html = staff_client.get(INDEX_URL).content.decode()
    failed_link = re.search(
        r'href="(/admin/bulktasks/bulktask/\?status__exact=completed[^"]+)"', html
    )
    assert failed_link is not None
    org_link = re.search(
        rf'href="(/admin/bulktasks/bulktask/\?organization__id__exact={globex.pk}[^"]+)"', html
    )
    assert org_link is not None

    completed = staff_client.get(unescape(failed_link.group(1)))
    of_globex = staff_client.get(unescape(org_link.group(1)))

    assert completed.status_code == of_globex.status_code == 200
    assert {t.status for t in completed.context["cl"].result_list} == {"completed"}
    assert len(completed.context["cl"].result_list) == 2
    # The task of two days ago is left out: the list is filtered to the window.
    assert [t.num_errors for t in of_globex.context["cl"].result_list] == [12]


def test_the_index_page_makes_the_same_few_queries_whatever_the_tasks(
    staff_client: Client, acme: Organization, globex: Organization
) -> None:
    seed_now(acme, globex)
    with CaptureQueriesContext(connection) as few:
        staff_client.get(INDEX_URL)
    for n in range(20):
        BulkTaskFactory(organization=OrganizationFactory(), num_errors=n + 1)
    with CaptureQueriesContext(connection) as many:
        staff_client.get(INDEX_URL)

    task_queries = [q["sql"] for q in many.captured_queries if "bulktasks_bulktask" in q["sql"]]
    assert len(many.captured_queries) == len(few.captured_queries)
    assert len(task_queries) == 3
    assert not [sql for sql in task_queries if "DISTINCT" in sql.upper()]


def test_staff_who_may_not_read_tasks_see_the_index_without_the_dashboard(client: Client) -> None:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_organization"))
    client.force_login(staff)
    BulkTaskFactory()

    with CaptureQueriesContext(connection) as queries:
        response = client.get(INDEX_URL)

    assert response.status_code == 200
    assert 'id="task-dashboard"' not in response.content.decode()
    assert not [q for q in queries.captured_queries if "bulktasks_bulktask" in q["sql"]]
