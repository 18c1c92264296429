"""The Django admin as staff use it: a real browser against the live test server.

Covers logging in through the form, filtering the task list, reading a task's
errored lines, starting a task by uploading a file and watching a real worker
finish it, and an ordinary member being turned away.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from bulktasks import demo
from bulktasks.models import BulkTask
from config.celery import app as celery_app
from tests.e2e.pages import field, log_in, report_counts, table_rows
from tests.factories import DEFAULT_PASSWORD
from tests.workers import Worker, start_worker, wait_for
from users import catalog
from users.models import Organization, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHANGELIST = "/admin/bulktasks/bulktask/"
STAFF_LOGIN_ERROR = (
    "Please enter the correct email and password for a staff account. "
    "Note that both fields may be case-sensitive."
)


@pytest.fixture
def demo_data() -> demo.DemoData:
    """The data `make run` seeds: the list and task page look as a newcomer first sees them."""
    return demo.demo_seed()


def result_rows(page: Page, count: int) -> list[dict[str, str]]:
    """The task list's rows, once it shows ``count``, as {column: text} for the columns read."""
    body_rows = page.locator("#result_list tbody tr")
    expect(body_rows).to_have_count(count)
    cells = {
        "id": ".field-id",
        "status": ".field-status_badge",
        "file": ".field-task .task-file",
        "counts": ".field-counts",
    }
    return [
        {name: row.locator(selector).inner_text().strip() for name, selector in cells.items()}
        for row in body_rows.all()
    ]


# --- Logging in ----------------------------------------------------------------------------


def test_staff_log_in_through_the_login_form_and_reach_the_bulk_tasks(
    page: Page, staff: User
) -> None:
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))

    log_in(page, staff.email, DEFAULT_PASSWORD)

    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    expect(page.locator("#user-tools")).to_contain_text(f"Welcome, {staff.first_name}")
    page.locator("#bulktasks-bulktask").get_by_role("link", name="Bulk tasks").click()
    expect(page).to_have_url(re.compile(rf"{CHANGELIST}$"))
    expect(page.get_by_role("link", name="Upload a file")).to_be_visible()


