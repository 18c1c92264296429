"""A stored file's original rows, numbered as the import numbers them: one reader per format.

Each reader gives the file's header (its column names as written) and then, in
line order, each record's line and cells exactly as the file holds them, so
that an errored line can be shown as it was uploaded. A record that cannot be
split into cells (a line too long to keep, a NUL character, a broken quote,
invalid JSON) comes with ``None``. Reading stops quietly where the import would
have failed the whole file: no errored line lies beyond that point.

The reader for a task is chosen by its file type in ``ORIGINAL_ROWS``, the one
place a new format plugs in.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from bulktasks import sniffing
from bulktasks.actions import action_get
from bulktasks.models import BulkTask
from bulktasks.readers.csv import _csv_field_limit, _Dialect, _skip_rest_of_record
from bulktasks.readers.lines import LineProblem as _LineProblem
from bulktasks.readers.lines import Lines as _Lines
from bulktasks.readers.records import DEFAULT_MAX_LINE_LENGTH, ByteStream, FileFormatError
from bulktasks.readers.rows import parsed_row, rows_line_budget

# A record's line, and its cells as uploaded (None: it could not be split into cells).
OriginalRow = tuple[int, list[str] | None]


@dataclass(slots=True)
class OriginalRows:
    """A file's header, as written, and an iterator of its records' original rows in line order."""

    header: list[str]
    rows: Iterator[OriginalRow]


OriginalRowsReader = Callable[[ByteStream, BulkTask], OriginalRows]


def action_columns(bulk_task: BulkTask) -> list[str]:
    """The task's action's columns: the header when the file has none that can be read."""
    action = action_get(bulk_task.action)
    return list(action.column_names) if action is not None else []


# -- CSV -------------------------------------------------------------------------------


def csv_original_rows(stream: ByteStream, bulk_task: BulkTask) -> OriginalRows:
    """The header row's cells and each record's cells, split by the import's own CSV dialect.

    Cells keep everything the import's parser leaves in them, surrounding spaces
    included (the import strips those before it validates); quotes around a value
    and doubled quotes inside it are CSV syntax, not content, and are undone.
    """
    records = _csv_records(stream)
    _, header = next(records)
    if header is None:
        records.close()
        return OriginalRows(header=action_columns(bulk_task), rows=iter(()))
    return OriginalRows(header=header, rows=records)


def _csv_records(stream: ByteStream) -> Generator[OriginalRow]:
    """The header row first (line 0; None if it cannot be read), then each record, as the import numbers them.

    The numbering follows ``readers._read_csv`` step by step: a record is
    reported at the line it starts on, blank rows are skipped but counted, and a
    refused line is skipped to where the next record starts.
    """
    lines = _Lines(stream, DEFAULT_MAX_LINE_LENGTH)
    with _csv_field_limit(DEFAULT_MAX_LINE_LENGTH + 1):
        reader = csv.reader(lines, _Dialect)
        try:
            header = _csv_header(reader, lines)
            yield 0, header
            if header is None:
                return
            while True:
                start = lines.line_no + 1
                lines.budget = DEFAULT_MAX_LINE_LENGTH
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except _LineProblem as problem:
                    yield start, None
                    _skip_rest_of_record(lines, problem, start)
                    continue
                except csv.Error:
                    if lines.exhausted:
                        return  # a quote left open to the end of the file
                    yield start, None
                    continue
                if any(cell.strip() for cell in row):
                    yield start, row
        except FileFormatError:
            return  # not UTF-8 from here on: the scan failed the file at this point


def _csv_header(reader: Iterator[list[str]], lines: _Lines) -> list[str] | None:
    """The first row with a non-blank cell, as the import finds it; None if it cannot be read."""
    while True:
        lines.budget = DEFAULT_MAX_LINE_LENGTH
        try:
            row = next(reader)
        except (StopIteration, _LineProblem, csv.Error, FileFormatError):
            return None
        if any(cell.strip() for cell in row):
            return row


# -- JSON Lines -------------------------------------------------------------------------


class _Members(list[tuple[str, Any]]):
    """A JSON object's members in order, duplicates kept."""


def json_lines_original_rows(stream: ByteStream, bulk_task: BulkTask) -> OriginalRows:
    """Keys in order of first appearance (recorded by the scan) as the header; each line's values under them.

    A task scanned before the keys were recorded has its action's columns as the
    header. A key is matched to a header column as the import matches columns
    (ignoring case and surrounding spaces); a key not in the header is left out.
    """
    header = list(bulk_task.file_header or []) or action_columns(bulk_task)
    return OriginalRows(header=header, rows=_json_rows(stream, header))


