"""Celery tasks: they take ids and call the delivery services."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from webhooks.delivery import webhook_deliveries_sweep, webhook_delivery_attempt


@shared_task(
    name="webhooks.tasks.deliver_webhook",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=10,
)
def deliver_webhook(delivery_id: str) -> None:
    """Make one attempt of a delivery; a duplicate message finds it held, done or not due."""
    webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.tasks.sweep_webhook_deliveries")
def sweep_webhook_deliveries() -> int:
    """Periodic: send the due deliveries whose message was lost or whose retry waited for it."""
    return len(webhook_deliveries_sweep())
