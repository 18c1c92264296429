"""The suite runs on the database DATABASE_URL names: the PostgreSQL leg is really PostgreSQL."""

from __future__ import annotations

import os

from django.db import connection


def test_the_suite_runs_on_the_configured_engine(db):
    expected = (
        "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    )

    assert connection.vendor == expected
