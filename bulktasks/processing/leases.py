"""Leases: how long a worker holds a scan or a chunk, and what losing one means."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection


class LeaseLost(Exception):
    """Another worker took the work over; this one must stop without writing."""


class TaskNotRunning(Exception):
    """The chunk's task failed or went back for a retry while the chunk was applied."""


def lease_duration() -> timedelta:
    """How long a claim holds before another worker may take the work over."""
    return timedelta(seconds=settings.BULK_TASK_LEASE_SECONDS)


def commit_without_flush_wait() -> None:
    """Let PostgreSQL acknowledge this transaction's commit before its WAL is on disk.

    Safe for exactly-once: a chunk's rows and its ``done`` mark commit together,
    so a database crash that loses the last few commits loses both, and those
    chunks, found not done, are applied again. It saves waiting for a disk flush
    per chunk, which was a quarter of an import.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def commit_with_flush_wait() -> None:
    """Undo ``commit_without_flush_wait`` for this transaction: it completes a task.

    A crash may lose an unflushed chunk (it is applied again), but a task the
    API already showed ``completed`` must not come back ``inProgress``.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO ON")
