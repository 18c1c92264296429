"""Where uploaded files are kept: Django's storage API, local by default, S3 when configured."""

from __future__ import annotations

import contextlib
import errno
import re
import unicodedata
from pathlib import PurePosixPath

from django.core.files.storage import Storage, storages

from bulktasks.models import BulkTask, BulkTaskChunk, StorageProvider

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # pragma: no cover - boto3 comes with django-storages[s3]
    BotoCoreError = ClientError = None  # type: ignore[assignment, misc]

STORAGE_ALIAS = "bulktasks"
# S3 answers that mean "not now" rather than "not this request"; AccessDenied,
# NoSuchBucket and the like are configuration errors, and stay 500s.
_S3_TRANSIENT_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling"}
)
# A local disk that is full, read-only for the moment, or failing.
_DISK_TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})


class StorageUnavailable(Exception):
    """The file storage did not answer, or answered "not now": try again later."""


def storage_is_unavailable(exc: BaseException) -> bool:
    """True when a storage call failed because the storage is away, not because of the request."""
    if BotoCoreError is not None and isinstance(exc, BotoCoreError):
        return True  # cannot connect, timed out, connection reset
    if ClientError is not None and isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in _S3_TRANSIENT_CODES or status >= 500
    return isinstance(exc, OSError) and exc.errno in _DISK_TRANSIENT_ERRNOS


KEY_MAX_LENGTH = 256
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def bulk_task_storage() -> Storage:
    """The storage that holds uploaded files (settings.STORAGES["bulktasks"])."""
    return storages[STORAGE_ALIAS]


def original_name_clean(name: str) -> str:
    """A client's file name without folders or control characters, at most 256 characters."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    printable = "".join(char for char in base if unicodedata.category(char)[0] != "C").strip()
    return printable[:256] or "upload"


def storage_key_for(
    *, organization_id: str, bulk_task_id: str, original_name: str, max_length: int = KEY_MAX_LENGTH
) -> str:
    """A storage key that groups files by organization and never collides between tasks."""
    safe = _UNSAFE.sub("-", original_name).strip("-.") or "upload"
    prefix = storage_folder_for(organization_id=organization_id, bulk_task_id=bulk_task_id)
    return prefix + safe[: max_length - len(prefix)]


def storage_folder_for(*, organization_id: str, bulk_task_id: str) -> str:
    """The folder (key prefix, ending in "/") under which every file of a task is stored."""
    return f"bulk-tasks/{organization_id}/{bulk_task_id}/"


def bulk_task_stored_files(*, bulk_task: BulkTask) -> list[str]:
    """Every storage key the service holds for the task: its upload, a spreadsheet's rows copy,
    an export's result and parts, and anything else in its folder (a copy whose scan died
    before recording it, a part a dead worker never recorded).

    Every file stored for a task goes under its folder (``storage_folder_for``; an
    export's ``parts/`` and ``result/`` too), so a file is found here without this
    function knowing it; the keys the rows name come first, in case one was stored
    elsewhere.
    """
    named = [bulk_task.file_key, bulk_task.rows_key, bulk_task.result_key]
    if bulk_task.result_format:
        # An export's parts are recorded on its chunks until the join deletes them.
        named += (
            BulkTaskChunk.objects.filter(task_id=bulk_task.pk)
            .exclude(part_key="")
            .values_list("part_key", flat=True)
        )
    keys: list[str] = []
    for key in named:
        if key and key not in keys:
            keys.append(key)
    folder = storage_folder_for(
        organization_id=bulk_task.organization_id, bulk_task_id=bulk_task.pk
    )
    for key in _folder_files(folder):
        if key not in keys:
            keys.append(key)
    return keys


def _folder_files(folder: str) -> list[str]:
    storage = bulk_task_storage()
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:
        return []  # local storage: the folder is gone, nothing is left in it
    keys = [folder + name for name in sorted(files)]
    for name in sorted(folders):
        keys += _folder_files(f"{folder}{name}/")
    return keys


def bulk_task_files_delete(*, bulk_task: BulkTask) -> list[str]:
    """Delete every file stored for the task (a file already gone is not an error); return their keys.

    The task's row keeps its keys: what the files were stays on record.
    """
    storage = bulk_task_storage()
    keys = bulk_task_stored_files(bulk_task=bulk_task)
    for key in keys:
        storage.delete(key)
    if not getattr(storage, "bucket_name", ""):
        # Local storage leaves the emptied folders behind; S3 has no folders.
        folder = storage_folder_for(
            organization_id=bulk_task.organization_id, bulk_task_id=bulk_task.pk
        )
        folders = {key.rsplit("/", 1)[0] for key in keys} | {folder.rstrip("/")}
        for directory in sorted(folders, reverse=True):
            # Not empty, or not ours to remove: it stays.
            with contextlib.suppress(OSError):
                storage.delete(directory)
    return keys


def storage_key_max_length(provider: StorageProvider) -> int:
    """The longest key whose ``location`` still fits the contract's 256 characters."""
    return KEY_MAX_LENGTH - len(storage_location(provider=provider, key=""))


def storage_provider_current() -> StorageProvider:
    """The StorageProvider record describing the configured storage, created on first use."""
    storage = bulk_task_storage()
    bucket = getattr(storage, "bucket_name", "") or ""
    if bucket:
        region = getattr(storage, "region_name", "") or ""
        provider, _ = StorageProvider.objects.get_or_create(
            name=f"s3:{bucket}",
            defaults={"kind": StorageProvider.Kind.S3, "bucket": bucket, "region": region},
        )
        return provider
    provider, _ = StorageProvider.objects.get_or_create(
        name="local", defaults={"kind": StorageProvider.Kind.FILESYSTEM}
    )
    return provider


def storage_location(*, provider: StorageProvider, key: str) -> str:
    """A stable address of the stored file: ``s3://bucket/key``; nothing for local files."""
    if provider.kind == StorageProvider.Kind.S3:
        return f"s3://{provider.bucket}/{key}"
    return ""


def export_parts_folder(*, organization_id: str, bulk_task_id: str) -> str:
    """Where an export's chunks write their parts, until the result is joined from them."""
    folder = storage_folder_for(organization_id=organization_id, bulk_task_id=bulk_task_id)
    return folder + "parts/"


def export_results_folder(*, organization_id: str, bulk_task_id: str) -> str:
    """Where an export's result is written."""
    folder = storage_folder_for(organization_id=organization_id, bulk_task_id=bulk_task_id)
    return folder + "result/"
