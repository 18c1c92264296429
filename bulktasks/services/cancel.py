"""Cancel a bulk task: fail it at once, take back its queued chunks, keep what committed chunks did."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef
from django.utils import timezone

from bulktasks.models import BulkTask, BulkTaskChunk, BulkTaskLine
from bulktasks.processing.dispatch import organization_dispatch
from bulktasks.processing.finish import counts, log_context, task_finished
from core.exceptions import BulkTaskFinished, EntityNotFound
from users.models import Organization, User

# The name every bulk task service logs under, before and after services became a package.
logger = logging.getLogger("bulktasks.services")


@transaction.atomic
def bulk_task_cancel(*, bulk_task: BulkTask, cancelled_by: User) -> BulkTask:
    """Stop a pending or running task: it is failed at once, its workers stop at a chunk boundary.

    Chunks already committed keep their counts and report lines. A chunk in
    flight commits nothing: its last statement adds its counters only to a task
    still running, so it rolls back whole and its worker gives its place back.
    Chunks waiting in the queue are taken back, and the organization's places
    go to its other tasks at once. A task already cancelled is returned as it
    is; one that completed or failed on its own raises ``BulkTaskFinished``.
    """
    # The task row first, as a chunk's transaction takes it: a chunk holding it
    # commits before this reads the status, and one waiting for it then finds
    # the task failed and rolls back.
    locked = BulkTask.objects.select_for_update().filter(pk=bulk_task.pk).first()
    if locked is None:
        raise EntityNotFound()
    if locked.is_cancelled:
        return locked
    if locked.is_finished:
        raise BulkTaskFinished(
            f"The task is already {locked.status}; only a pending or inProgress task can be cancelled"
        )
    _organization_lock(locked.organization_id)
    now = timezone.now()
    BulkTask.objects.filter(pk=locked.pk).update(
        status=BulkTask.Status.FAILED,
        error=f"Cancelled by {cancelled_by.email}",
        cancelled_at=now,
        cancelled_by=cancelled_by,
        lease_owner="",
        lease_expires_at=None,
        finished_at=now,
        updated_at=now,
    )
    # Their messages may still be in the queue: a worker starts only a queued
    # chunk, so these find nothing to do, and no longer hold the organization's places.
    BulkTaskChunk.objects.filter(task_id=locked.pk, status=BulkTaskChunk.Status.QUEUED).update(
        status=BulkTaskChunk.Status.PENDING, queued_at=None
    )
    _report_keep_done_chunks(locked)
    organization_dispatch(organization_id=locked.organization_id)
    locked.refresh_from_db()
    # A cancel is one more way a task ends: its listeners (webhooks) hear of it too.
    task_finished(bulk_task=locked, status=BulkTask.Status.FAILED)
    logger.info(
        "bulk task cancelled by %s",
        cancelled_by.email,
        extra={**log_context(locked), **counts(locked)},
    )
    return locked


def _organization_lock(organization_id: str) -> None:
    """Take the organization's dispatch turn (see ``organization_dispatch``) until commit.

    A dispatcher that queued a chunk of this task has committed by then, so the
    chunks taken back below include it; the next one finds the task failed.
    """
    if connection.features.has_select_for_update:
        list(
            Organization.objects.select_for_update(no_key=True)
            .filter(pk=organization_id)
            .values_list("pk", flat=True)
        )


def _report_keep_done_chunks(bulk_task: BulkTask) -> None:
    """Leave in the report only what committed chunks did.

    The scan records every repeated line of the whole file before any chunk
    runs; those lying in chunks that will now never run were not processed, so
    they leave the report and its error count.
    """
    not_done = BulkTaskChunk.objects.filter(
        task_id=bulk_task.pk,
        first_line__lte=OuterRef("line"),
        last_line__gte=OuterRef("line"),
    ).exclude(status=BulkTaskChunk.Status.DONE)
    unprocessed = BulkTaskLine.objects.filter(task_id=bulk_task.pk).filter(Exists(not_done))
    by_kind = dict(
        unprocessed.order_by()
        .values_list("kind")
        .annotate(lines=Count("pk"))
        .values_list("kind", "lines")
    )
    if not by_kind:
        return
    unprocessed.delete()
    BulkTask.objects.filter(pk=bulk_task.pk).update(
        num_errors=F("num_errors") - by_kind.get(BulkTaskLine.Kind.ERRORED, 0),
        num_skips=F("num_skips") - by_kind.get(BulkTaskLine.Kind.SKIPPED, 0),
    )
