"""Which exceptions mean that a backing service is away, rather than that the code is wrong."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

try:
    import psycopg
except ImportError:  # pragma: no cover - psycopg is a runtime dependency
    _DRIVER_ERRORS: tuple[type[Exception], ...] = ()
else:
    # Django wraps driver errors raised through its cursors; code that talks to
    # psycopg directly (COPY, a raw connection) can still let these through.
    _DRIVER_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)

# How long a client is asked to wait before trying again. A restarted database
# or broker is usually back within seconds; persistent connections reconnect on
# the next request.
RETRY_AFTER_SECONDS = 5

_UNAVAILABLE: tuple[type[Exception], ...] = (
    # The database refused a connection, dropped it mid-request, was shutting
    # down or restarting (SQLite: the file is locked or cannot be opened).
    OperationalError,
    InterfaceError,
    # The broker could not be reached after the publish retries.
    BrokerOperationalError,
    *_DRIVER_ERRORS,
)


# SQLite reports a missing table or column (a migration not applied, a bug) as
# an OperationalError too; those are errors of the code, not of availability.
_SQLITE_SCHEMA_ERRORS = ("no such table", "no such column", "syntax error")


def is_service_unavailable(exc: BaseException | None) -> bool:
    """True when the exception says a database or broker did not answer; the client may retry."""
    if not isinstance(exc, _UNAVAILABLE):
        return False
    cause = exc.__cause__
    if cause is not None and type(cause).__module__ == "sqlite3":
        return not str(cause).startswith(_SQLITE_SCHEMA_ERRORS)
    return True
