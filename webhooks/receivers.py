"""Signal receivers: a task reaching a final status records its webhook events."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from bulktasks.models import BulkTask
from bulktasks.signals import bulk_task_finished
from webhooks.services import webhook_events_record


@receiver(bulk_task_finished, dispatch_uid="webhooks.bulk_task_finished")
def bulk_task_finished_record_events(
    sender: type[BulkTask], bulk_task: BulkTask, status: str, **kwargs: Any
) -> None:
    """Record the event and its deliveries in the transaction that ends the task."""
    webhook_events_record(bulk_task=bulk_task, status=status)
