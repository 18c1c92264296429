"""Receiving an upload: stream it to a temporary file, hashing and size-checking on the way."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpRequest

from core.exceptions import PayloadTooLarge
from core.uploads import RefuseFilesUploadHandler


def max_file_size() -> int:
    """The upload limit in bytes (BULK_TASK_MAX_FILE_SIZE)."""
    return int(settings.BULK_TASK_MAX_FILE_SIZE)


def too_large_message() -> str:
    """The 413 message, naming the limit."""
    return f"Payload too large: files are limited to {max_file_size()} bytes"


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Writes each uploaded file to disk, computing its SHA-256 and refusing it past the limit.

    Hashing while the bytes arrive saves reading a 100 MB file a second time, and
    stopping at the limit means an oversized upload never fills the disk.
    """

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._sha256 = hashlib.sha256()
        self._received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self._received += len(raw_data)
        if self._received > max_file_size():
            self.file.close()
            raise PayloadTooLarge(too_large_message())
        self._sha256.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int) -> UploadedFile | None:
        uploaded = super().file_complete(file_size)
        if uploaded is not None:
            uploaded.sha256 = self._sha256.hexdigest()  # type: ignore[attr-defined]
        return uploaded


def file_sha256(file: Any) -> str:
    """The SHA-256 of a file object: the one computed on upload, or read now."""
    known = getattr(file, "sha256", None)
    if known:
        return str(known)
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in iter(lambda: file.read(1024 * 1024), b""):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


def upload_handlers_install(request: HttpRequest) -> None:
    """Let this request's file part stream to disk, hashed (the default handler refuses files).

    Only the upload views call it, for a caller already allowed to upload, and
    before anything has read the body: Django refuses a change after that.
    """
    request.upload_handlers = [HashingUploadHandler(request)]


class NotedRefuseFilesUploadHandler(RefuseFilesUploadHandler):
    """Refuse a file part as the default handler does, and note on the request that one came."""

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        self.request._file_part_refused = True  # type: ignore[union-attr]
        super().new_file(*args, **kwargs)


def file_parts_refuse(request: HttpRequest) -> None:
    """For a caller who may not upload: store no file part, but let the view tell one came."""
    request.upload_handlers = [NotedRefuseFilesUploadHandler(request)]


def file_part_refused(request: HttpRequest) -> bool:
    """Whether ``file_parts_refuse`` turned a file part of this request away."""
    return bool(getattr(request, "_file_part_refused", False))
