"""Steps and reads on admin pages, written as a person would do them."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect


def log_in(page: Page, email: str, password: str) -> None:
    """Fill in and send the admin's login form."""
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def field(page: Page, name: str) -> Locator:
    """The shown value of a read-only field on an admin change page."""
    return page.locator(f".form-row.field-{name} .readonly")


def table_rows(table: Locator) -> list[list[str]]:
    """The text of every body cell of a table, row by row."""
    return [
        [cell.strip() for cell in row.locator("td, th").all_inner_texts()]
        for row in table.locator("tbody tr").all()
    ]


def report_counts(page: Page) -> dict[str, str]:
    """The five counts at the head of a task page's report, as shown."""
    return {
        name: page.locator(f"#count-{name}").inner_text().strip()
        for name in ("items", "inserted", "updated", "skipped", "errored")
    }


def fold_nav_sidebar(page: Page) -> None:
    """Fold the admin's navigation sidebar away, as staff do on a laptop.

    The admin remembers the choice in the browser's local storage, so it stays
    folded on the tab's later pages.
    """
    if page.locator("#main.shifted").count():
        page.locator("#toggle-nav-sidebar").click()
        expect(page.locator("#main.shifted")).to_have_count(0)
