"""Retention: a finished task's stored files are deleted after BULK_TASK_FILE_RETENTION_DAYS.

The task and its report stay; the task records when its files went
(``file_expired_at``), and from then on its download, its errors.csv and an
export's result answer 410. Only finished tasks (completed or failed) count, from ``finished_at``: a
pending or running task, or a failed one sent back to the queue (its
``finished_at`` is cleared), never loses a file it still needs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bulktasks.models import BulkTask
from bulktasks.storage import bulk_task_files_delete, storage_is_unavailable

logger = logging.getLogger(__name__)

# Tasks whose files are deleted in one transaction.
EXPIRE_BATCH = 100
FINISHED = (BulkTask.Status.COMPLETED, BulkTask.Status.FAILED)


def bulk_task_files_expire(*, now: datetime | None = None, batch: int = EXPIRE_BATCH) -> int:
    """Delete the files of tasks finished more than the retention period ago; return how many tasks.

    Idempotent and safe with two sweeps at once: each batch locks its tasks
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so a second sweep takes other
    tasks), deletes their files, and marks them expired in the same transaction.
    A sweep that dies midway leaves its tasks unmarked; the next one deletes
    again what is left (deleting a file already gone does nothing) and marks
    them. A retry of a failed task takes the same row lock, so it never
    starts a task whose file is being deleted (and it refuses an expired one).
    """
    days = settings.BULK_TASK_FILE_RETENTION_DAYS
    if days <= 0:
        return 0
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    expired = 0
    after: tuple[datetime, str] | None = None
    while True:
        count, after = _expire_batch(cutoff=cutoff, now=now, batch=batch, after=after)
        expired += count
        if after is None:
            break
    if expired:
        logger.info("deleted the stored files of %s tasks past their retention", expired)
    return expired


@transaction.atomic
def _expire_batch(
    *, cutoff: datetime, now: datetime, batch: int, after: tuple[datetime, str] | None
) -> tuple[int, tuple[datetime, str] | None]:
    """One batch, oldest first from ``after``: (tasks marked, where the next batch starts or None)."""
    candidates = BulkTask.objects.filter(
        file_expired_at__isnull=True,
        finished_at__isnull=False,
        finished_at__lt=cutoff,
        status__in=FINISHED,
    )
    if after is not None:
        # Keyset: a task whose files could not be deleted is not met again this sweep.
        candidates = candidates.filter(
            Q(finished_at__gt=after[0]) | Q(finished_at=after[0], pk__gt=after[1])
        )
    tasks = list(
        candidates.select_for_update(skip_locked=True)
        .order_by("finished_at", "pk")
        .only(
            "pk",
            "organization_id",
            "file_key",
            "rows_key",
            "result_key",
            "result_format",
            "finished_at",
        )[:batch]
    )
    done: list[str] = []
    unavailable: Exception | None = None
    for bulk_task in tasks:
        try:
            bulk_task_files_delete(bulk_task=bulk_task)
        except Exception as exc:
            if storage_is_unavailable(exc):
                unavailable = exc
                break
            logger.exception("could not delete the stored files of bulk task %s", bulk_task.pk)
            continue
        done.append(bulk_task.pk)
    if done:
        BulkTask.objects.filter(pk__in=done).update(file_expired_at=now, updated_at=now)
    if unavailable is not None:
        # What was done is committed; the storage is away, the next sweep goes on.
        logger.warning("file storage unavailable; retention sweep stopped: %s", unavailable)
        return len(done), None
    if len(tasks) < batch:
        return len(done), None
    last = tasks[-1]
    assert last.finished_at is not None
    return len(done), (last.finished_at, last.pk)
