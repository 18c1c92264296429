"""Celery tasks: they take ids and call services."""

from __future__ import annotations

import uuid

from celery import Task, shared_task
from django.db import OperationalError

from bulktasks.processing import bulk_task_chunk_process, bulk_task_start, bulk_task_sweep
from bulktasks.retention import bulk_task_files_expire
from bulktasks.services import idempotency_keys_flush
from bulktasks.storage import StorageUnavailable

# The database or the file storage was away: the work was released, try later.
_OUTAGE_RETRY = {
    "autoretry_for": (OperationalError, StorageUnavailable),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 10,
}


@shared_task(bind=True, name="bulktasks.tasks.process_bulk_task", **_OUTAGE_RETRY)
def process_bulk_task(self: Task, bulk_task_id: str) -> None:
    """Scan one bulk task and dispatch its chunks; a duplicate delivery finds it taken or scanned."""
    bulk_task_start(bulk_task_id=bulk_task_id, owner=_owner(self), retry_of=_retry_of(self))


@shared_task(bind=True, name="bulktasks.tasks.process_bulk_task_chunk", **_OUTAGE_RETRY)
def process_bulk_task_chunk(self: Task, chunk_id: int) -> None:
    """Apply one chunk of a bulk task; a duplicate delivery finds it taken or done."""
    # Only a dispatched chunk: a stale message must not start one beyond the cap.
    bulk_task_chunk_process(
        chunk_id=chunk_id, owner=_owner(self), retry_of=_retry_of(self), allow_pending=False
    )


def _owner(task: Task) -> str:
    """A lease owner naming the worker, the message and its try.

    The machine's name lets staff see which one did what; the message and try let
    an outage retry (on any machine) take back the claim its previous try could
    not release, without counting an attempt (see ``chunk_claim``).
    """
    host = (task.request.hostname or "worker")[:24]
    return f"{host}{_try(task, task.request.retries or 0)}"


def _retry_of(task: Task) -> str:
    """How the previous try of this message ends its owner; empty on the first try."""
    retries = task.request.retries or 0
    return _try(task, retries - 1) if retries else ""


def _try(task: Task, number: int) -> str:
    message = task.request.id or uuid.uuid4().hex
    return f"/{message[:36]}/{number}"


@shared_task(name="bulktasks.tasks.sweep_bulk_tasks")
def sweep_bulk_tasks() -> int:
    """Periodic: put back in the queue what dead workers or lost messages left behind."""
    return len(bulk_task_sweep())


@shared_task(name="bulktasks.tasks.flush_expired_idempotency_keys")
def flush_expired_idempotency_keys() -> int:
    """Periodic: forget Idempotency-Keys past their 24 hours, so the table does not grow forever."""
    return idempotency_keys_flush()


@shared_task(name="bulktasks.tasks.expire_bulk_task_files")
def expire_bulk_task_files() -> int:
    """Periodic: delete the stored files of tasks finished longer ago than the retention period."""
    return bulk_task_files_expire()
