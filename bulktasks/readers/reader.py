"""Stream the records of an uploaded CSV or JSON Lines file (or a spreadsheet's stored rows), with the line numbers people see.

Files are read in chunks and decoded incrementally, so memory stays flat whatever the
file's size, and even a single huge line is never held in memory whole. Problems with one
record come back as a ``Record`` with ``error`` set and reading goes on; problems with the
whole file raise ``FileFormatError``, the only exception bad input can cause.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from bulktasks import sniffing
from bulktasks.readers.csv import read_csv
from bulktasks.readers.headers import canonical_key, ignorable_columns
from bulktasks.readers.jsonl import read_json_lines
from bulktasks.readers.lines import Lines
from bulktasks.readers.records import (
    DEFAULT_MAX_LINE_LENGTH,
    ByteStream,
    FileFormatError,
    Position,
    Record,
)
from bulktasks.readers.rows import ROWS, read_rows, rows_line_budget


def read_records(
    stream: ByteStream,
    *,
    mimetype: str,
    columns: Sequence[str],
    required: Sequence[str] = (),
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
    mapping: Mapping[str, str] | None = None,
    ignored: Sequence[str] = (),
) -> Iterator[Record]:
    """Yield the file's records in order; raise FileFormatError for file-level problems."""
    yield from RecordReader(
        stream,
        mimetype=mimetype,
        columns=columns,
        required=required,
        max_line_length=max_line_length,
        mapping=mapping,
        ignored=ignored,
    )


class RecordReader:
    """The records of a file, as ``read_records`` yields them, and where reading stands.

    With each record handed out, ``record_start`` is where reading that record
    began (blank lines before it included), so a later reader can begin there: given the stream already at ``start.offset`` (seeked, or a
    ranged read) and, for CSV, the ``header`` the first reader found, it numbers
    lines as the first one did without reading anything before ``start``.

    ``ignored`` columns (an action's ``ignored_columns``; an errors file's two
    always) are accepted and left out of every record: in JSON Lines whatever
    their JSON type. A CSV file or sheet whose header has one of them is a file
    the service wrote, so its cells get back the value formula neutralization
    changed (``core.spreadsheets``).
    """

    def __init__(
        self,
        stream: ByteStream,
        *,
        mimetype: str,
        columns: Sequence[str],
        required: Sequence[str] = (),
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        start: Position | None = None,
        header: Sequence[str] | None = None,
        mapping: Mapping[str, str] | None = None,
        ignored: Sequence[str] = (),
    ) -> None:
        self._stream = stream
        self._mimetype = mimetype
        self._columns = tuple(columns)
        self._ignored = tuple(ignored)
        self._ignorable = ignorable_columns(self._columns, ignored)
        self._required = tuple(required)
        self._max_length = max_line_length
        self._start = start
        # A header in the file to the action's column it holds (the ``columns`` option).
        self.mapping = dict(mapping) if mapping else None
        # The file's column names in its order (CSV and spreadsheets), once its header is read.
        self.header: tuple[str, ...] | None = tuple(header) if header is not None else None
        # (offset, lines) where reading the last record handed out began.
        self.mark = (start.offset, start.lines) if start else (0, 0)
        # A JSON Lines file's keys as first spelled, by canonical name, in order of
        # first appearance (at most JSON_KEYS_LIMIT): the errors file's header.
        self.keys: dict[str, str] = {}

    @property
    def record_start(self) -> Position:
        """Where reading the record last handed out began: a place to resume from."""
        return Position(*self.mark)

    def __iter__(self) -> Iterator[Record]:
        _check_arguments(self._columns, self._required, self._max_length, self._ignored)
        # Parameters such as "; charset=utf-8" do not change how we read: it is UTF-8 or nothing.
        kind = self._mimetype.partition(";")[0].strip().lower()
        if kind == ROWS:
            budget = rows_line_budget(self._max_length)
            lines = Lines(self._stream, budget, self._start)
            yield from read_rows(
                lines,
                self._columns,
                self._required,
                self,
                self.mapping,
                budget=budget,
                ignorable=self._ignorable,
            )
            return
        lines = Lines(self._stream, self._max_length, self._start)
        if kind == sniffing.CSV:
            yield from read_csv(
                lines, self._columns, self._required, self._max_length, self, self._ignorable
            )
        elif kind == sniffing.JSON_LINES:
            yield from read_json_lines(
                lines, self._columns, self._max_length, self, self._ignorable
            )
        elif kind == sniffing.EMPTY:
            raise FileFormatError("file is empty")
        elif kind == sniffing.XLSX:
            # Chunks cannot seek into a ZIP archive: the scan reads a copy of its rows.
            raise FileFormatError("a workbook is read from its stored rows, not directly")
        else:
            raise FileFormatError(f"unsupported file type {self._mimetype}")


def _check_arguments(
    columns: tuple[str, ...],
    required: Sequence[str],
    max_length: int,
    ignored: Sequence[str] = (),
) -> None:
    """Reject programming mistakes loudly; they are not problems with the file."""
    if not columns:
        raise ValueError("columns must not be empty")
    keys = [canonical_key(column) for column in (*columns, *ignored)]
    if len(set(keys)) != len(keys):
        raise ValueError(f"columns must differ other than by case: {columns}")
    unknown = [name for name in required if name not in columns]
    if unknown:
        raise ValueError(f"required columns {unknown} are not in columns {columns}")
    if max_length < 1:
        raise ValueError("max_line_length must be positive")
