"""Create a bulk task: an upload that stores its file, or an export that will make one.

Both honour an Idempotency-Key (see ``idempotency``) and queue the task once it is committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from bulktasks import sniffing
from bulktasks.actions import ExportAction, action_get
from bulktasks.columns import column_mapping_check_header, column_mapping_clean
from bulktasks.containers import ZipLimits
from bulktasks.exports import DEFAULT_FORMAT
from bulktasks.exports.limits import export_rows_check
from bulktasks.models import BulkTask, IdempotencyKey
from bulktasks.processing.dispatch import bulk_task_enqueue
from bulktasks.readers import csv_header_cells
from bulktasks.services.idempotency import _fingerprint, _idempotent_replay
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
            _bulk_task_remember_and_enqueue(
                bulk_task, idempotency_key, fingerprint, enqueue=enqueue, key=""
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
            _bulk_task_remember_and_enqueue(
                bulk_task, idempotency_key, fingerprint, enqueue=enqueue, key=key
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


def _bulk_task_remember_and_enqueue(
    bulk_task: BulkTask, idempotency_key: str | None, fingerprint: str, *, enqueue: bool, key: str
) -> None:
    """In the transaction that created the task: record its Idempotency-Key, queue it after commit.

    ``key`` is the stored file's, taken back if the task cannot be queued; an export has none.
    """
    if idempotency_key and bulk_task.created_by_id is not None:
        IdempotencyKey.objects.create(
            organization_id=bulk_task.organization_id,
            user_id=bulk_task.created_by_id,
            key=idempotency_key,
            fingerprint=fingerprint,
            bulk_task=bulk_task,
        )
    if enqueue:
        bulk_task_id = bulk_task.pk
        transaction.on_commit(
            lambda: _bulk_task_enqueue_or_withdraw(bulk_task_id=bulk_task_id, key=key)
        )


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
