"""Writes for bulk tasks: create one from an upload, retry it; processing is in ``processing``."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from bulktasks import sniffing
from bulktasks.actions import action_get
from bulktasks.models import BulkTask, BulkTaskChunk, IdempotencyKey
from bulktasks.processing.dispatch import bulk_task_enqueue
from bulktasks.storage import (
    bulk_task_storage,
    original_name_clean,
    storage_is_unavailable,
    storage_key_for,
    storage_key_max_length,
    storage_location,
    storage_provider_current,
)
from bulktasks.uploads import file_sha256, max_file_size, too_large_message
from core.exceptions import (
    IdempotencyKeyReused,
    PayloadTooLarge,
    ServiceUnavailable,
    UnknownAction,
    UnsupportedFileType,
)
from core.ids import object_id
from users.models import Organization, User

logger = logging.getLogger(__name__)

SNIFF_BYTES = 8192


def bulk_task_create(
    *,
    organization: Organization,
    created_by: User | None,
    action: str,
    file: Any,
    original_name: str,
    override: bool = False,
    idempotency_key: str | None = None,
    enqueue: bool = True,
) -> tuple[BulkTask, bool]:
    """Store an uploaded file and create a pending task for it; processing starts after commit.

    Returns ``(task, created)``: with an ``idempotency_key`` seen from the same user
    in the same organization within 24 hours, the earlier task and False. With
    ``enqueue=False`` the caller processes the task itself (the command line does).
    """
    if action_get(action) is None:
        raise UnknownAction(
            f"Unknown action {action[:100]!r}; known actions: {', '.join(_known())}"
        )
    size = int(getattr(file, "size", 0) or 0)
    if size > max_file_size():
        raise PayloadTooLarge(too_large_message())
    checksum = file_sha256(file)
    file.seek(0)
    detected = sniffing.detect_mimetype(file.read(SNIFF_BYTES))
    file.seek(0)
    if not detected.supported:
        raise UnsupportedFileType(
            f"Unsupported file type {detected.mimetype}: upload CSV (text/csv) or JSON Lines"
        )

    fingerprint = hashlib.sha256(f"{action}\n{override}\n{checksum}".encode()).hexdigest()
    if idempotency_key and created_by is not None:
        replay = _idempotent_replay(organization, created_by, idempotency_key, fingerprint)
        if replay is not None:
            return replay, False

    name = original_name_clean(original_name)
    bulk_task_id = object_id()
    provider = storage_provider_current()
    storage = bulk_task_storage()
    key_max_length = storage_key_max_length(provider)
    try:
        key = storage.save(
            storage_key_for(
                organization_id=organization.pk,
                bulk_task_id=bulk_task_id,
                original_name=name,
                max_length=key_max_length,
            ),
            file,
            max_length=key_max_length,
        )
    except Exception as exc:
        if storage_is_unavailable(exc):
            raise ServiceUnavailable("File storage is temporarily unavailable") from exc
        raise
    # The file is stored before the row exists; if the row cannot be written,
    # the file goes too, so nothing is left half-way.
    try:
        with transaction.atomic():
            bulk_task = BulkTask.objects.create(
                id=bulk_task_id,
                organization=organization,
                created_by=created_by,
                action=action,
                override=override,
                status=BulkTask.Status.PENDING,
                file_original_name=name,
                file_mimetype=detected.mimetype,
                file_size=size,
                file_checksum=checksum,
                file_key=key,
                file_bucket=provider.bucket,
                file_region=provider.region,
                file_location=storage_location(provider=provider, key=key),
                storage_provider=provider,
            )
            if idempotency_key and created_by is not None:
                IdempotencyKey.objects.create(
                    organization=organization,
                    user=created_by,
                    key=idempotency_key,
                    fingerprint=fingerprint,
                    bulk_task=bulk_task,
                )
            if enqueue:
                transaction.on_commit(
                    lambda: _bulk_task_enqueue_or_withdraw(bulk_task_id=bulk_task_id, key=key)
                )
    except IntegrityError:
        storage.delete(key)
        if idempotency_key and created_by is not None:
            # Two requests with the same key raced; the other one won.
            replay = _idempotent_replay(organization, created_by, idempotency_key, fingerprint)
            if replay is not None:
                return replay, False
        raise
    except BaseException:
        storage.delete(key)
        raise
    return bulk_task, True


def _known() -> list[str]:
    from bulktasks.actions import action_names

    return action_names()


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
            "Idempotency-Key was already used with another action, override or file"
        )
    return record.bulk_task


def idempotency_keys_flush() -> int:
    """Forget Idempotency-Keys older than their time to live; return how many went."""
    cutoff = timezone.now() - timedelta(seconds=settings.BULK_TASK_IDEMPOTENCY_TTL_SECONDS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    if deleted:
        logger.info("forgot %s expired idempotency keys", deleted)
    return deleted


def _bulk_task_enqueue_or_withdraw(*, bulk_task_id: str, key: str) -> None:
    """Queue a new upload's task; if the broker is away, take the upload back and answer 503.

    A task left pending would be queued by the sweeper once the broker is back,
    but the client, told nothing went wrong, could not tell it from one that is
    merely slow; and a client told to retry would upload the file twice. So the
    task is withdrawn (row, idempotency key, stored file) and the client retries
    a request that left nothing behind. A task a worker already claimed did reach
    the queue, whatever the publish said: it stays.
    """
    if bulk_task_enqueue(bulk_task_id=bulk_task_id):
        return
    withdrawn, _ = BulkTask.objects.filter(
        pk=bulk_task_id, status=BulkTask.Status.PENDING, attempts=0
    ).delete()
    if not withdrawn:
        return
    bulk_task_storage().delete(key)
    raise ServiceUnavailable(
        "The task could not be queued, so the upload was not kept; retry in a few seconds"
    )


@transaction.atomic
def bulk_task_retry(*, bulk_task: BulkTask) -> BulkTask:
    """Send a failed task back to the queue; chunks already done are not applied again.

    A task whose file has expired cannot be processed again and is left as it is.
    """
    retriable = BulkTask.objects.filter(
        pk=bulk_task.pk, status=BulkTask.Status.FAILED, file_expired_at__isnull=True
    )
    if not retriable.exists():
        bulk_task.refresh_from_db()
        return bulk_task
    # Chunk rows first, then the task row: the order a chunk's transaction locks
    # them in, so a retry and a chunk finishing cannot deadlock on PostgreSQL.
    # Its chunks not done start afresh, attempts included, and wait for their turn.
    BulkTaskChunk.objects.filter(task_id=bulk_task.pk).exclude(
        status=BulkTaskChunk.Status.DONE
    ).update(
        status=BulkTaskChunk.Status.PENDING,
        attempts=0,
        lease_owner="",
        lease_expires_at=None,
        queued_at=None,
    )
    # The retention sweep holds the row while it deletes a task's files: this
    # waits for it, then finds the file expired and changes nothing.
    updated = retriable.update(
        status=BulkTask.Status.PENDING,
        error="",
        attempts=0,
        lease_owner="",
        lease_expires_at=None,
        finished_at=None,
        updated_at=timezone.now(),
    )
    if updated:
        transaction.on_commit(lambda: bulk_task_enqueue(bulk_task_id=bulk_task.pk))
    else:
        # Retried by someone else meanwhile: leave its chunks as they were.
        transaction.set_rollback(True)
    bulk_task.refresh_from_db()
    return bulk_task


def open_stored_file(bulk_task: BulkTask) -> IO[bytes]:
    """The task's original file, for staff to download."""
    return bulk_task_storage().open(bulk_task.file_key, "rb")
