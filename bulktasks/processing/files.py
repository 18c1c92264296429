"""Reading a task's stored file from a byte offset: a seek on disk, a ranged GET on S3."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from bulktasks.models import BulkTask
from bulktasks.readers.rows import ROWS
from bulktasks.storage import bulk_task_storage


@contextmanager
def stored_file_range(key: str, *, start: int = 0, end: int | None = None) -> Iterator[IO[bytes]]:
    """The stored file's bytes from ``start`` (to ``end``, exclusive, where that saves a download).

    A chunk near the end of a 100 MB file reads only its own bytes: nothing before
    ``start`` is downloaded or parsed.
    """
    storage = bulk_task_storage()
    if getattr(storage, "bucket_name", ""):
        body = _s3_range(storage, key, start, end)
        try:
            yield body
        finally:
            body.close()
        return
    with storage.open(key, "rb") as stream:
        if start:
            stream.seek(start)
        yield stream


def _s3_range(storage: Any, key: str, start: int, end: int | None) -> Any:
    # django-storages' S3File downloads the whole object on first read; a ranged
    # GET streams just the chunk's bytes.
    from storages.utils import clean_name

    name = storage._normalize_name(clean_name(key))
    span = f"bytes={start}-{end - 1}" if end is not None and end > start else f"bytes={start}-"
    try:
        return storage.bucket.Object(name).get(Range=span)["Body"]
    except Exception as exc:
        response = getattr(exc, "response", None) or {}
        if response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise FileNotFoundError(key) from exc
        raise


@dataclass(frozen=True, slots=True)
class RecordsSource:
    """What a task's records are read from: its upload, or the copy of a spreadsheet's rows."""

    key: str
    mimetype: str


def records_source(bulk_task: BulkTask) -> RecordsSource:
    """The stored file the scan and the chunks read records from."""
    if bulk_task.rows_key:
        return RecordsSource(key=bulk_task.rows_key, mimetype=ROWS)
    return RecordsSource(key=bulk_task.file_key, mimetype=bulk_task.file_mimetype)
