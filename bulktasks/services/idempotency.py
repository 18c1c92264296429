"""Idempotency-Keys: what a key stands for, the task it already made, and forgetting old keys."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from bulktasks.columns import column_mapping_fingerprint
from bulktasks.models import BulkTask, IdempotencyKey
from core.exceptions import IdempotencyKeyReused
from users.models import Organization, User

# The name every bulk task service logs under, before and after services became a package.
logger = logging.getLogger("bulktasks.services")


def _fingerprint(
    *,
    action: str,
    override: bool,
    checksum: str,
    dry_run: bool,
    column_mapping: dict[str, str] | None,
) -> str:
    """What an Idempotency-Key is held to: a dry run and a real run of one file differ.

    The dry run and the mapping are added only when present, so the fingerprint of
    a plain upload is the one it had before either existed, and a key remembered
    across an upgrade still matches its repeat.
    """
    parameters = f"{action}\n{override}\n{checksum}" + ("\ndry-run" if dry_run else "")
    if column_mapping:
        parameters += f"\ncolumns={column_mapping_fingerprint(column_mapping)}"
    return hashlib.sha256(parameters.encode()).hexdigest()


def _idempotent_replay(
    organization: Organization, user: User, key: str, fingerprint: str
) -> BulkTask | None:
    """The task an earlier request with this key created, if the key is still fresh."""
    cutoff = timezone.now() - timedelta(seconds=settings.BULK_TASK_IDEMPOTENCY_TTL_SECONDS)
    record = (
        IdempotencyKey.objects.select_related("bulk_task")
        .filter(organization=organization, user=user, key=key)
        .first()
    )
    if record is None:
        return None
    if record.created_at < cutoff:
        record.delete()
        return None
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "Idempotency-Key was already used with another action, override, dryRun, "
            "column mapping, file or format"
        )
    return record.bulk_task


def idempotency_keys_flush() -> int:
    """Forget Idempotency-Keys older than their time to live; return how many went."""
    cutoff = timezone.now() - timedelta(seconds=settings.BULK_TASK_IDEMPOTENCY_TTL_SECONDS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    if deleted:
        logger.info("forgot %s expired idempotency keys", deleted)
    return deleted
