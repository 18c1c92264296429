"""Retry a failed bulk task: its chunks not done go back to the queue."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.processing.dispatch import bulk_task_enqueue


@transaction.atomic
def bulk_task_retry(*, bulk_task: BulkTask) -> BulkTask:
    """Send a failed task back to the queue; chunks already done are not applied again.

    A cancelled task is left as it is: someone decided it should stop, and its
    report no longer holds the repeated lines of the chunks it never ran. A task
    whose file has expired cannot be processed again and is left as it is too.
    """
    retryable = BulkTask.objects.filter(
        pk=bulk_task.pk,
        status=BulkTask.Status.FAILED,
        cancelled_at__isnull=True,
        file_expired_at__isnull=True,
    )
    if not retryable.exists():
        bulk_task.refresh_from_db()
        return bulk_task
    # Chunk rows first, then the task row: the order a chunk's transaction locks
    # them in, so a retry and a chunk finishing cannot deadlock on PostgreSQL.
    # Its chunks not done start afresh, attempts included, and wait for their turn.
    BulkTaskChunk.objects.filter(task_id=bulk_task.pk).exclude(
        status=BulkTaskChunk.Status.DONE
    ).update(
        status=BulkTaskChunk.Status.PENDING,
        attempts=0,
        lease_owner="",
        lease_expires_at=None,
        queued_at=None,
    )
    # The retention sweep holds the row while it deletes a task's files: this
    # waits for it, then finds the file expired and changes nothing.
    updated = retryable.update(
        status=BulkTask.Status.PENDING,
        error="",
        attempts=0,
        lease_owner="",
        lease_expires_at=None,
        finished_at=None,
        updated_at=timezone.now(),
    )
    if updated:
        transaction.on_commit(lambda: bulk_task_enqueue(bulk_task_id=bulk_task.pk))
    else:
        # Retried by someone else meanwhile: leave its chunks as they were.
        transaction.set_rollback(True)
    bulk_task.refresh_from_db()
    return bulk_task
