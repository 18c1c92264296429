"""Celery tasks: they take ids and call services."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from bulktasks.services import bulk_task_process, bulk_task_sweep, idempotency_keys_flush
from bulktasks.storage import StorageUnavailable


@shared_task(
    name="bulktasks.tasks.process_bulk_task",
    # The database or the file storage was away: the task was released, try later.
    autoretry_for=(OperationalError, StorageUnavailable),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=10,
)
def process_bulk_task(bulk_task_id: str) -> None:
    """Process one bulk task; a duplicate delivery finds it taken or finished and does nothing."""
    bulk_task_process(bulk_task_id=bulk_task_id)


@shared_task(name="bulktasks.tasks.sweep_bulk_tasks")
def sweep_bulk_tasks() -> int:
    """Periodic: put back in the queue what dead workers or lost messages left behind."""
    return len(bulk_task_sweep())


@shared_task(name="bulktasks.tasks.flush_expired_idempotency_keys")
def flush_expired_idempotency_keys() -> int:
    """Periodic: forget Idempotency-Keys past their 24 hours, so the table does not grow forever."""
    return idempotency_keys_flush()
