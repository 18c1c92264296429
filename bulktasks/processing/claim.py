"""Claims: one conditional UPDATE gives a scan or a chunk to exactly one worker.

Only a claim that takes work over from a worker whose lease ran out counts an
attempt (besides the very first claim): a worker that met an outage of the
database, the storage or the broker releases its claim, and the next claim of
released work is free, so an outage never uses up a task's attempts.
"""

from __future__ import annotations

from django.db.models import Case, F, PositiveSmallIntegerField, Q, Value, When
from django.utils import timezone

from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.processing.leases import lease_duration


def bulk_task_claim(*, bulk_task_id: str, owner: str) -> BulkTask | None:
    """Take a task's scan for one worker, unless a live worker holds it or it is scanned.

    Two deliveries of the same task at the same moment cannot both win.
    """
    now = timezone.now()
    claimed = (
        BulkTask.objects.filter(
            pk=bulk_task_id,
            status__in=[BulkTask.Status.PENDING, BulkTask.Status.IN_PROGRESS],
            scanned_at__isnull=True,
        )
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(
            status=BulkTask.Status.IN_PROGRESS,
            lease_owner=owner,
            lease_expires_at=now + lease_duration(),
            attempts=_attempts_after_claim(taken_over=Q(lease_expires_at__isnull=False)),
            requeues=0,
            requeued_at=None,
            updated_at=now,
        )
    )
    if not claimed:
        return None
    bulk_task = BulkTask.objects.get(pk=bulk_task_id)
    if bulk_task.started_at is None:
        BulkTask.objects.filter(pk=bulk_task_id).update(started_at=now)
        bulk_task.started_at = now
    return bulk_task


def chunk_claim(*, chunk_id: int, owner: str) -> BulkTaskChunk | None:
    """Take a chunk for one worker: one waiting, or one whose worker's lease ran out."""
    now = timezone.now()
    waiting = Q(status__in=[BulkTaskChunk.Status.PENDING, BulkTaskChunk.Status.QUEUED])
    abandoned = Q(status=BulkTaskChunk.Status.RUNNING, lease_expires_at__lt=now)
    claimed = BulkTaskChunk.objects.filter(waiting | abandoned, pk=chunk_id).update(
        status=BulkTaskChunk.Status.RUNNING,
        lease_owner=owner,
        lease_expires_at=now + lease_duration(),
        attempts=_attempts_after_claim(taken_over=Q(status=BulkTaskChunk.Status.RUNNING)),
        queued_at=None,
        started_at=now,
    )
    if not claimed:
        return None
    return BulkTaskChunk.objects.get(pk=chunk_id)


def _attempts_after_claim(*, taken_over: Q) -> Case:
    """One more for a takeover or a first claim; none for work a live worker released."""
    return Case(
        When(taken_over, then=F("attempts") + 1),
        When(attempts=0, then=Value(1)),
        default=F("attempts"),
        output_field=PositiveSmallIntegerField(),
    )
