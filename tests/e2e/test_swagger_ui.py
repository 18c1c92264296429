"""Swagger UI at /v1/docs/ as a newcomer opens it on a laptop: operations on the first screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1366, "height": 768}


def test_the_first_operation_shows_without_scrolling_and_the_catalog_sits_below(page: Page):
    page.set_viewport_size(LAPTOP)
    page.goto("/v1/docs/")

    first_operation = page.locator(".opblock").first
    expect(first_operation).to_be_visible()
    box = first_operation.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= LAPTOP["height"]

    # The error catalog is in the Error schema, under Schemas after every operation.
    catalog = page.locator("#model-Error")
    expect(catalog).to_be_attached()
    last_operation = page.locator(".opblock").last.bounding_box()
    catalog_box = catalog.bounding_box()
    assert last_operation is not None
    assert catalog_box is not None
    assert catalog_box["y"] > last_operation["y"]
    catalog.locator(".model-box-control").first.click()
    expect(catalog.get_by_text("Invalid Token")).to_be_visible()
