"""Which exceptions mean a backing service is away (503) rather than a bug (500)."""

from __future__ import annotations

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
