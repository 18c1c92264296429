"""The pages the README shows, on the demo data of ``make run``: each opens and says what it is.

``make screenshots`` runs this module with ADMIN_SCREENSHOTS_DIR=docs/img and
saves each page as the README names it; an ordinary run checks the pages and
writes no file. The checks read URLs, headings and the demo's own text only, so
that they hold however the admin's pages are laid out.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from bulktasks import demo
from tests.e2e.conftest import SCREENSHOT_VIEWPORT
from tests.e2e.pages import fold_nav_sidebar, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHANGELIST = "/admin/bulktasks/bulktask/"


@pytest.fixture
def staff_page(page: Page) -> Page:
    """A laptop-sized tab logged in to the admin as the demo's staff member, on the demo data."""
    demo.demo_seed()
    page.set_viewport_size(SCREENSHOT_VIEWPORT)
    log_in(page, demo.ADMIN_EMAIL, demo.ADMIN_PASSWORD)
    expect(page).to_have_url(re.compile(r"/admin/$"))
    page.goto(CHANGELIST)
    fold_nav_sidebar(page)
    return page


def task_page(page: Page, task_id: str) -> None:
    page.goto(f"{CHANGELIST}{task_id}/change/")
    expect(page).to_have_url(re.compile(rf"{CHANGELIST}{task_id}/change/$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_the_admin_index(staff_page: Page, screenshot: Callable[[Page, str], None]) -> None:
    staff_page.goto("/admin/")

    expect(staff_page.get_by_role("heading", level=1)).to_be_visible()
    expect(staff_page.locator(f'a[href="{CHANGELIST}"]').first).to_be_visible()
    screenshot(staff_page, "admin-dashboard")


def test_the_task_list_shows_a_task_in_every_status(
    staff_page: Page, screenshot: Callable[[Page, str], None]
) -> None:
    staff_page.goto(CHANGELIST)

    expect(staff_page.get_by_role("heading", level=1)).to_be_visible()
    for name in ("new-hires.csv", "contractors.csv", "team.csv", "export.csv"):
        expect(staff_page.get_by_text(name, exact=True).first).to_be_visible()
    for status in ("Pending", "In progress", "Completed", "Failed"):
        expect(staff_page.get_by_text(status, exact=True).first).to_be_attached()
    screenshot(staff_page, "admin-task-list")


def test_the_page_of_a_task_in_progress(
    staff_page: Page, screenshot: Callable[[Page, str], None]
) -> None:
    task_page(staff_page, demo.IN_PROGRESS_TASK_ID)

    expect(staff_page.get_by_text("contractors.csv").first).to_be_visible()
    expect(staff_page.get_by_text("In progress", exact=True).first).to_be_visible()
    screenshot(staff_page, "admin-task-page-in-progress")


def test_the_page_of_a_completed_task_with_its_errored_lines(
    staff_page: Page, screenshot: Callable[[Page, str], None]
) -> None:
    task_page(staff_page, demo.COMPLETED_TASK_ID)

    expect(staff_page.get_by_text("team.csv").first).to_be_visible()
    errored = staff_page.get_by_text("email: 'not-an-email' is not a valid e-mail address")
    # The report comes first: the errored lines are on the first screen, unscrolled.
    expect(errored).to_be_in_viewport()
    screenshot(staff_page, "admin-task-page-completed")


def test_swagger_ui(page: Page, screenshot: Callable[[Page, str], None]) -> None:
    page.set_viewport_size(SCREENSHOT_VIEWPORT)
    page.goto("/v1/docs/")

    expect(page.get_by_role("heading", name=re.compile(r"^Bulk Tasks Service API"))).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    screenshot(page, "swagger-ui")
