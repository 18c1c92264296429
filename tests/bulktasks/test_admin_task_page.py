"""The task page's report: the progress document its script polls, the lines' pages, the
folded details."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bulktasks.admin import ADMIN_REPORT_LINES
from bulktasks.models import BulkTask, BulkTaskLine
from tests.factories import BulkTaskFactory, BulkTaskLineFactory, OrganizationFactory, UserFactory
from users.models import User

pytestmark = pytest.mark.django_db


def change_url(task: BulkTask) -> str:
    return f"/admin/bulktasks/bulktask/{task.pk}/change/"


def progress_url(task_id: str) -> str:
    return f"/admin/bulktasks/bulktask/{task_id}/progress.json"


def table_lines(html: str, table_id: str) -> list[int]:
    """The line numbers one report table shows, in page order."""
    match = re.search(rf'<table id="{table_id}"[^>]*>(.*?)</table>', html, re.S)
    assert match is not None, f"no table with id {table_id!r} on the page"
    return [int(line) for line in re.findall(r"<tr><td>(\d+)</td>", match.group(1))]


def page_link(html: str, table: str, rel: str) -> str | None:
    """The href of one pager link (rel first, prev or next) under a table, or None."""
    nav = re.search(
        rf'<nav class="task-lines-pages" id="{table}-pages"[^>]*>(.*?)</nav>', html, re.S
    )
    if nav is None:
        return None
    link = re.search(rf'<a href="([^"]*)" rel="{rel}">', nav.group(1))
    return unescape(link.group(1)) if link else None


def staff_with(*codenames: str) -> User:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return staff


def errored_task(count: int, **fields: object) -> BulkTask:
    """A completed task whose errored lines are lines 2 .. count + 1, each with its own reason."""
    task = BulkTaskFactory(status=BulkTask.Status.COMPLETED, num_errors=count, **fields)
    BulkTaskLine.objects.bulk_create(
        BulkTaskLineFactory.build(task=task, line=line, reason=f"reason {line}")
        for line in range(2, count + 2)
    )
    return task


# --- progress.json ----------------------------------------------------------------------------


def test_progress_of_a_running_task_has_its_status_counts_and_processed_out_of_total(
    staff_client: Client,
) -> None:
    task = BulkTaskFactory(
        status=BulkTask.Status.IN_PROGRESS,
        scanned_at=timezone.now(),
        num_items=100,
        num_inserts=30,
        num_updates=5,
        num_skips=3,
        num_errors=2,
    )

    response = staff_client.get(progress_url(task.pk))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    assert response.json() == {
        "id": task.pk,
        "status": "inProgress",
        "status_display": "In progress",
        "is_finished": False,
        "processed": 40,
        "total": 100,
        "counts": {"items": 100, "inserted": 30, "updated": 5, "skipped": 3, "errored": 2},
        "error": "",
    }


def test_progress_of_a_task_not_yet_read_through_has_no_total(staff_client: Client) -> None:
    task = BulkTaskFactory(status=BulkTask.Status.PENDING, scanned_at=None)

    data = staff_client.get(progress_url(task.pk)).json()

    assert (data["status"], data["processed"], data["total"], data["is_finished"]) == (
        "pending",
        0,
        None,
        False,
    )


def test_progress_of_a_cancelled_task_is_finished_and_says_who_cancelled_it(
    staff_client: Client,
) -> None:
    task = BulkTaskFactory(
        status=BulkTask.Status.FAILED,
        error="Cancelled by ops@acme.example",
        cancelled_at=timezone.now(),
    )

    data = staff_client.get(progress_url(task.pk)).json()

    assert (data["status_display"], data["is_finished"], data["error"]) == (
        "Failed",
        True,
        "Cancelled by ops@acme.example",
    )


def test_progress_sends_anyone_not_staff_to_the_login_page(client: Client) -> None:
    task = BulkTaskFactory()
    anonymous = client.get(progress_url(task.pk))
    client.force_login(UserFactory(is_staff=False))
    member = client.get(progress_url(task.pk))

    for response in (anonymous, member):
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")


def test_progress_is_403_for_staff_without_the_view_permission(client: Client) -> None:
    task = BulkTaskFactory()
    client.force_login(staff_with("download_bulktask_file"))

    assert client.get(progress_url(task.pk)).status_code == 403


def test_progress_is_404_for_an_unknown_or_malformed_task_id(staff_client: Client) -> None:
    assert staff_client.get(progress_url("0" * 24)).status_code == 404
    assert staff_client.get(progress_url("not-an-id")).status_code == 404


def test_progress_shows_staff_with_the_view_permission_a_task_of_any_organization(
    client: Client,
) -> None:
    tasks = [BulkTaskFactory(organization=OrganizationFactory()) for _ in range(2)]
    client.force_login(staff_with("view_bulktask"))

    assert [client.get(progress_url(task.pk)).json()["id"] for task in tasks] == [
        task.pk for task in tasks
    ]


# --- The report first -------------------------------------------------------------------------


def test_the_report_comes_before_the_details_which_start_folded(staff_client: Client) -> None:
    task = errored_task(3, column_mapping={"E-mail": "email"}, file_original_name="people.csv")

    content = staff_client.get(change_url(task)).content.decode()

    report = content.index('id="task-report"')
    errored = content.index('id="errored-lines"')
    details = content.index("<details")
    assert report < errored < details
    folded = re.findall(r"<details>\s*<summary>(.*?)</summary>", content, re.S)
    assert [re.sub(r"<[^>]+>", "", title).strip() for title in folded] == [
        "Column mapping",
        "File",
        "Processing",
        "Result",
    ]
    for field in ("file_checksum", "lease_owner", "result_key", "columns"):
        assert content.index(f"field-{field}") > details
    head = content[report:errored]
    for count_id in ("items", "inserted", "updated", "skipped", "errored"):
        assert f'id="count-{count_id}"' in head
    assert 'id="task-status"' in head
    assert "Completed" in head


def test_the_report_shows_the_error_of_a_cancelled_task_and_no_cancel_button(
    staff_client: Client,
) -> None:
    task = BulkTaskFactory(
        status=BulkTask.Status.FAILED,
        error="Cancelled by ops@acme.example",
        cancelled_at=timezone.now(),
    )

    content = staff_client.get(change_url(task)).content.decode()

    assert re.search(r'id="task-error"[^>]*>Cancelled by ops@acme.example</p>', content)
    assert 'id="cancel-task"' not in content
    assert 'data-finished="true"' in content


def test_a_running_task_page_loads_the_progress_script_that_polls_its_progress_url(
    staff_client: Client,
) -> None:
    task = BulkTaskFactory(status=BulkTask.Status.IN_PROGRESS)

    content = staff_client.get(change_url(task)).content.decode()

    assert '<script src="/static/bulktasks/admin/task_progress.js" defer></script>' in content
    assert f'data-progress-url="{progress_url(task.pk)}"' in content
    assert 'data-finished="false"' in content
    assert 'id="cancel-task"' in content
    # The script is an app static file: the development server and collectstatic find it.
    assert finders.find("bulktasks/admin/task_progress.js")
    assert finders.find("bulktasks/admin/task_page.css")


# --- The lines, a page at a time --------------------------------------------------------------


def test_next_leads_to_the_51st_to_100th_errored_lines_and_previous_back(
    staff_client: Client,
) -> None:
    task = errored_task(120)

    first = staff_client.get(change_url(task)).content.decode()
    assert table_lines(first, "errored-lines") == list(range(2, 52))
    assert page_link(first, "errored", "prev") is None
    next_link = page_link(first, "errored", "next")
    assert next_link == "?errored_after=51"

    second = staff_client.get(change_url(task) + next_link).content.decode()
    # The 51st errored line is line 52: lines start at 2 below a header.
    assert table_lines(second, "errored-lines") == list(range(52, 102))
    previous_link = page_link(second, "errored", "prev")
    assert previous_link == "?errored_before=52"

    third = staff_client.get(change_url(task) + page_link(second, "errored", "next")).content
    assert table_lines(third.decode(), "errored-lines") == list(range(102, 122))
    assert page_link(third.decode(), "errored", "next") is None

    back = staff_client.get(change_url(task) + previous_link).content.decode()
    assert table_lines(back, "errored-lines") == list(range(2, 52))
    assert page_link(back, "errored", "prev") is None


def test_paging_one_table_keeps_the_page_of_the_other(staff_client: Client) -> None:
    task = errored_task(60, num_skips=70)
    BulkTaskLine.objects.bulk_create(
        BulkTaskLineFactory.build(
            task=task, kind=BulkTaskLine.Kind.SKIPPED, line=line, reason="already a member"
        )
        for line in range(1000, 1070)
    )

    content = staff_client.get(
        change_url(task), {"skipped_after": "1049", "errored_after": "51"}
    ).content.decode()

    assert table_lines(content, "skipped-lines") == list(range(1050, 1070))
    assert table_lines(content, "errored-lines") == list(range(52, 62))
    previous = page_link(content, "errored", "prev")
    assert previous is not None
    assert "skipped_after=1049" in previous
    assert "errored_before=52" in previous


def test_a_page_past_the_last_line_is_empty_and_leads_back(staff_client: Client) -> None:
    task = errored_task(120)

    response = staff_client.get(change_url(task), {"errored_after": "99999"})

    assert response.status_code == 200
    content = response.content.decode()
    assert table_lines(content, "errored-lines") == []
    assert "No errored lines on this page." in content
    assert page_link(content, "errored", "next") is None
    assert page_link(content, "errored", "first") == "?"
    last = staff_client.get(change_url(task) + page_link(content, "errored", "prev")).content
    assert table_lines(last.decode(), "errored-lines") == list(range(72, 122))


@pytest.mark.parametrize("cursor", ["abc", "-5", "0", "1e9", "99999999999999", "\u00b2", "\u0663"])
def test_a_malformed_cursor_shows_the_first_page(staff_client: Client, cursor: str) -> None:
    task = errored_task(60)

    response = staff_client.get(change_url(task), {"errored_after": cursor})

    assert response.status_code == 200
    assert table_lines(response.content.decode(), "errored-lines") == list(range(2, 52))


def test_a_page_of_lines_costs_the_same_queries_for_a_short_and_a_long_report(
    staff_client: Client,
) -> None:
    def page_queries(task: BulkTask) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.get(change_url(task), {"errored_after": "51"})
        assert response.status_code == 200
        assert len(table_lines(response.content.decode(), "errored-lines")) == ADMIN_REPORT_LINES
        return [query["sql"] for query in queries.captured_queries]

    short = page_queries(errored_task(150))
    long = page_queries(errored_task(3000))

    assert len(long) == len(short)
    lines_table = BulkTaskLine._meta.db_table
    line_reads = [sql for sql in long if lines_table in sql]
    # The page (LIMIT 51) and one probe for a page before it; never a COUNT nor an OFFSET.
    assert len(line_reads) == 2
    assert all("LIMIT" in sql and "OFFSET" not in sql for sql in line_reads)
    assert not any("COUNT(" in sql.upper() and lines_table in sql for sql in long)


def test_a_page_before_the_first_line_is_the_first_page(staff_client: Client) -> None:
    task = errored_task(60)

    content = staff_client.get(change_url(task), {"errored_before": "2"}).content.decode()

    assert table_lines(content, "errored-lines") == list(range(2, 52))
    assert page_link(content, "errored", "prev") is None
    assert page_link(content, "errored", "next") == "?errored_after=51"
