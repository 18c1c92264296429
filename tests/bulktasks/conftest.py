"""Fixtures for the pipeline tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from bulktasks.actions import users_import
from users.models import Organization


@pytest.fixture
def acme(organization: Organization) -> Organization:
    """The organization the pipeline tests upload into (slug "acme")."""
    return organization


@pytest.fixture
def between_lookup_and_insert(monkeypatch) -> Callable[[Callable[[], None]], list[int]]:
    """Run a function once, right after the first lookup of known people and before any insert.

    Returns the list of lookups made, so that a test can see the chunk ran twice.
    """

    def install(interleave: Callable[[], None]) -> list[int]:
        original = users_import._people_known
        lookups: list[int] = []
        owner = threading.get_ident()

        def lookup(**kwargs: Any) -> Any:
            known = original(**kwargs)
            if threading.get_ident() == owner:
                lookups.append(len(known))
                if len(lookups) == 1:
                    interleave()
            return known

        monkeypatch.setattr(users_import, "_people_known", lookup)
        return lookups

    return install
