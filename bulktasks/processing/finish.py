"""How a task or a chunk ends: completed, failed, or released for a later retry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.processing.leases import commit_with_flush_wait
from bulktasks.signals import bulk_task_finished
from bulktasks.storage import StorageUnavailable, storage_is_unavailable
from core.unavailable import is_service_unavailable

logger = logging.getLogger("bulktasks.services")

# SQLSTATE classes of a server that is away or cannot take us now: connection
# exceptions, operator intervention (shutting down, starting up), insufficient
# resources (too many connections). Any other answer means the statement is wrong.
_OUTAGE_SQLSTATE_CLASSES = ("08", "57", "53")


def database_is_unreachable(exc: BaseException) -> bool:
    """True when an error means the database is away (retry later), not that a statement failed.

    Treating every OperationalError as an outage would release and retry a task
    forever when the statement itself is refused (too many parameters, say).
    """
    if not isinstance(exc, OperationalError) or not is_service_unavailable(exc):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if sqlstate:
        return str(sqlstate)[:2] in _OUTAGE_SQLSTATE_CLASSES
    if connection.vendor != "postgresql" or exc.__cause__ is None:
        return True
    # No SQLSTATE: the server never answered (a lost connection) or the driver
    # refused the statement itself; only the first leaves the connection broken.
    raw = connection.connection
    return raw is None or bool(raw.closed) or bool(getattr(raw, "broken", False))


def raise_if_outage(
    exc: Exception, *, release: Callable[[], object], log: dict[str, object]
) -> None:
    """Release the claim and raise when the database or the file storage is away; else return.

    The queue retries the message later, and the claim is free by then. Any other
    error returns, for the caller to fail the task.
    """
    if database_is_unreachable(exc):
        release()
        raise exc
    if storage_is_unavailable(exc):
        logger.warning("file storage unavailable: %s", exc, extra=log)
        release()
        raise StorageUnavailable(str(exc)) from exc


def counts(bulk_task: BulkTask) -> dict[str, int]:
    """The task's counters, under the names its log lines give them."""
    return {
        "items": bulk_task.num_items,
        "inserted": bulk_task.num_inserts,
        "updated": bulk_task.num_updates,
        "skipped": bulk_task.num_skips,
        "errored": bulk_task.num_errors,
    }


def log_context(bulk_task: BulkTask) -> dict[str, object]:
    """What every log line about a task carries."""
    return {
        "bulk_task_id": bulk_task.pk,
        "organization_id": bulk_task.organization_id,
        "action": bulk_task.action,
        "dry_run": bulk_task.dry_run,
    }


def task_complete(*, bulk_task: BulkTask) -> bool:
    """Mark a task completed, inside the transaction of its last chunk; False if it was not running.

    Never raises for a lost race: the caller's chunk is already counted, and a
    task some other path already finished or failed simply stays as it is.
    """
    now = timezone.now()
    # One transaction with the listeners' writes (the webhook events): a task
    # is never seen completed without them. Inside the last chunk's transaction
    # this adds no savepoint.
    with transaction.atomic(savepoint=False):
        completed = BulkTask.objects.filter(
            pk=bulk_task.pk, status=BulkTask.Status.IN_PROGRESS
        ).update(
            status=BulkTask.Status.COMPLETED,
            lease_owner="",
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
        )
        if completed:
            # Shown completed once committed: that commit waits for its WAL on disk.
            commit_with_flush_wait()
            task_finished(bulk_task=bulk_task, status=BulkTask.Status.COMPLETED)
    return bool(completed)


def task_finished(*, bulk_task: BulkTask, status: str) -> None:
    """The one hook of a task reaching a final status: tell the listeners, in its transaction.

    ``task_complete``, ``task_fail`` and ``bulk_task_cancel`` are the only writers
    of a final status, so every way a task ends (its last chunk, an empty file, a
    file found unreadable, a crash, running out of attempts, a cancel) passes here
    exactly once.
    """
    bulk_task_finished.send(sender=BulkTask, bulk_task=bulk_task, status=str(status))


def log_completed(bulk_task: BulkTask) -> None:
    """The one log line of a task's completion, with its counters."""
    bulk_task.refresh_from_db()
    task_counts = counts(bulk_task)
    logger.info(
        "bulk task completed: %(items)s items, %(inserted)s inserted, %(updated)s updated, "
        "%(skipped)s skipped, %(errored)s errored",
        task_counts,
        extra={**log_context(bulk_task), **task_counts},
    )


def task_fail(*, bulk_task: BulkTask, error: str, owner: str | None = None) -> BulkTask:
    """Fail a task that is still running (and, with ``owner``, still this worker's scan).

    Logs only when this call failed it: a task another worker finished, failed or
    took over in the meantime is left alone, and nothing claims it failed here.
    """
    now = timezone.now()
    running = BulkTask.objects.filter(
        pk=bulk_task.pk, status__in=[BulkTask.Status.PENDING, BulkTask.Status.IN_PROGRESS]
    )
    if owner is not None:
        running = running.filter(lease_owner=owner)
    # One transaction with the listeners' writes, as in ``task_complete``.
    with transaction.atomic(savepoint=False):
        failed = running.update(
            status=BulkTask.Status.FAILED,
            error=error,
            lease_owner="",
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
        )
        if failed:
            task_finished(bulk_task=bulk_task, status=BulkTask.Status.FAILED)
    bulk_task.refresh_from_db()
    if failed:
        logger.info(
            "bulk task failed: %s",
            error,
            extra={**log_context(bulk_task), **counts(bulk_task)},
        )
    else:
        logger.warning(
            "bulk task left as it was: it is no longer this worker's (%s)",
            error,
            extra=log_context(bulk_task),
        )
    return bulk_task


def task_release(*, bulk_task: BulkTask, owner: str) -> None:
    """Give a scan back after an outage; its next claim is not counted as an attempt."""
    # If the database is unreachable the lease simply runs out instead.
    with suppress(OperationalError):
        BulkTask.objects.filter(pk=bulk_task.pk, lease_owner=owner).update(lease_expires_at=None)


def chunk_release(
    *, chunk: BulkTaskChunk, owner: str, to: str = BulkTaskChunk.Status.QUEUED
) -> None:
    """Give a chunk back: ``queued`` after an outage (its retry is on its way), else ``pending``.

    A released chunk's next claim is not counted as an attempt.
    """
    with suppress(OperationalError):
        BulkTaskChunk.objects.filter(
            pk=chunk.pk, lease_owner=owner, status=BulkTaskChunk.Status.RUNNING
        ).update(
            status=to,
            lease_owner="",
            lease_expires_at=None,
            queued_at=timezone.now() if to == BulkTaskChunk.Status.QUEUED else None,
            requeues=0,
        )
