"""Writes for bulk tasks: create one from an upload, cancel or retry it; processing is in ``processing``."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef
from django.utils import timezone

from bulktasks import sniffing
from bulktasks.actions import ExportAction, action_get
from bulktasks.columns import (
    column_mapping_check_header,
    column_mapping_clean,
    column_mapping_fingerprint,
)
from bulktasks.containers import ZipLimits
from bulktasks.exports import DEFAULT_FORMAT
from bulktasks.exports.limits import export_rows_check
from bulktasks.models import BulkTask, BulkTaskChunk, BulkTaskLine, IdempotencyKey
from bulktasks.processing.dispatch import bulk_task_enqueue, organization_dispatch
from bulktasks.processing.finish import counts, log_context, task_finished
from bulktasks.readers import csv_header_cells
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
    BulkTaskFinished,
    EntityNotFound,
    IdempotencyKeyReused,
    PayloadTooLarge,
    ServiceUnavailable,
    UnknownAction,
    UnreadableWorkbook,
    UnsupportedFileType,
    UnsupportedWorkbook,
    ValidationFailed,
)
from core.ids import object_id
from users.models import Organization, User

logger = logging.getLogger(__name__)


def bulk_task_submit(
    *,
    organization: Organization,
    created_by: User | None,
    action: str,
    file: Any | None = None,
    original_name: str = "",
    override: bool = False,
    dry_run: bool = False,
    result_format: str | None = None,
    idempotency_key: str | None = None,
    enqueue: bool = True,
    columns: Mapping[str, str] | None = None,
) -> tuple[BulkTask, bool]:
    """Start a task of any action: an upload for one that reads a file, an export for one that makes one.

    A file for an export, a format for an import, or no file for an import is
    refused (400, naming the field), never silently ignored; so are a dry run
    and a column mapping for an export.
    """
    handler = action_get(action)
    if handler is None:
        raise UnknownAction(
            f"Unknown action {action[:100]!r}; known actions: {', '.join(_known())}"
        )
    if handler.reads_file:
        if result_format is not None:
            raise ValidationFailed(
                f"format: {action} reads a file and produces none; leave format out"
            )
        if file is None:
            raise ValidationFailed("file: This field is required.")
        return bulk_task_create(
            organization=organization,
            created_by=created_by,
            action=action,
            file=file,
            original_name=original_name,
            override=override,
            dry_run=dry_run,
            idempotency_key=idempotency_key,
            enqueue=enqueue,
            columns=columns,
        )
    if file is not None:
        raise ValidationFailed(f"file: {action} reads no file; send the form without one")
    if columns is not None:
        raise ValidationFailed(f"columns: {action} reads no file to map; leave columns out")
    return bulk_task_export_create(
        organization=organization,
        created_by=created_by,
        action=action,
        result_format=result_format or DEFAULT_FORMAT,
        override=override,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
        enqueue=enqueue,
    )


def bulk_task_export_create(
    *,
    organization: Organization,
    created_by: User | None,
    action: str,
    result_format: str = DEFAULT_FORMAT,
    override: bool = False,
    dry_run: bool = False,
    idempotency_key: str | None = None,
    enqueue: bool = True,
) -> tuple[BulkTask, bool]:
    """Create a pending export: no file is read, a result file in ``result_format`` is made.

    Idempotency-Keys work as for uploads; the format is part of what a key stands for.
    A dry run is refused: an export writes nothing to the action's tables, so a
    dry run would be the export itself, and a client asking for one expects no file.
    """
    handler = action_get(action)
    if not isinstance(handler, ExportAction):
        raise UnknownAction(
            f"Unknown export action {action[:100]!r}; known actions: {', '.join(_known())}"
        )
    if result_format not in handler.formats:
        raise ValidationFailed(f"format: must be one of {', '.join(handler.formats)}")
    if override and not handler.takes_override:
        raise ValidationFailed(f"override: {action} has nothing to override; leave it false")
    if dry_run:
        raise ValidationFailed(f"dryRun: {action} writes nothing to preview; leave it false")
    fingerprint = hashlib.sha256(
        f"{action}\n{override}\nformat:{result_format}".encode()
    ).hexdigest()
    if idempotency_key and created_by is not None:
        replay = _idempotent_replay(organization, created_by, idempotency_key, fingerprint)
        if replay is not None:
            return replay, False
    export_rows_check(action=handler, organization_id=organization.pk, result_format=result_format)
    bulk_task_id = object_id()
    try:
        with transaction.atomic():
            bulk_task = BulkTask.objects.create(
                id=bulk_task_id,
                organization=organization,
                created_by=created_by,
                action=action,
                status=BulkTask.Status.PENDING,
                result_format=result_format,
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
                    lambda: _bulk_task_enqueue_or_withdraw(bulk_task_id=bulk_task_id, key="")
                )
    except IntegrityError:
        if idempotency_key and created_by is not None:
            replay = _idempotent_replay(organization, created_by, idempotency_key, fingerprint)
            if replay is not None:
                return replay, False
        raise
    return bulk_task, True


def bulk_task_create(
    *,
    organization: Organization,
    created_by: User | None,
    action: str,
    file: Any,
    original_name: str,
    override: bool = False,
    dry_run: bool = False,
    idempotency_key: str | None = None,
    enqueue: bool = True,
    columns: Mapping[str, str] | None = None,
) -> tuple[BulkTask, bool]:
    """Store an uploaded file and create a pending task for it; processing starts after commit.

    Returns ``(task, created)``: with an ``idempotency_key`` seen from the same user
    in the same organization within 24 hours, the earlier task and False. With
    ``enqueue=False`` the caller processes the task itself (the command line does).
    ``columns`` maps headers of the file to the action's columns (bulktasks.columns).
    """
    handler = action_get(action)
    if handler is None:
        raise UnknownAction(
            f"Unknown action {action[:100]!r}; known actions: {', '.join(_known())}"
        )
    if not handler.reads_file:
        raise ValidationFailed(f"file: {action} reads no file; send the form without one")
    if override and not handler.takes_override:
        raise ValidationFailed(f"override: {action} has nothing to override; leave it false")
    column_mapping = column_mapping_clean(columns, action=handler)
    size = int(getattr(file, "size", 0) or 0)
    if size > max_file_size():
        raise PayloadTooLarge(too_large_message())
    checksum = file_sha256(file)
    detected = _detected_type(file)
    if column_mapping:
        _column_mapping_check_file(column_mapping, file, detected.mimetype)

    fingerprint = _fingerprint(
        action=action,
        override=override,
        checksum=checksum,
        dry_run=dry_run,
        column_mapping=column_mapping,
    )
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
                dry_run=dry_run,
                column_mapping=column_mapping,
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


def _detected_type(file: Any) -> sniffing.Detected:
    """The upload's type from its bytes; a workbook refused, or another type, is the request's error."""
    detected = sniffing.detect_file(file, limits=ZipLimits.from_settings())
    if detected.refusal:
        if detected.unreadable:
            raise UnreadableWorkbook(detected.refusal)
        raise UnsupportedWorkbook(detected.refusal)
    if not detected.supported:
        raise UnsupportedFileType(
            f"Unsupported file type {detected.mimetype}: upload CSV (text/csv), JSON Lines "
            "or an Excel workbook (.xlsx)"
        )
    return detected


def _column_mapping_check_file(mapping: dict[str, str], file: Any, mimetype: str) -> None:
    """Check the mapping against a CSV's header now, when its first line has it.

    Other formats are checked by the scan: a JSON Lines file has no header, and
    reading a workbook's first row means reading its whole shared strings table.
    """
    if mimetype != sniffing.CSV:
        return
    file.seek(0)
    try:
        header = csv_header_cells(file)
    finally:
        file.seek(0)
    if header is not None:
        column_mapping_check_header(mapping, header)


def _known() -> list[str]:
    from bulktasks.actions import action_names

    return action_names()


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
    if key:
        bulk_task_storage().delete(key)
    raise ServiceUnavailable(
        "The task could not be queued, so the upload was not kept; retry in a few seconds"
    )


@transaction.atomic
def bulk_task_cancel(*, bulk_task: BulkTask, cancelled_by: User) -> BulkTask:
    """Stop a pending or running task: it is failed at once, its workers stop at a chunk boundary.

    Chunks already committed keep their counts and report lines. A chunk in
    flight commits nothing: its last statement adds its counters only to a task
    still running, so it rolls back whole and its worker gives its place back.
    Chunks waiting in the queue are taken back, and the organization's places
    go to its other tasks at once. A task already cancelled is returned as it
    is; one that completed or failed on its own raises ``BulkTaskFinished``.
    """
    # The task row first, as a chunk's transaction takes it: a chunk holding it
    # commits before this reads the status, and one waiting for it then finds
    # the task failed and rolls back.
    locked = BulkTask.objects.select_for_update().filter(pk=bulk_task.pk).first()
    if locked is None:
        raise EntityNotFound()
    if locked.is_cancelled:
        return locked
    if locked.is_finished:
        raise BulkTaskFinished(
            f"The task is already {locked.status}; only a pending or inProgress task can be cancelled"
        )
    _organization_lock(locked.organization_id)
    now = timezone.now()
    BulkTask.objects.filter(pk=locked.pk).update(
        status=BulkTask.Status.FAILED,
        error=f"Cancelled by {cancelled_by.email}",
        cancelled_at=now,
        cancelled_by=cancelled_by,
        lease_owner="",
        lease_expires_at=None,
        finished_at=now,
        updated_at=now,
    )
    # Their messages may still be in the queue: a worker starts only a queued
    # chunk, so these find nothing to do, and no longer hold the organization's places.
    BulkTaskChunk.objects.filter(task_id=locked.pk, status=BulkTaskChunk.Status.QUEUED).update(
        status=BulkTaskChunk.Status.PENDING, queued_at=None
    )
    _report_keep_done_chunks(locked)
    organization_dispatch(organization_id=locked.organization_id)
    locked.refresh_from_db()
    # A cancel is one more way a task ends: its listeners (webhooks) hear of it too.
    task_finished(bulk_task=locked, status=BulkTask.Status.FAILED)
    logger.info(
        "bulk task cancelled by %s",
        cancelled_by.email,
        extra={**log_context(locked), **counts(locked)},
    )
    return locked


def _organization_lock(organization_id: str) -> None:
    """Take the organization's dispatch turn (see ``organization_dispatch``) until commit.

    A dispatcher that queued a chunk of this task has committed by then, so the
    chunks taken back below include it; the next one finds the task failed.
    """
    if connection.features.has_select_for_update:
        list(
            Organization.objects.select_for_update(no_key=True)
            .filter(pk=organization_id)
            .values_list("pk", flat=True)
        )


def _report_keep_done_chunks(bulk_task: BulkTask) -> None:
    """Leave in the report only what committed chunks did.

    The scan records every repeated line of the whole file before any chunk
    runs; those lying in chunks that will now never run were not processed, so
    they leave the report and its error count.
    """
    not_done = BulkTaskChunk.objects.filter(
        task_id=bulk_task.pk,
        first_line__lte=OuterRef("line"),
        last_line__gte=OuterRef("line"),
    ).exclude(status=BulkTaskChunk.Status.DONE)
    unprocessed = BulkTaskLine.objects.filter(task_id=bulk_task.pk).filter(Exists(not_done))
    by_kind = dict(
        unprocessed.order_by()
        .values_list("kind")
        .annotate(lines=Count("pk"))
        .values_list("kind", "lines")
    )
    if not by_kind:
        return
    unprocessed.delete()
    BulkTask.objects.filter(pk=bulk_task.pk).update(
        num_errors=F("num_errors") - by_kind.get(BulkTaskLine.Kind.ERRORED, 0),
        num_skips=F("num_skips") - by_kind.get(BulkTaskLine.Kind.SKIPPED, 0),
    )


@transaction.atomic
def bulk_task_retry(*, bulk_task: BulkTask) -> BulkTask:
    """Send a failed task back to the queue; chunks already done are not applied again.

    A cancelled task is left as it is: someone decided it should stop, and its
    report no longer holds the repeated lines of the chunks it never ran. A task
    whose file has expired cannot be processed again and is left as it is too.
    """
    retryable = BulkTask.objects.filter(
        pk=bulk_task.pk,
        status=BulkTask.Status.FAILED,
        cancelled_at__isnull=True,
        file_expired_at__isnull=True,
    )
    if not retryable.exists():
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
    updated = retryable.update(
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


def open_result_file(bulk_task: BulkTask) -> IO[bytes]:
    """An export's result file, for its download."""
    return bulk_task_storage().open(bulk_task.result_key, "rb")
