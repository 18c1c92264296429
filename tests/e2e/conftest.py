"""Headless Chromium driven by Playwright against the live test server.

Playwright cannot download its own browser build here, so the tests use the
system's Chromium: ``CHROMIUM_PATH``, or ``chromium`` on the PATH. Without one
the browser tests skip, unless ``REQUIRE_BROWSER=1`` (CI sets it), where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.pages import fold_nav_sidebar
from tests.workers import PROJECT_ROOT

VIEWPORT = {"width": 1280, "height": 800}
# The README's screenshots: a common laptop screen, one screen's worth each.
SCREENSHOT_VIEWPORT = {"width": 1366, "height": 768}
# Generous for a loaded CI machine; a passing step takes milliseconds.
TIMEOUT_MS = 15_000


def chromium_executable() -> str:
    """The Chromium binary to drive; skip, or fail under REQUIRE_BROWSER=1, when there is none."""
    configured = os.environ.get("CHROMIUM_PATH", "")
    if configured:
        if Path(configured).is_file():
            return configured
        reason = f"CHROMIUM_PATH={configured} is not a file"
    else:
        found = shutil.which("chromium")
        if found:
            return found
        reason = "no `chromium` on the PATH (apt-get install chromium, or set CHROMIUM_PATH)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests are required (REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(f"browser tests need Chromium: {reason}")


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for every browser test in this package."""
    executable = chromium_executable()
    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API keeps its own event loop registered as running
        # in this thread for as long as it is started. Django's async-safety
        # check only asks "is a loop running in this thread?", so the test's
        # own ORM calls (factories, the database flush between tests) would
        # raise SynchronousOnlyOperation although none of them runs inside a
        # coroutine. The flag is set for exactly the life of Playwright and
        # only for these tests. The server under test is not affected: it
        # answers the browser from the live server's own thread, where no loop
        # runs, so Django's check would pass there anyway. Driving Playwright
        # from a second thread instead would turn every browser step into a
        # cross-thread call and the tests into something no one can read.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=executable)
            yield launched
            launched.close()


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    """A fresh browser tab (no cookies) aimed at the live server, at a laptop's screen size."""
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def screenshot() -> Callable[[Page, str], None]:
    """Save what a 1366x768 screen shows of a page as ``<name>.png`` into ADMIN_SCREENSHOTS_DIR.

    Only when it is set (``make screenshots``); otherwise nothing is written.
    """
    folder = os.environ.get("ADMIN_SCREENSHOTS_DIR")

    def take(page: Page, name: str) -> None:
        if not folder:
            return
        page.set_viewport_size(SCREENSHOT_VIEWPORT)
        # So that the task list shows as many of its columns as the screen allows.
        fold_nav_sidebar(page)
        target = PROJECT_ROOT / folder
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=target / f"{name}.png", animations="disabled")

    return take