def test_a_member_who_is_not_staff_is_refused_with_the_login_form_and_its_error(
    page: Page, organization: Organization, make_member: Callable[..., User]
) -> None:
    member = make_member(organization, [catalog.BULK_TASK_GET, catalog.BULK_TASK_CREATE])

    # The right password for an active account: the admin still says no.
    log_in(page, member.email, DEFAULT_PASSWORD)

    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.locator(".errornote")).to_have_text(STAFF_LOGIN_ERROR)
    for path in ("/admin/", CHANGELIST, "/admin/bulktasks/bulktask/upload/"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
        expect(page.locator("#user-tools")).to_have_count(0)
    expect(page.locator("#result_list")).to_have_count(0)


# --- Browsing tasks ------------------------------------------------------------------------


def test_filtering_the_task_list_by_status_shows_only_those_tasks(
    page: Page, demo_data: demo.DemoData
) -> None:
    log_in(page, demo.ADMIN_EMAIL, demo.ADMIN_PASSWORD)
    page.goto(CHANGELIST)
    every_status = {row["status"] for row in result_rows(page, 5)}
    assert every_status == {"Pending", "In progress", "Completed", "Failed"}

    status_filter = page.locator('#changelist-filter details[data-filter-title="status"]')
    status_filter.get_by_role("link", name="Completed", exact=True).click()

    expect(page).to_have_url(re.compile(r"[?&]status__exact=completed"))
    expect(status_filter.locator("li.selected")).to_have_text("Completed")
    rows = result_rows(page, 2)
    assert {row["id"] for row in rows} == {demo.COMPLETED_TASK_ID, demo.OTHER_TASK_ID}
    assert {row["status"] for row in rows} == {"Completed"}
    assert {row["file"] for row in rows} == {"team.csv", "globex-staff.csv"}

    status_filter.get_by_role("link", name="Failed", exact=True).click()

    expect(page).to_have_url(re.compile(r"[?&]status__exact=failed"))
    assert [(row["id"], row["status"]) for row in result_rows(page, 1)] == [
        (demo.FAILED_TASK_ID, "Failed")
    ]


def test_a_task_page_shows_the_line_number_and_reason_of_each_errored_line(
    page: Page, demo_data: demo.DemoData
) -> None:
    log_in(page, demo.ADMIN_EMAIL, demo.ADMIN_PASSWORD)
    page.goto(CHANGELIST)

    team_row = page.locator("#result_list tbody tr", has_text="team.csv")
    team_row.get_by_role("link", name=demo.COMPLETED_TASK_ID).click()

    expect(page).to_have_url(re.compile(rf"{CHANGELIST}{demo.COMPLETED_TASK_ID}/change/$"))
    expect(page.locator("#task-status")).to_have_text("Completed")
    expect(page.locator("#count-errored")).to_have_text("3")
    expect(page.locator("#report-lines")).to_contain_text("1 skipped and 3 errored lines in all")
    assert table_rows(page.locator("#errored-lines")) == [
        ["5", "email: duplicate of line 3"],
        ["8", "email: 'not-an-email' is not a valid e-mail address"],
        ["10", "email: duplicate of line 4"],
    ]
    assert table_rows(page.locator("#skipped-lines")) == [["2", "already a member"]]


# --- Starting a task -----------------------------------------------------------------------


@pytest.fixture
def worker(tmp_path) -> Iterator[Worker]:
    """A real Celery worker process on the configured broker, reading the test database."""
    celery_app.control.purge()  # no message left over from an earlier run
    started = start_worker(tmp_path, "admin-e2e")
    yield started
    started.stop()
    celery_app.control.purge()


UPLOAD = (
    b"email,firstName,lastName\n"
    b"ana@example.com,Ana,Lima\n"
    b"not-an-email,Bad,Line\n"
    b"ana@example.com,Ana,Again\n"
    b"ben@example.com,Ben,Stone\n"
)


@pytest.mark.worker
def test_uploading_a_csv_starts_a_task_that_a_worker_completes(
    page: Page, staff: User, organization: Organization, worker: Worker
) -> None:
    # The upload goes through the real path end to end: the admin view queues
    # the task on the broker after its transaction commits, and a separate
    # worker process (as in production, and as `make run` starts one) takes
    # it from the queue and processes it against the same test database. An
    # eager Celery would run the task inside the upload request instead, and
    # so would hide a task that is never queued, or queued before the row it
    # names is committed.
    log_in(page, staff.email, DEFAULT_PASSWORD)
    page.goto(CHANGELIST)
    page.get_by_role("link", name="Upload a file").click()

    expect(page.get_by_role("heading", name="Start a bulk task")).to_be_visible()
    page.get_by_label("Organization").select_option(label=organization.slug)
    page.get_by_label("Action").select_option("users.import")
    page.get_by_label("File").set_input_files(
        {"name": "people.csv", "mimeType": "text/csv", "buffer": UPLOAD}
    )
    page.get_by_role("button", name="Upload and start").click()

    expect(page).to_have_url(re.compile(rf"{CHANGELIST}[0-9a-f]{{24}}/change/$"))
    task_id = re.search(r"/([0-9a-f]{24})/change/", page.url).group(1)  # type: ignore[union-attr]
    expect(page.locator(".messagelist")).to_have_text(
        f"Task {task_id} created; processing starts shortly."
    )
    expect(field(page, "file_original_name")).to_have_text("people.csv")
    expect(field(page, "created_by")).to_have_text(staff.email)

    def completed_after_reload() -> bool:
        page.reload()
        return page.locator("#task-status").inner_text().strip() == "Completed"

    # What a person does while the worker runs: reload the page now and then.
    wait_for(completed_after_reload, timeout=60, interval=0.25)

    assert report_counts(page) == {
        "items": "4",
        "inserted": "2",
        "updated": "0",
        "skipped": "0",
        "errored": "2",
    }
    assert table_rows(page.locator("#errored-lines")) == [
        ["3", "email: 'not-an-email' is not a valid e-mail address"],
        ["4", "email: duplicate of line 2"],
    ]
    task = BulkTask.objects.get(pk=task_id)
    assert task.organization == organization
    assert task.created_by == staff
    assert task.attempts == 1
    # Nothing in this process processes tasks: the worker's log shows it ran this one.
    assert re.search(
        r"Task bulktasks\.tasks\.process_bulk_task\[[-0-9a-f]+\] succeeded", worker.log()
    )
