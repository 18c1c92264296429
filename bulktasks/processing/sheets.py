"""A spreadsheet's first step in the scan: its first sheet, read once into a copy chunks can seek into.

Chunks start reading at a byte offset, which a ZIP archive does not allow. So
the scan streams the sheet's rows once into a text copy (``readers.rows``),
stores it beside the upload, and records its key on the task; from then on the
scan and every chunk read the copy, and a spreadsheet is chunked, spread over
workers and resumed like any CSV file.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator

from django.core.files import File
from django.utils import timezone

from bulktasks.models import BulkTask
from bulktasks.processing.leases import LeaseLost
from bulktasks.readers import DEFAULT_MAX_LINE_LENGTH
from bulktasks.readers.rows import rows_copy_write
from bulktasks.readers.xlsx import iter_sheet_rows
from bulktasks.storage import (
    bulk_task_storage,
    storage_key_for,
    storage_key_max_length,
    storage_provider_current,
)


def sheet_rows_copy(*, bulk_task: BulkTask, owner: str, keep_lease: Callable[[], None]) -> str:
    """Copy the task's first sheet into a stored rows copy, record its key, and return it.

    The key is recorded only once the copy is stored whole, and only while this
    worker holds the scan: a scan taken over later reuses it. A worker that lost
    the scan meanwhile deletes its own copy (each copy has a name of its own, so
    it can never be another worker's) and raises LeaseLost.
    """
    storage = bulk_task_storage()
    provider = bulk_task.storage_provider or storage_provider_current()
    max_length = storage_key_max_length(provider)
    with tempfile.TemporaryFile(suffix=".jsonl") as copy:
        with storage.open(bulk_task.file_key, "rb") as workbook:
            # The lease is kept while a big shared strings table loads, too.
            rows = iter_sheet_rows(workbook, progress=keep_lease)
            rows_copy_write(
                _renewing(rows, keep_lease), copy, max_line_length=DEFAULT_MAX_LINE_LENGTH
            )
        copy.seek(0)
        name = storage_key_for(
            organization_id=bulk_task.organization_id,
            bulk_task_id=bulk_task.pk,
            original_name=f"rows-{uuid.uuid4().hex[:12]}.jsonl",
            max_length=max_length,
        )
        key = storage.save(name, File(copy, name=name), max_length=max_length)
    recorded = BulkTask.objects.filter(
        pk=bulk_task.pk,
        lease_owner=owner,
        status=BulkTask.Status.IN_PROGRESS,
        scanned_at__isnull=True,
    ).update(rows_key=key, updated_at=timezone.now())
    if not recorded:
        storage.delete(key)
        raise LeaseLost(bulk_task.pk)
    bulk_task.rows_key = key
    return key


def _renewing(
    rows: Iterable[tuple[int, list[str]]], keep_lease: Callable[[], None]
) -> Iterator[tuple[int, list[str]]]:
    """The rows, with a look at the lease after each: a big sheet outlasts a lease.

    ``keep_lease`` only reads the clock until it is time to renew or to look for a
    cancel, so it is cheap per row; counting rows instead would let a few rows of
    megabytes each run past the lease unrenewed.
    """
    for row in rows:
        keep_lease()
        yield row
