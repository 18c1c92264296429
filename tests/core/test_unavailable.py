"""Which exceptions mean a backing service is away (503) rather than a bug (500)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from kombu.exceptions import OperationalError as BrokerOperationalError

from core.unavailable import is_service_unavailable


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
        psycopg.OperationalError("connection failed: Connection refused"),
        psycopg.InterfaceError("the connection is closed"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.errors.CannotConnectNow("the database system is starting up"),
        BrokerOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    ],
)
def test_a_service_that_did_not_answer_is_unavailable(exc):
    assert is_service_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        IntegrityError("duplicate key value violates unique constraint"),
        ProgrammingError("column does not exist"),
        DatabaseError("generic"),
        psycopg.errors.UniqueViolation("duplicate key"),
        ValueError("a bug"),
        None,
    ],
)
def test_a_bug_or_a_refused_write_is_not(exc):
    assert not is_service_unavailable(exc)


def wrapped_sqlite_error(message: str) -> OperationalError:
    """An OperationalError as Django raises it from sqlite3, with the driver's error as cause."""
    try:
        try:
            raise sqlite3.OperationalError(message)
        except sqlite3.OperationalError as cause:
            raise OperationalError(message) from cause
    except OperationalError as exc:
        return exc


@pytest.mark.parametrize(
    ("message", "unavailable"),
    [
        ("database is locked", True),
        ("unable to open database file", True),
        ("no such table: bulktasks_bulktask", False),
        ("no such column: t.nothing", False),
    ],
)
def test_sqlite_schema_errors_are_bugs_and_a_locked_file_is_unavailable(message, unavailable):
    assert is_service_unavailable(wrapped_sqlite_error(message)) is unavailable
