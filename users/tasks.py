"""Celery tasks of the users app."""

from __future__ import annotations

from celery import shared_task
from django.core.management import call_command


@shared_task(name="users.tasks.flush_expired_tokens")
def flush_expired_tokens() -> None:
    """Periodic: forget refresh tokens past their expiry, revoked or not (they are dead anyway)."""
    call_command("flushexpiredtokens")
