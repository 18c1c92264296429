"""The sweeper (Celery beat): whatever a dead worker or a lost message left behind goes back."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Least
from django.utils import timezone

from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.processing.dispatch import bulk_task_enqueue, chunk_enqueue, organization_dispatch

logger = logging.getLogger("bulktasks.services")

# After this many requeues in a row the wait stops doubling (64 grace periods).
_REQUEUE_BACKOFF_STEPS = 6
# A chunk's wait stops doubling sooner (16 grace periods): a queued chunk holds
# one of its organization's places, so a lost message must not keep it an hour.
_CHUNK_BACKOFF_STEPS = 4
_BATCH = 1000


def bulk_task_sweep() -> list[str]:
    """Send again the scans and chunks left behind; return the ids of the tasks concerned.

    - a pending task whose message was lost, or a scan whose worker died;
    - a task marked scanned that has no chunks (left so by an older version):
      it is scanned again;
    - a queued chunk whose message was lost, or a running chunk whose worker
      died (its next claim takes it over and counts an attempt);
    - an export whose chunks are all done but whose parts were never joined
      (the worker of its last chunk died, or its join's worker did);
    - an organization with chunks waiting and room under its cap (a dispatch
      lost with a broker outage).
    """
    _unscan_without_chunks()
    swept = _sweep_scans()
    swept += [task for task in _sweep_chunks() if task not in swept]
    swept += [task for task in _sweep_joins() if task not in swept]
    _sweep_dispatch()
    return swept


def _unscan_without_chunks() -> None:
    """A scan commits its chunks and ``scanned_at`` together, so a task scanned with none
    was never cut into chunks: nothing would ever run or complete it. Scan it again."""
    now = timezone.now()
    grace = timedelta(seconds=settings.BULK_TASK_PENDING_GRACE_SECONDS)
    BulkTask.objects.filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now),
        status__in=[BulkTask.Status.PENDING, BulkTask.Status.IN_PROGRESS],
        scanned_at__isnull=False,
        updated_at__lt=now - grace,
    ).exclude(Exists(BulkTaskChunk.objects.filter(task_id=OuterRef("pk")))).update(
        scanned_at=None, lease_owner="", lease_expires_at=None
    )


def _sweep_scans() -> list[str]:
    """Scans left behind, each queued again with a doubling wait.

    A task still waiting behind a long queue looks the same as one whose message
    was lost; so each task queued again waits twice as long as the last time
    (one grace period, then 2, 4 ... up to 64) before the next, and a backlog
    gets a few duplicates, not one per task per sweep. A worker taking the task
    resets the count.
    """
    now = timezone.now()
    grace = timedelta(seconds=settings.BULK_TASK_PENDING_GRACE_SECONDS)
    scanning = Q(status=BulkTask.Status.IN_PROGRESS, scanned_at__isnull=True)
    left_behind = (
        (scanning & Q(lease_expires_at__lt=now))
        | (scanning & Q(lease_expires_at__isnull=True))
        | Q(
            status=BulkTask.Status.PENDING,
            lease_expires_at__isnull=True,
            updated_at__lt=now - grace,
        )
    )
    due = Q(requeues=0) | _resend_due(
        now=now, grace=grace, sent_at="requeued_at", steps=_REQUEUE_BACKOFF_STEPS
    )
    ids = list(BulkTask.objects.filter(left_behind & due).values_list("id", flat=True)[:_BATCH])
    if not ids:
        return ids
    # Counted before sending, so that a worker taking a message at once resets a
    # count already written; a task taken since the SELECT is not counted.
    BulkTask.objects.filter(left_behind, pk__in=ids).update(
        requeues=F("requeues") + 1, requeued_at=now
    )
    for bulk_task_id in ids:
        bulk_task_enqueue(bulk_task_id=bulk_task_id)
    logger.info("swept %s bulk tasks back to the queue", len(ids))
    return ids


def _sweep_chunks() -> list[str]:
    """Chunks whose message was lost or whose worker died, sent again with a doubling wait.

    A queued chunk is first sent again a grace period after its dispatch; a
    running one whose lease ran out, at once. Then, as for scans, each wait is
    twice the last (up to 16 grace periods) until a worker claims it: a chunk
    that only waits behind a long queue gets a few duplicate messages, not one
    per grace period, which would make the queue longer still. A message the
    broker refused (an outage) is not counted: it is tried again a grace period
    later, not after a longer wait.
    """
    now = timezone.now()
    grace = timedelta(seconds=settings.BULK_TASK_PENDING_GRACE_SECONDS)
    steps = _CHUNK_BACKOFF_STEPS
    quiet = (
        Q(queued_at__isnull=True)
        | Q(requeues=0, queued_at__lt=now - grace)
        | _resend_due(now=now, grace=grace, sent_at="queued_at", steps=steps)
    )
    lost = Q(status=BulkTaskChunk.Status.QUEUED) & quiet
    dead = Q(status=BulkTaskChunk.Status.RUNNING, lease_expires_at__lt=now) & quiet
    rows = list(
        BulkTaskChunk.objects.filter(lost | dead).values_list("pk", "task_id", "requeues")[:_BATCH]
    )
    if not rows:
        return []
    # Counted before sending, so that a worker claiming the chunk at once resets
    # a count already written. A running chunk keeps its status: the claim that
    # takes it over counts the attempt.
    BulkTaskChunk.objects.filter(lost | dead, pk__in=[pk for pk, _, _ in rows]).update(
        queued_at=now, requeues=Least(F("requeues") + 1, Value(steps))
    )
    refused: dict[int, list[int]] = {}
    for chunk_id, _, requeues in rows:
        if not chunk_enqueue(chunk_id=chunk_id):
            refused.setdefault(requeues, []).append(chunk_id)
    for requeues, chunk_ids in refused.items():
        # Not sent, so not counted; unless claimed since (a claim clears queued_at).
        BulkTaskChunk.objects.filter(pk__in=chunk_ids, queued_at=now).update(requeues=requeues)
    logger.info("swept %s bulk task chunks back to the queue", len(rows))
    return list(dict.fromkeys(task_id for _, task_id, _ in rows))


def _sweep_joins() -> list[str]:
    """Exports with every chunk done and no result yet, whose join nobody holds.

    The last chunk's worker joins the parts right after its commit; a lease that
    ran out, or none taken a grace period after the last commit, means it died.
    """
    now = timezone.now()
    grace = timedelta(seconds=settings.BULK_TASK_PENDING_GRACE_SECONDS)
    undone = BulkTaskChunk.objects.filter(task_id=OuterRef("pk")).exclude(
        status=BulkTaskChunk.Status.DONE
    )
    ids = list(
        BulkTask.objects.filter(
            Q(lease_expires_at__lt=now)
            | Q(lease_expires_at__isnull=True, updated_at__lt=now - grace),
            ~Exists(undone),
            status=BulkTask.Status.IN_PROGRESS,
            scanned_at__isnull=False,
        )
        .exclude(result_format="")
        .values_list("id", flat=True)[:_BATCH]
    )
    for bulk_task_id in ids:
        bulk_task_enqueue(bulk_task_id=bulk_task_id)
    if ids:
        logger.info("swept %s bulk task results back to the queue", len(ids))
    return ids


def _resend_due(*, now: datetime, grace: timedelta, sent_at: str, steps: int) -> Q:
    """Sent again ``requeues`` (1 or more) times: due ``grace`` x 2^requeues after ``sent_at``.

    From ``steps`` requeues on, the wait stays ``grace`` x 2^steps.
    """
    due = Q(requeues__gte=steps, **{f"{sent_at}__lt": now - grace * 2**steps})
    for step in range(1, steps):
        due |= Q(requeues=step, **{f"{sent_at}__lt": now - grace * 2**step})
    return due


def _sweep_dispatch() -> None:
    organizations = (
        BulkTaskChunk.objects.filter(
            status=BulkTaskChunk.Status.PENDING, task__status=BulkTask.Status.IN_PROGRESS
        )
        .values_list("organization_id", flat=True)
        .distinct()[:_BATCH]
    )
    for organization_id in list(organizations):
        organization_dispatch(organization_id=organization_id)
