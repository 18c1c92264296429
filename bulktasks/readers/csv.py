"""CSV: a header row, then one record per row; a quoted value may span lines."""

from __future__ import annotations

import csv
import threading
import typing
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from bulktasks.readers.headers import ignored_in, match_header
from bulktasks.readers.lines import LineProblem, Lines
from bulktasks.readers.records import (
    DEFAULT_MAX_LINE_LENGTH,
    ByteStream,
    FileFormatError,
    Record,
)
from core.spreadsheets import cell_restored

if typing.TYPE_CHECKING:
    from bulktasks.readers.reader import RecordReader


def _fields(count: int) -> str:
    return f"{count} field" if count == 1 else f"{count} fields"


class _Dialect(csv.Dialect):
    delimiter = ","
    quotechar = '"'
    doublequote = True
    # People type "a, b" as often as "a,b": without this, a space before an opening quote
    # makes the quotes part of the value and the commas inside it separate fields.
    skipinitialspace = True
    lineterminator = "\n"
    quoting = csv.QUOTE_MINIMAL
    # Strict, so that a quote left open at the end of the file is an error instead of the
    # rest of the file silently becoming one value, and so that text after a closing quote
    # ("Ann"ie) is reported instead of being glued on.
    strict = True


_field_limit_lock = threading.Lock()
_field_limits: Counter[int] = Counter()
_field_limit_original: int | None = None


@contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    """Raise csv's process-wide field size limit to ``limit`` while any reader needs it.

    Readers in other threads may overlap: each registers its limit, the module keeps the
    largest one, and the original value comes back when the last reader finishes.
    """
    global _field_limit_original
    with _field_limit_lock:
        if not _field_limits:
            _field_limit_original = csv.field_size_limit()
        _field_limits[limit] += 1
        csv.field_size_limit(max(max(_field_limits), _field_limit_original or 0))
    try:
        yield
    finally:
        with _field_limit_lock:
            _field_limits[limit] -= 1
            if not _field_limits[limit]:
                del _field_limits[limit]
            original = _field_limit_original or 0
            if _field_limits:
                csv.field_size_limit(max(max(_field_limits), original))
            else:
                csv.field_size_limit(original)
                _field_limit_original = None


def read_csv(
    lines: Lines,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    max_length: int,
    found: RecordReader,
    ignorable: tuple[str, ...] = (),
) -> Iterator[Record]:
    # Our own budget stops every record at max_length, so csv's limit must never bite first.
    with _csv_field_limit(max_length + 1):
        reader = csv.reader(lines, _Dialect)
        # A reader starting mid-file was given the header the first one read.
        resumed = found.header is not None
        if found.header is None:
            found.header = tuple(
                _read_header(reader, lines, columns, required, max_length, found.mapping, ignorable)
            )
        names = list(found.header)
        width = len(names)
        # A file the service wrote, uploaded again (an errors file, an export): its
        # extra columns are left out, and the quotes its formula neutralization
        # added are taken off (core.spreadsheets).
        ignored = ignored_in(names, ignorable)
        missing_columns = len(names) - len(ignored) < len(columns)
        seen_data = resumed
        while True:
            found.mark = (lines.offset, lines.line_no)
            start = lines.line_no + 1
            lines.budget = max_length
            try:
                row = next(reader)
            except StopIteration:
                break
            except LineProblem as problem:
                seen_data = True
                yield Record(start, None, problem.describe(start, max_length))
                _skip_rest_of_record(lines, problem, start)
                continue
            except csv.Error as exc:
                _raise_if_unterminated(lines, start)
                seen_data = True
                yield Record(start, None, _csv_error(exc, start, lines.line_no))
                continue
            if ignored:
                row = [cell_restored(cell) for cell in row]
            cells = [cell.strip() for cell in row]
            if not any(cells):
                # Blank lines, whitespace-only lines and rows of empty cells (spreadsheets
                # export trailing ",,,") carry no data.
                continue
            seen_data = True
            if len(cells) != width:
                error = f"expected {_fields(width)}, found {len(cells)}"
                yield Record(start, None, error)
                continue
            values = dict(zip(names, cells, strict=True))
            for name in ignored:
                del values[name]
            if missing_columns:
                values = {column: values.get(column, "") for column in columns}
            yield Record(start, values)
        if not seen_data:
            raise FileFormatError("file has a header row but no data rows")


def _read_header(
    reader: typing.Iterator[list[str]],
    lines: Lines,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    max_length: int,
    mapping: Mapping[str, str] | None = None,
    ignorable: tuple[str, ...] = (),
) -> list[str]:
    """Read the first non-blank row and return the canonical column name of each cell."""
    while True:
        start = lines.line_no + 1
        lines.budget = max_length
        try:
            row = next(reader)
        except StopIteration:
            raise FileFormatError("file is empty") from None
        except LineProblem as problem:
            if problem.kind == LineProblem.NUL:
                raise FileFormatError("header row contains a NUL character") from None
            raise FileFormatError(f"header row is longer than {max_length} characters") from None
        except csv.Error as exc:
            _raise_if_unterminated(lines, start)
            raise FileFormatError(f"header row: {_csv_error(exc, start, lines.line_no)}") from None
        cells = [cell.strip() for cell in row]
        if any(cells):
            break

    return match_header(cells, columns, required, mapping, ignorable)


def _raise_if_unterminated(lines: Lines, start: int) -> None:
    # With a strict dialect, the only error csv raises after running out of lines is
    # "unexpected end of data": a quoted field was still open.
    if lines.exhausted:
        raise FileFormatError(f"unterminated quoted field starting at line {start}")


def _csv_error(exc: csv.Error, start: int, line: int) -> str:
    where = "" if line == start else f" (line {line})"
    # The one error a strict dialect raises mid-file, for text such as "a"b; csv already
    # skipped the rest of that line. Anything else is unexpected, so show csv's own words.
    if "expected after" in str(exc):
        return f"a closing quote must be followed by a comma or the end of the line{where}"
    return f"malformed CSV record: {exc}{where}"


def _skip_rest_of_record(lines: Lines, problem: LineProblem, start: int) -> None:
    """After a refused line, move to where the next record starts.

    A refused line that began the record is taken to end it, as most records are one line.
    If the record started earlier, the refused line is inside a quoted value: every '"' in
    there is either half of a doubled quote or the closing one, so the value is still open
    exactly while the count of '"' seen since is even.
    """
    if problem.line == start:
        return
    open_quote = problem.quotes % 2 == 0
    while open_quote:
        quotes = lines.skip_line()
        if quotes is None:
            raise FileFormatError(f"unterminated quoted field starting at line {start}")
        if quotes % 2:
            open_quote = False


def csv_header_cells(
    stream: ByteStream, *, max_length: int = DEFAULT_MAX_LINE_LENGTH
) -> list[str] | None:
    """A CSV file's header cells as written (trimmed), or None when the file has no readable header.

    Reads only as far as the header row. Whatever stops it (an empty file, bad
    UTF-8, an open quote) is left for the scan to report.
    """
    lines = Lines(stream, max_length)
    with _csv_field_limit(max_length + 1):
        reader = csv.reader(lines, _Dialect)
        while True:
            lines.budget = max_length
            try:
                row = next(reader)
            except (StopIteration, LineProblem, csv.Error, FileFormatError):
                return None
            cells = [cell.strip() for cell in row]
            if any(cells):
                return cells
