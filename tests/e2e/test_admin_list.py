"""The task list and the dashboard on a laptop's screen: everything fits, nothing scrolls sideways."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from bulktasks import demo
from bulktasks.models import BulkTask
from tests.e2e.pages import log_in
from tests.factories import BulkTaskFactory, OrganizationFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHANGELIST = "/admin/bulktasks/bulktask/"
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
def busy_list() -> None:
    """The demo's tasks, and more of every kind with the longest names staff meet."""
    demo.demo_seed()
    now = dt.datetime.now(dt.UTC)
    holding = OrganizationFactory(
        slug="international-holding",
        name="The International Consolidated Holding Company of Northern Territories Ltd.",
    )
    creator = UserFactory(
        email="firstname.middlename.lastname-consultant@subsidiary.international-holding.example"
    )
    long_name = "2026-Q4 quarterly roster of every contractor in every region (final, v7).csv"
    kinds: list[dict[str, object]] = [
        {"status": BulkTask.Status.PENDING},
        {"status": BulkTask.Status.IN_PROGRESS},  # scanning
        {"status": BulkTask.Status.IN_PROGRESS, "scanned_at": now, "num_items": 1_200_000,
         "num_inserts": 840_000, "num_updates": 12_345, "num_skips": 6_789, "num_errors": 12_001},
        {"status": BulkTask.Status.COMPLETED, "scanned_at": now, "num_items": 1_000_000,
         "num_inserts": 999_000, "num_updates": 500, "num_skips": 250, "num_errors": 250,
         "dry_run": True},
        {"status": BulkTask.Status.FAILED, "cancelled_at": now, "scanned_at": now,
         "num_items": 50_000, "num_inserts": 1_000},
        {"status": BulkTask.Status.FAILED, "error": "unreadable file"},
        {"status": BulkTask.Status.IN_PROGRESS, "action": "users.export", "result_format": "xlsx",
         "scanned_at": now, "num_items": 123_456, "file_original_name": ""},
        {"status": BulkTask.Status.COMPLETED, "action": "users.deactivate", "scanned_at": now,
         "num_items": 3, "num_updates": 3},
    ]  # fmt: skip
    for fields in kinds:
        BulkTaskFactory(
            organization=holding,
            created_by=creator,
            **{"file_original_name": long_name, **fields},
        )


def no_sideways_scroll(page: Page) -> dict[str, int]:
    """The page's and the results table's widths against what they are given."""
    return page.evaluate(
        """() => {
            const table = document.querySelector('#result_list');
            const container = table.closest('.results');
            return {
                page: document.documentElement.scrollWidth,
                viewport: document.documentElement.clientWidth,
                table: table.scrollWidth,
                container: container.clientWidth,
            };
        }"""
    )


def test_the_task_list_fits_a_1366_pixel_screen_without_scrolling_sideways(
    page: Page, busy_list: None, screenshot: Callable[[Page, str], None]
) -> None:
    page.set_viewport_size(LAPTOP)
    log_in(page, demo.ADMIN_EMAIL, demo.ADMIN_PASSWORD)
    page.goto(CHANGELIST)

    expect(page.locator("#result_list tbody tr")).to_have_count(13)
    widths = no_sideways_scroll(page)
    assert widths["page"] <= widths["viewport"], widths
    assert widths["table"] <= widths["container"], widths
    # Every column is on screen, the last one whole.
    last_header = page.locator("#result_list thead th").last
    box = last_header.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= LAPTOP["width"]
    expect(last_header).to_have_text("Created")
    running = page.locator("#result_list tbody tr", has_text="1,200,000")
    expect(running.locator(".field-progress")).to_have_text("871,135 / 1,200,000")
    expect(running.locator(".field-status_badge")).to_have_text("In progress")
    cancelled = page.locator("#result_list tbody tr", has_text="Cancelled")
    expect(cancelled.locator(".task-badge--cancelled")).to_be_visible()
    screenshot(page, "admin-task-list-1366")


def test_the_dashboard_shows_the_last_24_hours_above_the_apps(
    page: Page, busy_list: None, screenshot: Callable[[Page, str], None]
) -> None:
    page.set_viewport_size(LAPTOP)
    log_in(page, demo.ADMIN_EMAIL, demo.ADMIN_PASSWORD)

    dashboard = page.locator("#task-dashboard")
    expect(dashboard.get_by_role("heading", name="Bulk tasks, last 24 hours")).to_be_visible()
    expect(dashboard.locator("#dashboard-statuses h3")).to_have_text("Tasks created: 13")
    expect(dashboard.locator("#dashboard-errors li").first).to_contain_text("12,251")
    expect(page.locator("#bulktasks-bulktask")).to_be_visible()  # the app list is kept
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= LAPTOP["width"]
    screenshot(page, "admin-dashboard")

    dashboard.locator("#dashboard-errors li").first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"\?organization__id__exact=[0-9a-f]{24}&created_at__gte="))
    expect(page.locator("#result_list tbody tr")).to_have_count(8)
