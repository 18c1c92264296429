"""The scan: read the whole file once, before any write, and cut it into chunks.

It finds what fails a file (bad encoding, a broken header, an open quote), counts
the items, finds the lines that repeat an earlier line across the whole file,
and records where each chunk starts, so that chunks can then run on any worker
in any order. Memory stays flat: 12 bytes per keyed line, whatever the lines hold,
and 8 more per repeated line; rows are written in batches, never all at once.
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice, pairwise

from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from bulktasks import sniffing
from bulktasks.actions import Action
from bulktasks.models import BulkTask, BulkTaskChunk, BulkTaskLine
from bulktasks.processing.dispatch import organization_dispatch
from bulktasks.processing.files import records_source, stored_file_range
from bulktasks.processing.finish import task_complete
from bulktasks.processing.leases import LeaseLost, lease_duration
from bulktasks.processing.sheets import sheet_rows_copy
from bulktasks.readers import Position, Record, RecordReader
from bulktasks.storage import bulk_task_storage

# How many records the scan reads between two looks at the clock.
_SCAN_CLOCK_EVERY = 10_000
# How often a scan looks whether its task was cancelled meanwhile: a cancel
# stops a long scan within about this (plus one clock look's worth of records).
_STOP_CHECK_SECONDS = 0.5
REASON_MAX_LENGTH = 1000
# Rows per INSERT: PostgreSQL takes at most 65,535 parameters in one statement
# (a chunk row has 18, a report line 4), and a batch is built only when written.
WRITE_BATCH = 2000

# Slices of the hash space sorted one at a time (a power of two).
_HASH_PARTS = 16


@dataclass(slots=True)
class _Span:
    """One chunk as the scan found it."""

    start: Position
    first_line: int
    last_line: int = 0
    records: int = 0
    end_offset: int = 0


def bulk_task_scan(
    *, bulk_task: BulkTask, owner: str, action: Action, dispatch: bool = True
) -> tuple[BulkTask, int | None]:
    """Scan the task's file, record its chunks and duplicates, and start dispatching.

    Returns the task and the id of a chunk dispatched to this worker to run itself
    (None when the organization is at its cap, or with ``dispatch=False``).
    The lease is renewed as the scan goes, so a scan longer than a lease is not
    handed to another worker midway.
    """
    size = max(1, int(settings.BULK_TASK_CHUNK_SIZE))
    spans: list[_Span] = []
    # The keyed lines: a 64-bit hash of each key and its line; exact keys are
    # only looked at again for the few lines whose hash repeats.
    hashes: array[int] = array("q")
    keyed_lines: array[int] = array("I")
    keyed = type(action).key is not Action.key
    renew_after = settings.BULK_TASK_LEASE_SECONDS / 3
    renewed = looked = time.monotonic()

    def keep_lease() -> None:
        nonlocal renewed, looked
        now = time.monotonic()
        if now - renewed >= renew_after:
            _renew_lease(bulk_task, owner)
            renewed = looked = time.monotonic()
        elif now - looked >= _STOP_CHECK_SECONDS:
            _raise_if_stopped(bulk_task, owner)
            looked = time.monotonic()

    count = 0
    span: _Span | None = None
    # Lines applied before chunks existed (see BulkTask.resume_after_line): their
    # own chunks, recorded done, so neither their writes nor counters repeat.
    applied = bulk_task.resume_after_line or 0
    if bulk_task.file_mimetype == sniffing.XLSX and not bulk_task.rows_key:
        sheet_rows_copy(bulk_task=bulk_task, owner=owner, keep_lease=keep_lease)
    source = records_source(bulk_task)
    with stored_file_range(source.key) as stream:
        reader = RecordReader(
            stream,
            mimetype=source.mimetype,
            columns=action.column_names,
            required=action.required_columns,
            ignored=action.ignored_columns,
            mapping=bulk_task.column_mapping,
        )
        for record in reader:
            if span is None or span.records == size or (span.last_line <= applied < record.line):
                span = _Span(start=reader.record_start, first_line=record.line)
                spans.append(span)
            span.records += 1
            span.last_line = record.line
            count += 1
            if keyed and record.values is not None:
                key = action.key(record.values)
                if key is not None:
                    hashes.append(hash(key))
                    keyed_lines.append(record.line)
            if count % _SCAN_CLOCK_EVERY == 0:
                keep_lease()
    # The copy of a spreadsheet's rows is longer than the upload it came from.
    file_end = (
        int(bulk_task.file_size or 0)
        if source.key == bulk_task.file_key
        else bulk_task_storage().size(source.key)
    )
    for current, following in pairwise(spans):
        current.end_offset = following.start.offset
    if spans:
        spans[-1].end_offset = max(file_end, spans[-1].start.offset)
    header = list(reader.header) if reader.header is not None else None
    repeats, firsts = _duplicates(bulk_task, action, hashes, keyed_lines, spans, header, keep_lease)
    del hashes, keyed_lines
    if applied:
        # Repeats among the applied lines were reported then; only the first lines count.
        kept_from = bisect_right(repeats, applied)
        repeats, firsts = repeats[kept_from:], firsts[kept_from:]

    now = timezone.now()
    kept: list[int] = []
    with transaction.atomic():
        _renew_lease(bulk_task, owner)
        _write_in_batches(
            BulkTaskChunk,
            (
                BulkTaskChunk(
                    task_id=bulk_task.pk,
                    organization_id=bulk_task.organization_id,
                    index=index,
                    start_offset=span.start.offset,
                    end_offset=span.end_offset,
                    start_lines=span.start.lines,
                    first_line=span.first_line,
                    last_line=span.last_line,
                    num_records=span.records,
                    status=(
                        BulkTaskChunk.Status.DONE
                        if span.last_line <= applied
                        else BulkTaskChunk.Status.PENDING
                    ),
                )
                for index, span in enumerate(spans)
            ),
        )
        # A repeated line's outcome is known now: recorded here, and the chunk
        # that holds it finds it recorded and leaves it alone.
        _write_in_batches(
            BulkTaskLine,
            (
                BulkTaskLine(
                    task_id=bulk_task.pk,
                    kind=BulkTaskLine.Kind.ERRORED,
                    line=line,
                    reason=action.duplicate_reason(first)[:REASON_MAX_LENGTH],
                )
                for line, first in zip(repeats, firsts, strict=True)
            ),
        )
        # The chunks hold leases of their own from now on.
        BulkTask.objects.filter(pk=bulk_task.pk).update(
            num_items=count,
            # Added: the errors of lines applied before chunks existed stay counted.
            num_errors=F("num_errors") + len(repeats),
            file_columns=header,
            # JSON Lines has no header row: its keys make the errors file's header.
            file_header=list(reader.keys.values()) or None,
            scanned_at=now,
            lease_owner="",
            lease_expires_at=None,
            updated_at=now,
        )
        if not any(span.last_line > applied for span in spans):
            # Nothing left to apply (an empty file, or one applied to its end
            # before chunks existed): no chunk will ever complete the task.
            task_complete(bulk_task=bulk_task)
        elif dispatch:
            kept = organization_dispatch(
                organization_id=bulk_task.organization_id, keep=1, first_from=bulk_task.pk
            )[:1]
    bulk_task.refresh_from_db()
    return bulk_task, (kept[0] if kept else None)


def _write_in_batches(model: type[models.Model], rows: Iterable[models.Model]) -> None:
    """Insert the rows ``WRITE_BATCH`` at a time, building each batch only when it is written."""
    rows = iter(rows)
    while batch := list(islice(rows, WRITE_BATCH)):
        model._default_manager.bulk_create(batch)


def _renew_lease(bulk_task: BulkTask, owner: str) -> None:
    """Extend this worker's hold on the scan, or raise LeaseLost (and roll back) if it is gone.

    On PostgreSQL the UPDATE also locks the task row until the scan commits, so a
    worker that lost its lease cannot record chunks beside the new owner's.
    """
    renewed = BulkTask.objects.filter(
        pk=bulk_task.pk,
        lease_owner=owner,
        status=BulkTask.Status.IN_PROGRESS,
        scanned_at__isnull=True,
    ).update(lease_expires_at=timezone.now() + lease_duration())
    if not renewed:
        raise LeaseLost(bulk_task.pk)


def _raise_if_stopped(bulk_task: BulkTask, owner: str) -> None:
    """Raise LeaseLost when the task was cancelled (or this scan taken over): stop reading.

    A read, not a renewal: the scan's final transaction renews the lease under
    the same conditions, so a scan that missed this still writes nothing.
    """
    if not BulkTask.objects.filter(
        pk=bulk_task.pk, lease_owner=owner, status=BulkTask.Status.IN_PROGRESS
    ).exists():
        raise LeaseLost(bulk_task.pk)


def _duplicates(
    bulk_task: BulkTask,
    action: Action,
    hashes: array[int],
    keyed_lines: array[int],
    spans: list[_Span],
    header: list[str] | None,
    keep_lease: Callable[[], None],
) -> tuple[array[int], array[int]]:
    """The lines whose key repeats an earlier valid line's, in line order, and the lines they repeat.

    Sorting the hashes finds the candidates; the chunks holding them are read again
    and their keys compared exactly, so a hash collision never makes a duplicate.
    The lease is renewed along this second read too: it can be most of the file.
    """
    repeats: array[int] = array("I")
    firsts_of_repeats: array[int] = array("I")
    if len(hashes) < 2:
        return repeats, firsts_of_repeats
    repeated = _repeated_hashes(hashes)
    if not repeated:
        return repeats, firsts_of_repeats
    candidates = {line for h, line in zip(hashes, keyed_lines, strict=True) if h in repeated}
    firsts = [span.first_line for span in spans]
    wanted = sorted({bisect_right(firsts, line) - 1 for line in candidates})
    first_of: dict[str, int] = {}
    read = 0
    for index in wanted:
        for record in _span_records(bulk_task, action, spans[index], header):
            read += 1
            if read % _SCAN_CLOCK_EVERY == 0:
                keep_lease()
            if record.line not in candidates or record.values is None:
                continue
            # Only a valid line can be the first of a key, or repeat one.
            if action.validate(record.values)[1] is not None:
                continue
            key = action.key(record.values)
            if key is None:
                continue
            if key in first_of:
                repeats.append(record.line)
                firsts_of_repeats.append(first_of[key])
            else:
                first_of[key] = record.line
    return repeats, firsts_of_repeats


def _repeated_hashes(hashes: array[int]) -> set[int]:
    """The hashes that occur more than once.

    Sorting them all at once would hold a Python int per keyed line (about 40
    bytes each: 40 MB at 1,000,000 lines, beside the 8 of the array itself); a
    slice of the hash space at a time holds one slice's: an eighth of the array
    beside it, and a sixteenth of the ints.
    """
    parts = [array("q") for _ in range(_HASH_PARTS)]
    for h in hashes:
        parts[h & (_HASH_PARTS - 1)].append(h)
    repeated: set[int] = set()
    while parts:
        ordered = sorted(parts.pop())
        repeated.update(a for a, b in pairwise(ordered) if a == b)
    return repeated


def _span_records(
    bulk_task: BulkTask, action: Action, span: _Span, header: list[str] | None
) -> Iterator[Record]:
    with chunk_records(
        bulk_task,
        action,
        start=span.start,
        end_offset=span.end_offset,
        records=span.records,
        header=header,
    ) as records:
        yield from records


@contextmanager
def chunk_records(
    bulk_task: BulkTask,
    action: Action,
    *,
    start: Position,
    end_offset: int,
    records: int,
    header: list[str] | None,
) -> Iterator[Iterator[Record]]:
    """The records of one chunk, read from its own bytes only."""
    source = records_source(bulk_task)
    with stored_file_range(source.key, start=start.offset, end=end_offset) as stream:
        reader = RecordReader(
            stream,
            mimetype=source.mimetype,
            columns=action.column_names,
            required=action.required_columns,
            ignored=action.ignored_columns,
            start=start,
            header=header,
            mapping=bulk_task.column_mapping,
        )
        yield islice(reader, records)
