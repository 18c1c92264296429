"""Fixtures for the pipeline tests."""

from __future__ import annotations

import pytest

from users.models import Organization


@pytest.fixture
def acme(organization: Organization) -> Organization:
    """The organization the pipeline tests upload into (slug "acme")."""
    return organization