def _json_rows(stream: ByteStream, header: list[str]) -> Iterator[OriginalRow]:
    lines = _Lines(stream, DEFAULT_MAX_LINE_LENGTH)
    decoder = json.JSONDecoder(
        object_pairs_hook=_Members, parse_float=_Number, parse_int=_Number, parse_constant=_Number
    )
    positions = {_canonical(name): index for index, name in enumerate(header)}
    try:
        while True:
            lines.budget = DEFAULT_MAX_LINE_LENGTH
            try:
                line = next(lines)
            except StopIteration:
                return
            except _LineProblem as problem:
                yield problem.line, None
                continue
            if line.strip():
                yield lines.line_no, _json_cells(line, decoder, positions, len(header))
    except FileFormatError:
        return


def _json_cells(
    line: str, decoder: json.JSONDecoder, positions: dict[str, int], width: int
) -> list[str] | None:
    try:
        parsed = decoder.decode(line.rstrip("\r\n"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(parsed, _Members):
        return None
    cells = [""] * width
    seen: set[int] = set()
    for key, value in parsed:
        index = positions.get(_canonical(key))
        # A key given twice keeps its first value, the one the import names.
        if index is not None and index not in seen:
            seen.add(index)
            cells[index] = _json_text(value)
    return cells


class _Number(str):
    """A JSON number as written: "1.50" stays "1.50", not what Python would print."""


def _json_text(value: Any) -> str:
    """A JSON value as a cell: text as it is, null empty, anything else as compact JSON."""
    if isinstance(value, str) and not isinstance(value, _Number):
        return value
    if value is None:
        return ""
    return _json_compact(value)


def _json_compact(value: Any) -> str:
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None or value is True or value is False:
        return json.dumps(value)
    if isinstance(value, _Members):
        members = ",".join(f"{_json_compact(key)}:{_json_compact(item)}" for key, item in value)
        return "{" + members + "}"
    return "[" + ",".join(_json_compact(item) for item in value) + "]"


def _canonical(name: str) -> str:
    return name.strip().casefold()


# -- Spreadsheets ---------------------------------------------------------------------------


def rows_copy_original_rows(stream: ByteStream, bulk_task: BulkTask) -> OriginalRows:
    """A workbook's rows, read from the copy its scan stored (one line per non-blank sheet row).

    The copy holds each row's cell texts as the import read them, surrounding
    spaces kept, and the sheet's row numbers, which are the report's lines.
    """
    records = _rows_copy_records(stream)
    first = next(records, None)
    if first is None:
        return OriginalRows(header=action_columns(bulk_task), rows=iter(()))
    return OriginalRows(header=first[1] or action_columns(bulk_task), rows=records)


def _rows_copy_records(stream: ByteStream) -> Generator[OriginalRow]:
    budget = rows_line_budget(DEFAULT_MAX_LINE_LENGTH)
    lines = _Lines(stream, budget)
    while True:
        lines.budget = budget
        try:
            line = next(lines)
        except StopIteration:
            return
        number, cells, problem = parsed_row(line)
        yield number, None if problem else cells


# -- The reader of each file type ----------------------------------------------------------

ORIGINAL_ROWS: dict[str, OriginalRowsReader] = {
    sniffing.CSV: csv_original_rows,
    sniffing.JSON_LINES: json_lines_original_rows,
    # A workbook is read from its rows copy (``BulkTask.rows_key``), not from the ZIP.
    sniffing.XLSX: rows_copy_original_rows,
}


def original_rows_key(bulk_task: BulkTask) -> str | None:
    """The stored file the original rows are read from; None when there is none yet.

    A workbook's rows are read from the copy its scan stored: until the scan has
    stored it, the task has no errored line to show.
    """
    if bulk_task.file_mimetype.partition(";")[0].strip().lower() == sniffing.XLSX:
        return bulk_task.rows_key or None
    return bulk_task.file_key


def original_rows(stream: ByteStream, bulk_task: BulkTask) -> OriginalRows:
    """The original rows of the task's file, read by the reader of its type."""
    kind = bulk_task.file_mimetype.partition(";")[0].strip().lower()
    reader = ORIGINAL_ROWS.get(kind)
    if reader is None:
        # An empty file, or a type no reader knows: no record, so no errored line.
        return OriginalRows(header=action_columns(bulk_task), rows=iter(()))
    return reader(stream, bulk_task)
