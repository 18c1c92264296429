"""A task's page as staff read it: the report in the first screen, following a running task.

The second test is driven by real Celery workers (``-m worker``): they process an
uploaded file chunk by chunk while the page, left alone, shows the count go up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from bulktasks import demo
from bulktasks.models import BulkTask, BulkTaskLine
from config.celery import app as celery_app
from tests.bulktasks.files import mixed_rows
from tests.e2e.pages import log_in, report_counts, table_rows
from tests.factories import DEFAULT_PASSWORD, BulkTaskFactory, BulkTaskLineFactory
from tests.workers import Worker, start_worker
from users.models import Organization, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHANGELIST = "/admin/bulktasks/bulktask/"
# A laptop's screen, the smallest staff are expected to read the admin on.
LAPTOP = {"width": 1366, "height": 768}


def change_page(task_id: str) -> str:
    return f"{CHANGELIST}{task_id}/change/"


def bottom(page: Page, selector: str) -> float:
    """Where an element ends, in pixels from the top of the viewport."""
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not displayed"
    return box["y"] + box["height"]


# --- The report first ----------------------------------------------------------------------


def test_the_report_and_the_first_errored_line_fit_the_first_screen_of_a_laptop(
    page: Page, staff: User
) -> None:
    demo.demo_seed()
    # The longest head a report has: a cancelled dry run, its error, every file link.
    cancelled = BulkTaskFactory(
        status=BulkTask.Status.FAILED,
        dry_run=True,
        scanned_at=timezone.now(),
        cancelled_at=timezone.now(),
        error="Cancelled by ops@acme.example",
        file_key="tasks/people.csv",
        num_items=5000,
        num_inserts=1200,
        num_updates=40,
        num_skips=3,
        num_errors=75,
    )
    BulkTaskLine.objects.bulk_create(
        BulkTaskLineFactory.build(
            task=cancelled, line=line, reason=f"email: duplicate of line {line - 1}"
        )
        for line in range(10, 85)
    )
    page.set_viewport_size(LAPTOP)
    log_in(page, staff.email, DEFAULT_PASSWORD)

    for task_id, status, errored, first_line in [
        (demo.COMPLETED_TASK_ID, "Completed", "3", ["5", "email: duplicate of line 3"]),
        (cancelled.pk, "Failed", "75", ["10", "email: duplicate of line 9"]),
    ]:
        page.goto(change_page(task_id))

        expect(page.locator("#task-status")).to_have_text(status)
        assert report_counts(page)["errored"] == errored
        assert table_rows(page.locator("#errored-lines"))[0] == first_line
        assert page.evaluate("window.scrollY") == 0
        if status == "Completed":
            # No error, no empty error box; the finished notice is for a page that saw it finish.
            expect(page.locator("#task-error")).to_be_hidden()
            expect(page.locator("#task-finished-notice")).to_be_hidden()
        for part in ("#task-status", "#task-counts", "#errored-lines tbody tr:first-child"):
            assert bottom(page, part) <= LAPTOP["height"], f"{part} is below the first screen"
    expect(page.locator("#task-error")).to_have_text("Cancelled by ops@acme.example")
    expect(page.locator("#task-dry-run")).to_be_visible()
    expect(page.locator("#task-files")).to_contain_text("errors.csv")
    assert bottom(page, "#task-error") <= LAPTOP["height"]
    # The details are folded: their fields take no room until opened.
    expect(page.locator(".field-file_checksum")).to_be_hidden()
    page.locator("summary", has_text="File").click()
    expect(page.locator(".field-file_checksum")).to_be_visible()


# --- Following a running task --------------------------------------------------------------

LINES = 5000
CHUNK_SIZE = 25


@pytest.fixture
def slow_workers(tmp_path, settings) -> Iterator[list[Worker]]:
    """Two real workers that cut files into small chunks, so a task runs for several seconds."""
    settings.BULK_TASK_CHUNK_SIZE = CHUNK_SIZE
    celery_app.control.purge()
    started = [
        start_worker(tmp_path, name, BULK_TASK_CHUNK_SIZE=CHUNK_SIZE) for name in ("one", "two")
    ]
    yield started
    for worker in started:
        worker.stop()
    celery_app.control.purge()


# Records every number the page shows as processed, as the page's own script
# writes it; and a marker that a reload or a navigation would wipe.
WATCH_PROCESSED = """() => {
    window.stillTheSamePage = true;
    window.processedSeen = [document.getElementById("task-processed").textContent];
    new MutationObserver(() => {
        window.processedSeen.push(document.getElementById("task-processed").textContent);
    }).observe(document.getElementById("task-processed"), {childList: true, characterData: true, subtree: true});
}"""


@pytest.mark.worker
def test_a_running_task_page_counts_up_on_its_own_until_the_workers_complete_it(
    page: Page, staff: User, organization: Organization, slow_workers: list[Worker]
) -> None:
    upload = ("email,firstName,lastName\n" + "\n".join(mixed_rows(LINES)) + "\n").encode()
    log_in(page, staff.email, DEFAULT_PASSWORD)
    page.goto(f"{CHANGELIST}upload/")
    page.get_by_label("Organization").select_option(label=organization.slug)
    page.get_by_label("Action").select_option("users.import")
    page.get_by_label("File").set_input_files(
        {"name": "people.csv", "mimeType": "text/csv", "buffer": upload}
    )
    page.get_by_role("button", name="Upload and start").click()

    # The upload lands on the new task's page, before the workers are through.
    expect(page).to_have_url(re.compile(rf"{CHANGELIST}[0-9a-f]{{24}}/change/$"))
    task_id = re.search(r"/([0-9a-f]{24})/change/", page.url).group(1)  # type: ignore[union-attr]
    expect(page.locator("#task-status")).to_have_text(re.compile("Pending|In progress"))
    page.evaluate(WATCH_PROCESSED)

    expect(page.locator("#task-status")).to_have_text("Completed", timeout=180_000)

    assert page.evaluate("window.stillTheSamePage") is True
    seen = [
        int(text.replace(",", ""))
        for text in page.evaluate("window.processedSeen")
        if text.replace(",", "").isdigit()
    ]
    assert seen == sorted(seen), f"the processed count went down: {seen}"
    assert any(0 < count < LINES for count in seen), f"no count between 0 and {LINES}: {seen}"
    assert seen[-1] == LINES
    expect(page.locator("#task-total")).to_have_text(f"{LINES:,}")
    expect(page.locator("#task-finished-notice")).to_be_visible()
    expect(page.locator("#cancel-task")).to_have_count(0)
    task = BulkTask.objects.get(pk=task_id)
    assert task.status == BulkTask.Status.COMPLETED
    assert report_counts(page) == {
        "items": f"{task.num_items:,}",
        "inserted": f"{task.num_inserts:,}",
        "updated": f"{task.num_updates:,}",
        "skipped": f"{task.num_skips:,}",
        "errored": f"{task.num_errors:,}",
    }
    assert task.num_errors > 0
    # The line tables quote the new totals too; their rows come with a reload.
    expect(page.locator('#errored-lines-title [data-count="errored"]')).to_have_text(
        str(task.num_errors)
    )
    # The reload the notice offers brings the lines the workers recorded.
    page.locator("#task-finished-notice a").click()
    expect(page.locator("#errored-lines tbody tr").first).to_contain_text("email: ")
