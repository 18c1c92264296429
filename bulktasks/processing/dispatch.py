"""Fair dispatch: each organization has at most a few chunks in the queue or running.

Celery's queue stays first in, first out; fairness comes from what is put in
it. When a scan or a chunk of an organization ends, the same transaction picks
that organization's next chunks, up to ``BULK_TASK_ORGANIZATION_CONCURRENCY``
queued or running at once, and their messages go after commit. So a new
organization's small task waits behind at most (organizations x cap) chunks,
never behind another organization's whole file; and a big tenant always keeps
its cap, so it is slowed, never starved.
"""

from __future__ import annotations

import logging
from collections import Counter
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bulktasks.models import BulkTask, BulkTaskChunk
from users.models import Organization

logger = logging.getLogger("bulktasks.services")

_ACTIVE = [BulkTaskChunk.Status.QUEUED, BulkTaskChunk.Status.RUNNING]


def bulk_task_enqueue(*, bulk_task_id: str) -> bool:
    """Send a task's scan to the queue; if the broker is down, the sweeper tries again later."""
    from bulktasks.tasks import process_bulk_task

    try:
        process_bulk_task.delay(bulk_task_id)
    except Exception:  # the broker is unreachable; the task stays pending and is swept
        logger.warning(
            "could not enqueue bulk task %s; the sweeper will retry", bulk_task_id, exc_info=True
        )
        return False
    return True


def chunk_enqueue(*, chunk_id: int, countdown: float | None = None) -> bool:
    """Send a queued chunk's message; if the broker is down, the sweeper sends it again later."""
    from bulktasks.tasks import process_bulk_task_chunk

    try:
        process_bulk_task_chunk.apply_async((chunk_id,), countdown=countdown)
    except Exception:  # the chunk stays queued and is swept after the grace period
        logger.warning(
            "could not enqueue bulk task chunk %s; the sweeper will retry", chunk_id, exc_info=True
        )
        return False
    return True


def organization_dispatch(
    *, organization_id: str, keep: int = 0, first_from: str | None = None
) -> list[int]:
    """Queue the organization's next chunks, up to its cap; their messages go after commit.

    Picks round-robin across the organization's running tasks: the task with the
    fewest chunks queued or running first, then the oldest, so a
    small task is not stuck behind its own organization's big file either.
    With ``keep``, that many of the picked chunks are marked queued but not
    sent: the caller runs them itself (a scan takes its task's first chunk,
    picked first from ``first_from``).
    """
    with transaction.atomic():
        # One dispatcher per organization at a time, so two chunks finishing
        # together cannot both fill the last free place. NO KEY UPDATE, so that
        # inserts referring to the organization (memberships) are not blocked.
        if connection.features.has_select_for_update:
            list(
                Organization.objects.select_for_update(no_key=True)
                .filter(pk=organization_id)
                .values_list("pk", flat=True)
            )
        chunks = BulkTaskChunk.objects.filter(organization_id=organization_id)
        active = Counter(
            chunks.filter(status__in=_ACTIVE).values_list("task_id", flat=True).iterator()
        )
        free = settings.BULK_TASK_ORGANIZATION_CONCURRENCY - sum(active.values())
        if free <= 0:
            return []
        tasks = set(
            BulkTask.objects.filter(
                organization_id=organization_id,
                status=BulkTask.Status.IN_PROGRESS,
                scanned_at__isnull=False,
            ).values_list("pk", flat=True)
        )
        picked: list[int] = []
        while free > 0 and tasks:
            task_id = (
                first_from if first_from in tasks and not picked else _next_task(tasks, active)
            )
            chunk = (
                chunks.filter(task_id=task_id, status=BulkTaskChunk.Status.PENDING)
                .exclude(pk__in=picked)
                .order_by("index")
                .select_for_update(skip_locked=True)
                .values_list("pk", "task_id")
                .first()
            )
            if chunk is None:
                tasks.discard(task_id)
                continue
            picked.append(chunk[0])
            active[chunk[1]] += 1
            free -= 1
        if not picked:
            return []
        BulkTaskChunk.objects.filter(pk__in=picked).update(
            status=BulkTaskChunk.Status.QUEUED, queued_at=timezone.now(), requeues=0
        )
        for chunk_id in picked[keep:]:
            transaction.on_commit(partial(chunk_enqueue, chunk_id=chunk_id))
    return picked


def _next_task(tasks: set[str], active: Counter[str]) -> str:
    # Fewest chunks in flight first; among equals the oldest task (ids grow with time).
    return min(tasks, key=lambda task_id: (active[task_id], task_id))
