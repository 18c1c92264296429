"""Claims: one conditional UPDATE gives a scan or a chunk to exactly one worker.

Only a claim that takes work over from a worker whose lease ran out counts an
attempt (besides the very first claim): a worker that met an outage of the
database, the storage or the broker releases its claim, and the next claim of
released work is free, so an outage never uses up a task's attempts.
"""

from __future__ import annotations

from django.db.models import Case, Exists, F, OuterRef, PositiveSmallIntegerField, Q, Value, When
from django.utils import timezone

from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.processing.leases import lease_duration


def bulk_task_claim(*, bulk_task_id: str, owner: str, retry_of: str = "") -> BulkTask | None:
    """Take a task's scan for one worker, unless a live worker holds it or it is scanned.

    Two deliveries of the same task at the same moment cannot both win. A retry
    of the message whose worker met an outage (``retry_of``, see ``_ours``) takes
    its own claim back at once, without an attempt, even if its release failed.
    """
    now = timezone.now()
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    taken_over = Q(lease_expires_at__isnull=False)
    if retry_of:
        free |= _ours(retry_of)
        taken_over &= ~_ours(retry_of)
    claimed = (
        BulkTask.objects.filter(
            pk=bulk_task_id,
            status__in=[BulkTask.Status.PENDING, BulkTask.Status.IN_PROGRESS],
            scanned_at__isnull=True,
        )
        .filter(free)
        .update(
            status=BulkTask.Status.IN_PROGRESS,
            lease_owner=owner,
            lease_expires_at=now + lease_duration(),
            attempts=_attempts_after_claim(taken_over=taken_over),
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


def chunk_claim(
    *, chunk_id: int, owner: str, retry_of: str = "", allow_pending: bool = True
) -> BulkTaskChunk | None:
    """Take a chunk for one worker: one waiting, or one whose worker's lease ran out.

    A worker passes ``allow_pending=False``: only a dispatched (``queued``) chunk
    is its to start, so a stale message cannot start one beyond the
    organization's cap. The command line, which runs every chunk itself, may.

    A retry of the message whose worker met an outage (``retry_of``) takes its
    own chunk back at once, without an attempt, even if its release failed.
    """
    now = timezone.now()
    waiting = Q(status=BulkTaskChunk.Status.QUEUED)
    if allow_pending:
        waiting |= Q(status=BulkTaskChunk.Status.PENDING)
    free = waiting | Q(status=BulkTaskChunk.Status.RUNNING, lease_expires_at__lt=now)
    taken_over = Q(status=BulkTaskChunk.Status.RUNNING)
    if retry_of:
        free |= Q(status=BulkTaskChunk.Status.RUNNING) & _ours(retry_of)
        taken_over &= ~_ours(retry_of)
    claimed = BulkTaskChunk.objects.filter(free, pk=chunk_id).update(
        status=BulkTaskChunk.Status.RUNNING,
        lease_owner=owner,
        lease_expires_at=now + lease_duration(),
        attempts=_attempts_after_claim(taken_over=taken_over),
        queued_at=None,
        requeues=0,
        started_at=now,
    )
    if not claimed:
        return None
    return BulkTaskChunk.objects.get(pk=chunk_id)


def export_assembly_claim(*, bulk_task_id: str, owner: str, retry_of: str = "") -> BulkTask | None:
    """Take an export's last step (joining its parts) for one worker, once every chunk is done.

    The task's own lease, free since its scan, guards it: two workers finishing
    the last chunks together, or a redelivered message, cannot both join the
    parts. Taking it over from a worker that died counts an attempt.
    """
    now = timezone.now()
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    taken_over = Q(lease_expires_at__isnull=False)
    if retry_of:
        free |= _ours(retry_of)
        taken_over &= ~_ours(retry_of)
    undone = BulkTaskChunk.objects.filter(task_id=OuterRef("pk")).exclude(
        status=BulkTaskChunk.Status.DONE
    )
    claimed = (
        BulkTask.objects.filter(
            free,
            ~Exists(undone),
            pk=bulk_task_id,
            status=BulkTask.Status.IN_PROGRESS,
            scanned_at__isnull=False,
        )
        .exclude(result_format="")
        .update(
            lease_owner=owner,
            lease_expires_at=now + lease_duration(),
            attempts=_attempts_after_claim(taken_over=taken_over),
            requeues=0,
            requeued_at=None,
            updated_at=now,
        )
    )
    if not claimed:
        return None
    return BulkTask.objects.get(pk=bulk_task_id)


def _ours(retry_of: str) -> Q:
    """Held by the previous try of this very message (its owner ends with ``retry_of``).

    A message delivered again after its worker died keeps its try number, so it
    never matches: that takeover still waits for the lease and counts an attempt.
    """
    return Q(lease_owner__endswith=retry_of)


def _attempts_after_claim(*, taken_over: Q) -> Case:
    """One more for a takeover or a first claim; none for work a live worker released."""
    return Case(
        When(taken_over, then=F("attempts") + 1),
        When(attempts=0, then=Value(1)),
        default=F("attempts"),
        output_field=PositiveSmallIntegerField(),
    )
