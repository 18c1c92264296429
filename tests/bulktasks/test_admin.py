"""The Django admin for staff: browse bulk tasks read-only, read a report, manage tenants."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bulktasks.admin import ADMIN_REPORT_LINES
from bulktasks.models import BulkTask, BulkTaskLine
from tests.factories import (
    BulkTaskFactory,
    BulkTaskLineFactory,
    MembershipFactory,
    OrganizationFactory,
    RoleFactory,
    UserFactory,
)
from users import catalog
from users.models import Membership, Role

pytestmark = pytest.mark.django_db

CHANGELIST_URL = "/admin/bulktasks/bulktask/"
ADD_URL = "/admin/bulktasks/bulktask/add/"
LOGIN_URL = "/admin/login/"


def change_url(task: BulkTask) -> str:
    return f"/admin/bulktasks/bulktask/{task.pk}/change/"


def delete_url(task: BulkTask) -> str:
    return f"/admin/bulktasks/bulktask/{task.pk}/delete/"


def table_rows(html: str, table_id: str) -> list[tuple[int, str]]:
    """The (line, reason) rows of one report table on the task page, in page order."""
    match = re.search(rf'<table id="{table_id}"[^>]*>(.*?)</table>', html, re.S)
    assert match is not None, f"no table with id {table_id!r} on the page"
    rows = re.findall(r"<tr><td>(\d+)</td><td>(.*?)</td></tr>", match.group(1), re.S)
    return [(int(line), unescape(reason)) for line, reason in rows]


def shown_tasks(response: object) -> set[str]:
    """The ids of the tasks a changelist response lists."""
    return {task.pk for task in response.context["cl"].result_list}  # type: ignore[attr-defined]


# --- The task list -------------------------------------------------------------------------


def test_changelist_shows_each_task_with_its_organization_status_file_and_creator(
    staff_client: Client,
) -> None:
    creator = UserFactory(email="alice@example.com")
    task = BulkTaskFactory(
        organization=OrganizationFactory(slug="initech"),
        created_by=creator,
        status=BulkTask.Status.COMPLETED,
        file_original_name="quarterly-roster.csv",
    )

    response = staff_client.get(CHANGELIST_URL)

    assert response.status_code == 200
    content = response.content.decode()
    assert task.pk in content
    assert "initech" in content
    assert "Completed" in content
    assert "quarterly-roster.csv" in content
    assert "alice@example.com" in content
    assert shown_tasks(response) == {task.pk}


def test_changelist_status_filter_shows_only_failed_tasks(staff_client: Client) -> None:
    failed = BulkTaskFactory(status=BulkTask.Status.FAILED)
    BulkTaskFactory(status=BulkTask.Status.PENDING)
    BulkTaskFactory(status=BulkTask.Status.COMPLETED)
    BulkTaskFactory(status=BulkTask.Status.IN_PROGRESS)

    response = staff_client.get(CHANGELIST_URL, {"status__exact": "failed"})

    assert response.status_code == 200
    assert shown_tasks(response) == {failed.pk}


def test_changelist_action_filter_shows_only_that_actions_tasks(staff_client: Client) -> None:
    imports = BulkTaskFactory(action="users.import")
    BulkTaskFactory(action="users.retired")

    response = staff_client.get(CHANGELIST_URL, {"action": "users.import"})

    assert response.status_code == 200
    assert shown_tasks(response) == {imports.pk}


def test_changelist_action_filter_offers_the_registered_actions_without_reading_tasks(
    staff_client: Client,
) -> None:
    BulkTaskFactory.create_batch(3, action="users.import")

    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(CHANGELIST_URL)

    assert response.status_code == 200
    assert 'href="?action=users.import"' in response.content.decode()
    distinct_actions = [
        query["sql"]
        for query in queries.captured_queries
        if "DISTINCT" in query["sql"].upper() and "action" in query["sql"]
    ]
    assert distinct_actions == []


def test_changelist_search_finds_tasks_by_file_name(staff_client: Client) -> None:
    roster = BulkTaskFactory(file_original_name="roster-2024.csv")
    BulkTaskFactory(file_original_name="contractors.csv")

    response = staff_client.get(CHANGELIST_URL, {"q": "roster"})

    assert response.status_code == 200
    assert shown_tasks(response) == {roster.pk}


def test_changelist_search_finds_tasks_by_creator_email(staff_client: Client) -> None:
    by_bob = BulkTaskFactory(created_by=UserFactory(email="bob@initech.example"))
    BulkTaskFactory(created_by=UserFactory(email="carol@globex.example"))

    response = staff_client.get(CHANGELIST_URL, {"q": "bob@initech.example"})

    assert response.status_code == 200
    assert shown_tasks(response) == {by_bob.pk}


def test_changelist_search_finds_a_task_by_its_exact_id_only(staff_client: Client) -> None:
    wanted = BulkTaskFactory()
    BulkTaskFactory()

    exact = staff_client.get(CHANGELIST_URL, {"q": wanted.pk})
    prefix = staff_client.get(CHANGELIST_URL, {"q": wanted.pk[:20]})

    assert exact.status_code == 200
    assert shown_tasks(exact) == {wanted.pk}
    assert prefix.status_code == 200
    assert shown_tasks(prefix) == set()


def test_changelist_runs_the_same_number_of_queries_for_2_and_20_tasks(
    staff_client: Client,
) -> None:
    def changelist_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.get(CHANGELIST_URL)
        assert response.status_code == 200
        return len(queries)

    # Each task has its own organization and creator, so an N+1 would show.
    BulkTaskFactory.create_batch(2)
    with_2 = changelist_queries()
    BulkTaskFactory.create_batch(18)
    with_20 = changelist_queries()

    assert with_20 == with_2


# --- One task's page -----------------------------------------------------------------------


def test_change_page_shows_file_metadata_and_counters(staff_client: Client) -> None:
    task = BulkTaskFactory(
        status=BulkTask.Status.COMPLETED,
        file_original_name="roster-2024.csv",
        file_mimetype="text/csv",
        file_size=98765,
        file_checksum="ab" * 32,
        num_items=4321,
        num_inserts=4000,
        num_updates=310,
        num_skips=7,
        num_errors=4,
    )

    response = staff_client.get(change_url(task))

    assert response.status_code == 200
    content = response.content.decode()
    for value in ("roster-2024.csv", "text/csv", "98765", "ab" * 32):
        assert value in content
    for counter in ("4,321", "4,000", "310"):  # grouped, as the task list shows them
        assert counter in content
    assert "7 skipped and 4 errored lines in all." in re.sub(r"<[^>]+>", "", content)


def test_change_page_lists_skipped_and_errored_lines_in_line_order_with_reasons(
    staff_client: Client,
) -> None:
    task = BulkTaskFactory(status=BulkTask.Status.COMPLETED, num_skips=2, num_errors=3)
    for line, reason in [(9, "email: duplicate of line 3"), (3, "email: required"), (7, "<b>")]:
        BulkTaskLineFactory(task=task, kind=BulkTaskLine.Kind.ERRORED, line=line, reason=reason)
    for line, reason in [(8, "already a member"), (2, "already invited")]:
        BulkTaskLineFactory(task=task, kind=BulkTaskLine.Kind.SKIPPED, line=line, reason=reason)

    response = staff_client.get(change_url(task))

    assert response.status_code == 200
    content = response.content.decode()
    assert table_rows(content, "errored-lines") == [
        (3, "email: required"),
        (7, "<b>"),
        (9, "email: duplicate of line 3"),
    ]
    assert table_rows(content, "skipped-lines") == [
        (2, "already invited"),
        (8, "already a member"),
    ]
    assert "<td><b></td>" not in content  # reasons are escaped


def test_change_page_says_so_when_a_task_has_no_report_lines(staff_client: Client) -> None:
    task = BulkTaskFactory(status=BulkTask.Status.PENDING)

    response = staff_client.get(change_url(task))

    assert response.status_code == 200
    content = response.content.decode()
    assert table_rows(content, "errored-lines") == []
    assert table_rows(content, "skipped-lines") == []
    assert "No errored lines." in content
    assert "No skipped lines." in content


def test_change_page_shows_the_first_page_of_50_errored_lines(staff_client: Client) -> None:
    total = ADMIN_REPORT_LINES + 50
    task = BulkTaskFactory(status=BulkTask.Status.COMPLETED, num_errors=total)
    BulkTaskLine.objects.bulk_create(
        BulkTaskLineFactory.build(task=task, line=line, reason=f"reason {line}")
        for line in range(total + 1, 1, -1)
    )

    response = staff_client.get(change_url(task))

    assert response.status_code == 200
    rows = table_rows(response.content.decode(), "errored-lines")
    assert ADMIN_REPORT_LINES == 50
    assert rows == [(line, f"reason {line}") for line in range(2, ADMIN_REPORT_LINES + 2)]
    text = re.sub(r"<[^>]+>", "", response.content.decode())
    assert f"Errored lines ({ADMIN_REPORT_LINES} shown of {total})" in text


# --- Tasks are read-only -------------------------------------------------------------------


def test_add_page_is_refused(staff_client: Client) -> None:
    count_before = BulkTask.objects.count()

    get = staff_client.get(ADD_URL)
    post = staff_client.post(ADD_URL, {"action": "users.import", "status": "pending"})

    assert get.status_code == 403
    assert post.status_code == 403
    assert BulkTask.objects.count() == count_before


def test_change_page_has_no_save_button(staff_client: Client) -> None:
    task = BulkTaskFactory()

    response = staff_client.get(change_url(task))

    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()


def test_posting_to_the_change_page_does_not_change_the_task(staff_client: Client) -> None:
    task = BulkTaskFactory(status=BulkTask.Status.FAILED, num_errors=1, error="boom")
    updated_at = task.updated_at

    response = staff_client.post(
        change_url(task),
        {"status": "completed", "num_errors": "0", "error": "", "action": "hacked", "_save": "1"},
    )

    assert response.status_code == 403
    task.refresh_from_db()
    assert task.status == BulkTask.Status.FAILED
    assert task.num_errors == 1
    assert task.error == "boom"
    assert task.action == "users.import"
    assert task.updated_at == updated_at


def test_delete_is_refused(staff_client: Client) -> None:
    task = BulkTaskFactory()

    get = staff_client.get(delete_url(task))
    post = staff_client.post(delete_url(task), {"post": "yes"})
    changelist = staff_client.get(CHANGELIST_URL)
    bulk = staff_client.post(
        CHANGELIST_URL, {"action": "delete_selected", "_selected_action": [task.pk], "post": "yes"}
    )

    assert get.status_code == 403
    assert post.status_code == 403
    assert 'value="delete_selected"' not in changelist.content.decode()
    assert bulk.status_code in (200, 302)  # refused: shown again or sent back to the list
    assert BulkTask.objects.filter(pk=task.pk).exists()


# --- Who may see the admin -----------------------------------------------------------------


def test_a_non_staff_user_is_sent_to_the_admin_login_page(client: Client) -> None:
    task = BulkTaskFactory()
    client.force_login(UserFactory(is_staff=False, is_active=True))

    changelist = client.get(CHANGELIST_URL)
    change = client.get(change_url(task))

    for response in (changelist, change):
        assert response.status_code == 302
        assert response["Location"].startswith(f"{LOGIN_URL}?next=")


def test_an_anonymous_visitor_is_sent_to_the_admin_login_page(client: Client) -> None:
    task = BulkTaskFactory()

    changelist = client.get(CHANGELIST_URL)
    change = client.get(change_url(task))

    for response in (changelist, change):
        assert response.status_code == 302
        assert response["Location"].startswith(f"{LOGIN_URL}?next=")


# --- Accounts, organizations, roles and memberships ----------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/admin/users/user/",
        "/admin/users/organization/",
        "/admin/users/role/",
        "/admin/users/membership/",
        "/admin/bulktasks/storageprovider/",
    ],
)
def test_account_changelists_render_for_staff(staff_client: Client, url: str) -> None:
    organization = OrganizationFactory(slug="initech")
    role = RoleFactory(
        organization=organization, name="Auditor", permissions=[catalog.BULK_TASK_GET]
    )
    MembershipFactory(
        user=UserFactory(email="dana@initech.example"), organization=organization, roles=[role]
    )
    BulkTaskFactory(organization=organization)

    response = staff_client.get(url)

    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


def test_role_and_membership_changelists_show_their_rows(staff_client: Client) -> None:
    organization = OrganizationFactory(slug="initech")
    role = RoleFactory(
        organization=organization,
        name="Auditor",
        permissions=[catalog.BULK_TASK_GET, catalog.BULK_TASK_LIST],
    )
    MembershipFactory(
        user=UserFactory(email="dana@initech.example"), organization=organization, roles=[role]
    )

    roles = staff_client.get("/admin/users/role/").content.decode()
    memberships = staff_client.get("/admin/users/membership/").content.decode()

    assert "Auditor" in roles
    assert f"{catalog.BULK_TASK_GET}, {catalog.BULK_TASK_LIST}" in roles
    assert "dana@initech.example" in memberships
    assert "initech" in memberships


def test_organization_page_renders_with_its_memberships(staff_client: Client) -> None:
    organization = OrganizationFactory(slug="initech")
    MembershipFactory(user=UserFactory(email="dana@initech.example"), organization=organization)

    response = staff_client.get(f"/admin/users/organization/{organization.pk}/change/")

    assert response.status_code == 200
    assert "dana@initech.example" in response.content.decode()


def test_role_admin_saves_catalog_permissions(staff_client: Client) -> None:
    organization = OrganizationFactory()

    response = staff_client.post(
        "/admin/users/role/add/",
        {
            "organization": organization.pk,
            "name": "Operator",
            "permissions": [catalog.BULK_TASK_LIST, catalog.BULK_TASK_GET],
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    role = Role.objects.get(organization=organization, name="Operator")
    assert role.permissions == sorted([catalog.BULK_TASK_GET, catalog.BULK_TASK_LIST])


def test_role_admin_refuses_a_permission_outside_the_catalog(staff_client: Client) -> None:
    organization = OrganizationFactory()

    response = staff_client.post(
        "/admin/users/role/add/",
        {
            "organization": organization.pk,
            "name": "Superpowers",
            "permissions": [catalog.BULK_TASK_GET, "base.everything.delete"],
            "_save": "Save",
        },
    )

    assert response.status_code == 200
    assert "permissions" in response.context["adminform"].form.errors
    assert not Role.objects.filter(name="Superpowers").exists()


def test_membership_admin_saves_roles_of_the_same_organization(staff_client: Client) -> None:
    organization = OrganizationFactory()
    role = RoleFactory(organization=organization)
    user = UserFactory()

    response = staff_client.post(
        "/admin/users/membership/add/",
        {
            "user": user.pk,
            "organization": organization.pk,
            "roles": [role.pk],
            "is_active": "on",
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    membership = Membership.objects.get(user=user, organization=organization)
    assert list(membership.roles.all()) == [role]


def test_membership_admin_refuses_a_role_of_another_organization(staff_client: Client) -> None:
    organization = OrganizationFactory()
    foreign_role = RoleFactory(organization=OrganizationFactory(), name="Globex operator")
    user = UserFactory()

    response = staff_client.post(
        "/admin/users/membership/add/",
        {
            "user": user.pk,
            "organization": organization.pk,
            "roles": [foreign_role.pk],
            "is_active": "on",
            "_save": "Save",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "Globex operator" in str(errors["roles"])
    assert not Membership.objects.filter(user=user).exists()


def test_role_admin_cannot_move_a_held_role_to_another_organization(
    staff_client: Client,
) -> None:
    acme = OrganizationFactory()
    globex = OrganizationFactory()
    role = RoleFactory(organization=acme, name="Operator", permissions=[catalog.BULK_TASK_GET])
    MembershipFactory(organization=acme, roles=[role])

    staff_client.post(
        f"/admin/users/role/{role.pk}/change/",
        {
            "organization": globex.pk,
            "name": "Operator",
            "permissions": [catalog.BULK_TASK_GET],
            "_save": "Save",
        },
    )

    # Whatever the admin answers, no membership may end up holding another tenant's role.
    foreign_holdings = Membership.roles.through.objects.exclude(
        role__organization_id=F("membership__organization_id")
    )
    assert not foreign_holdings.exists()
