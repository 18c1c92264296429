"""A task from its message to its chunks: claim and scan it, then run or dispatch its chunks."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import OperationalError, transaction

from bulktasks.actions import ExportAction, action_get
from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.processing.chunks import bulk_task_chunk_process
from bulktasks.processing.claim import bulk_task_claim
from bulktasks.processing.dispatch import chunk_enqueue, organization_dispatch
from bulktasks.processing.export import export_assemble, export_snapshot
from bulktasks.processing.finish import (
    counts,
    log_context,
    raise_if_outage,
    task_fail,
    task_release,
)
from bulktasks.processing.leases import LeaseLost
from bulktasks.processing.scan import bulk_task_scan
from bulktasks.readers import FileFormatError
from bulktasks.storage import StorageUnavailable, bulk_task_storage

logger = logging.getLogger("bulktasks.services")

ProgressCallback = Callable[[BulkTask], None]

# After an outage, a chunk the scan's worker could not run goes to the queue this much later.
_RETRY_COUNTDOWN_SECONDS = 5.0


def bulk_task_start(
    *, bulk_task_id: str, owner: str | None = None, retry_of: str = ""
) -> BulkTask | None:
    """A task's message: scan it, dispatch its chunks, and run its first one here.

    A task already scanned (a duplicate message, the sweeper, a retry) only has
    its organization's chunks topped up. Returns the task, or None when there
    was nothing to do.
    """
    owner = owner or uuid.uuid4().hex
    bulk_task = BulkTask.objects.filter(pk=bulk_task_id).first()
    if bulk_task is None or bulk_task.is_finished:
        return None
    if bulk_task.scanned_at is not None:
        _resume_scanned(bulk_task)
        if bulk_task.is_export:
            # Its chunks may all be done, their worker gone before joining the parts.
            export_assemble(bulk_task_id=bulk_task.pk, owner=owner, retry_of=retry_of)
        return None
    scanned = _scan(bulk_task_id, owner, dispatch=True, retry_of=retry_of)
    if scanned is None:
        return None
    bulk_task, first_chunk = scanned
    if first_chunk is not None:
        # Run here rather than through the queue: a small file completes within
        # the message that scanned it, without waiting in line a second time.
        try:
            bulk_task_chunk_process(chunk_id=first_chunk, owner=owner)
        except (OperationalError, StorageUnavailable):
            chunk_enqueue(chunk_id=first_chunk, countdown=_RETRY_COUNTDOWN_SECONDS)
    bulk_task.refresh_from_db()
    return bulk_task


def bulk_task_process(
    *, bulk_task_id: str, owner: str | None = None, progress: ProgressCallback | None = None
) -> BulkTask | None:
    """Run a whole task in this process: scan it, then apply each chunk in order.

    For the command line and tests; workers share the work through
    ``bulk_task_start`` and ``bulk_task_chunk_process``. Returns the task, or
    None when another worker holds it or it was already finished.
    """
    owner = owner or uuid.uuid4().hex
    bulk_task = BulkTask.objects.filter(pk=bulk_task_id).first()
    if bulk_task is None or bulk_task.is_finished:
        return None
    if bulk_task.scanned_at is None:
        scanned = _scan(bulk_task_id, owner, dispatch=False)
        if scanned is None:
            return None
        bulk_task = scanned[0]
        if bulk_task.is_finished:
            return bulk_task
    elif bulk_task.status == BulkTask.Status.PENDING:
        BulkTask.objects.filter(pk=bulk_task.pk, status=BulkTask.Status.PENDING).update(
            status=BulkTask.Status.IN_PROGRESS
        )
    if progress:
        progress(bulk_task)
    # An export's join may send chunks whose parts were lost back to run again:
    # each round runs what is left, up to a round per allowed attempt.
    for _ in range(settings.BULK_TASK_MAX_ATTEMPTS + 1):
        _chunks_run(bulk_task, owner, progress)
        if not bulk_task.is_export or bulk_task.is_finished:
            break
        # Every chunk was done already (a run resumed after a crash): join the parts.
        export_assemble(bulk_task_id=bulk_task.pk, owner=owner, dispatch=False)
        bulk_task.refresh_from_db()
        if bulk_task.is_finished:
            break
    return bulk_task


def _chunks_run(bulk_task: BulkTask, owner: str, progress: ProgressCallback | None) -> None:
    """Apply each chunk not done yet, in order, in this process."""
    chunk_ids = (
        BulkTaskChunk.objects.filter(task_id=bulk_task.pk)
        .exclude(status=BulkTaskChunk.Status.DONE)
        .order_by("index")
        .values_list("pk", flat=True)
    )
    for chunk_id in list(chunk_ids):
        done = bulk_task_chunk_process(chunk_id=chunk_id, owner=owner, dispatch=False)
        bulk_task.refresh_from_db()
        if done is None:
            break  # held by another worker, or the task failed
        if progress:
            progress(bulk_task)


def _scan(
    bulk_task_id: str, owner: str, *, dispatch: bool, retry_of: str = ""
) -> tuple[BulkTask, int | None] | None:
    """Claim and scan the task; None if another worker holds it."""
    bulk_task = bulk_task_claim(bulk_task_id=bulk_task_id, owner=owner, retry_of=retry_of)
    if bulk_task is None:
        return None
    log = {**log_context(bulk_task), "attempt": bulk_task.attempts}
    logger.info(
        "bulk task started (attempt %s)",
        bulk_task.attempts,
        extra={**log, **counts(bulk_task)},
    )
    if bulk_task.attempts > settings.BULK_TASK_MAX_ATTEMPTS:
        error = f"processing gave up after {settings.BULK_TASK_MAX_ATTEMPTS} attempts"
        return task_fail(bulk_task=bulk_task, error=error, owner=owner), None
    action = action_get(bulk_task.action)
    if action is None:
        error = f"action {bulk_task.action} is no longer available"
        return task_fail(bulk_task=bulk_task, error=error, owner=owner), None
    try:
        if isinstance(action, ExportAction):
            return export_snapshot(
                bulk_task=bulk_task, owner=owner, action=action, dispatch=dispatch
            )
        if not bulk_task.file_key or not bulk_task_storage().exists(bulk_task.file_key):
            error = "the uploaded file is no longer stored"
            return task_fail(bulk_task=bulk_task, error=error, owner=owner), None
        return bulk_task_scan(bulk_task=bulk_task, owner=owner, action=action, dispatch=dispatch)
    except FileFormatError as exc:
        return task_fail(bulk_task=bulk_task, error=str(exc), owner=owner), None
    except LeaseLost:
        if BulkTask.objects.filter(pk=bulk_task.pk, status=BulkTask.Status.IN_PROGRESS).exists():
            logger.warning("bulk task taken over by another worker", extra=log)
        else:
            logger.info("bulk task scan stopped: the task is no longer running", extra=log)
        return None
    except Exception as exc:
        raise_if_outage(
            exc, release=lambda: task_release(bulk_task=bulk_task, owner=owner), log=log
        )
        logger.exception("bulk task scan crashed", extra=log)
        error = "processing stopped while reading the file because of an internal error; staff can retry it"
        return task_fail(bulk_task=bulk_task, error=error, owner=owner), None


def _resume_scanned(bulk_task: BulkTask) -> None:
    """A scanned task sent back by a retry runs again; its chunks wait for their turn."""
    with transaction.atomic():
        BulkTask.objects.filter(pk=bulk_task.pk, status=BulkTask.Status.PENDING).update(
            status=BulkTask.Status.IN_PROGRESS
        )
        organization_dispatch(organization_id=bulk_task.organization_id)
