"""Readiness checks: can this process reach its database and its Celery broker right now?"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from config.celery import app as celery_app

logger = logging.getLogger(__name__)

_FILESYSTEM_FOLDERS = ("data_folder_in", "data_folder_out", "control_folder")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: whether it passed, and how long it took."""

    name: str
    ok: bool
    duration_ms: float


def health_database_check() -> None:
    """Run a trivial query on the default database; raise if it cannot answer."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def health_broker_check(*, timeout: float) -> None:
    """Connect to the Celery broker within ``timeout`` seconds; raise if it cannot be reached.

    For the embedded ``filesystem://`` broker there is nothing to connect to:
    its folders must exist and take a new file instead.
    """
    # A connection of its own (Celery copies the transport options into it), so
    # the short timeouts below apply to this probe only.
    with celery_app.connection_for_write(connect_timeout=timeout) as broker:
        driver = broker.transport.driver_type
        if driver == "filesystem":
            for key in _FILESYSTEM_FOLDERS:
                _folder_writable(broker.transport_options[key])
            return
        if driver == "redis":
            # Read when the channel opens; py-amqp would refuse these options.
            broker.transport_options.update(socket_connect_timeout=timeout, socket_timeout=timeout)
        # No retries: a probe asks about now, and the orchestrator asks again soon.
        broker.ensure_connection(max_retries=0, timeout=timeout)


def health_readiness_checks() -> list[CheckResult]:
    """Run every readiness check; a failure is logged with its cause, never raised."""
    timeout = float(settings.HEALTH_CHECK_TIMEOUT)
    checks: list[tuple[str, Callable[[], None]]] = [
        ("database", health_database_check),
        ("broker", lambda: health_broker_check(timeout=timeout)),
    ]
    return [_run(name, check) for name, check in checks]


def _run(name: str, check: Callable[[], None]) -> CheckResult:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # any failure, whatever its type, means "not ready"
        logger.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
        ok = False
    else:
        ok = True
    return CheckResult(name, ok, round((time.perf_counter() - started) * 1000, 2))


def _folder_writable(folder: str) -> None:
    """Create and remove a file in ``folder``, as the transport will when a task is sent."""
    if not os.path.isdir(folder):
        raise NotADirectoryError(folder)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".readyz-"):
        pass
