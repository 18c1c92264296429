"""Stream the records of an uploaded CSV or JSON Lines file, with the line numbers people see.

Files are read in chunks and decoded incrementally, so memory stays flat whatever the
file's size, and even a single huge line is never held in memory whole. Problems with one
record come back as a ``Record`` with ``error`` set and reading goes on; problems with the
whole file raise ``FileFormatError``, the only exception bad input can cause.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import threading
import typing
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from bulktasks import sniffing
from bulktasks.errorfile.cells import ERROR_FILE_COLUMNS, formula_restore

__all__ = ["FileFormatError", "Position", "Record", "RecordReader", "read_records"]

DEFAULT_MAX_LINE_LENGTH = 1_048_576

# Bytes read from the stream at a time; large enough that per-chunk work is negligible.
_CHUNK_SIZE = 1 << 16

# A JSON Lines file's keys kept for its errors file's header: a file cannot make it huge.
JSON_KEYS_LIMIT = 256
JSON_KEY_MAX_LENGTH = 256

# Line breaks as a text editor (and Python's newline="" mode) sees them: CRLF, LF, lone CR.
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class ByteStream(typing.Protocol):
    """What the readers need of a file: reading bytes, a chunk at a time."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Record:
    """One data record, or one line-level problem."""

    line: int
    values: dict[str, str] | None
    error: str | None = None


class FileFormatError(Exception):
    """A problem with the whole file; the task fails with this message (str(exc))."""


@dataclass(frozen=True, slots=True)
class Position:
    """A place between two records: its byte offset, and how many physical lines precede it."""

    offset: int = 0
    lines: int = 0


def read_records(
    stream: ByteStream,
    *,
    mimetype: str,
    columns: Sequence[str],
    required: Sequence[str] = (),
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
) -> Iterator[Record]:
    """Yield the file's records in order; raise FileFormatError for file-level problems."""
    yield from RecordReader(
        stream,
        mimetype=mimetype,
        columns=columns,
        required=required,
        max_line_length=max_line_length,
    )


class RecordReader:
    """The records of a file, as ``read_records`` yields them, and where reading stands.

    With each record handed out, ``record_start`` is where reading that record
    began (blank lines before it included), so a later reader can begin there: given the stream already at ``start.offset`` (seeked, or a
    ranged read) and, for CSV, the ``header`` the first reader found, it numbers
    lines as the first one did without reading anything before ``start``.
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
    ) -> None:
        self._stream = stream
        self._mimetype = mimetype
        self._columns = tuple(columns)
        self._required = tuple(required)
        self._max_length = max_line_length
        self._start = start
        # The file's column names in its order (CSV only), once its header is read.
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
        _check_arguments(self._columns, self._required, self._max_length)
        lines = _Lines(self._stream, self._max_length, self._start)
        # Parameters such as "; charset=utf-8" do not change how we read: it is UTF-8 or nothing.
        kind = self._mimetype.partition(";")[0].strip().lower()
        if kind == sniffing.CSV:
            yield from _read_csv(lines, self._columns, self._required, self._max_length, self)
        elif kind == sniffing.JSON_LINES:
            yield from _read_json_lines(lines, self._columns, self._max_length, self)
        elif kind == sniffing.EMPTY:
            raise FileFormatError("file is empty")
        else:
            raise FileFormatError(f"unsupported file type {self._mimetype}")


def _check_arguments(columns: tuple[str, ...], required: Sequence[str], max_length: int) -> None:
    """Reject programming mistakes loudly; they are not problems with the file."""
    if not columns:
        raise ValueError("columns must not be empty")
    keys = [_canonical_key(column) for column in columns]
    if len(set(keys)) != len(keys):
        raise ValueError(f"columns must differ other than by case: {columns}")
    unknown = [name for name in required if name not in columns]
    if unknown:
        raise ValueError(f"required columns {unknown} are not in columns {columns}")
    if max_length < 1:
        raise ValueError("max_line_length must be positive")


def _canonical_key(name: str) -> str:
    return name.strip().casefold()


def _fields(count: int) -> str:
    return f"{count} field" if count == 1 else f"{count} fields"


_SHOWN_NAME_LENGTH = 60
_SHOWN_NAMES = 5


def _shown(names: Sequence[str]) -> str:
    """Names from the file as they go into a message: a few, short, and safe to store.

    A file can hold a megabyte-long name, or (in JSON, through escapes) NUL characters and
    lone surrogates that a database would refuse; messages must stay small and storable.
    """
    shown = []
    for name in names[:_SHOWN_NAMES]:
        if len(name) > _SHOWN_NAME_LENGTH:
            name = name[:_SHOWN_NAME_LENGTH] + "..."
        shown.append("".join(c if c.isprintable() else repr(c)[1:-1] for c in name))
    if len(names) > _SHOWN_NAMES:
        shown.append(f"and {len(names) - _SHOWN_NAMES} more")
    return ", ".join(shown)


# -- Physical lines ---------------------------------------------------------------------


class _LineProblem(Exception):
    """A physical line we refuse to parse; raised through csv.reader, which passes it on."""

    TOO_LONG = "too long"
    NUL = "nul"

    def __init__(self, kind: str, line: int, quotes: int) -> None:
        super().__init__(kind, line)
        self.kind = kind
        self.line = line
        # The number of '"' in the line, which lets CSV find where a broken record ends.
        self.quotes = quotes

    def describe(self, start: int, max_length: int) -> str:
        """The problem as a person reads it, for a record that started on line ``start``."""
        if self.kind == self.NUL:
            where = "line" if self.line == start else f"line {self.line}"
            return f"{where} contains a NUL character"
        if self.line == start:
            return f"line is longer than {max_length} characters"
        return f"record is longer than {max_length} characters"


class _Lines:
    """The physical lines of a UTF-8 byte stream, each with its line terminator.

    Iterating yields lines for csv.reader and counts them in ``line_no``; before each record
    the caller sets ``budget`` to the characters the record may still use, and a line that
    would overrun it, or that contains a NUL, raises ``_LineProblem`` once fully consumed.
    """

    __slots__ = (
        "_at_start",
        "_carry",
        "_decoder",
        "_eof",
        "_max_length",
        "_pending",
        "_stream",
        "budget",
        "exhausted",
        "line_no",
        "offset",
    )

    def __init__(self, stream: ByteStream, max_length: int, start: Position | None = None) -> None:
        self._stream = stream
        self._max_length = max_length
        # Plain UTF-8 rather than utf-8-sig so that error offsets are exactly the bytes we
        # gave it; the BOM is removed by hand.
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._pending: Iterator[str] = iter(())
        # The start of a line whose end has not been read yet.
        self._carry = ""
        # A reader that starts mid-file has no byte order mark to remove.
        self._at_start = start is None or start.offset == 0
        self._eof = False
        self.budget = max_length
        self.exhausted = False
        self.line_no = start.lines if start else 0
        # The byte offset in the file of the next line not yet handed out.
        self.offset = start.offset if start else 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._pending, None)
        if line is None:
            fetched = self._next_from_stream()
            if fetched is None:
                self.exhausted = True
                raise StopIteration
            if isinstance(fetched, int):
                self.line_no += 1
                raise _LineProblem(_LineProblem.TOO_LONG, self.line_no, fetched)
            line = fetched
        self.line_no += 1
        self.offset += len(line) if line.isascii() else len(line.encode("utf-8"))
        size = len(line)
        if size > self.budget:
            self._check_budget(line)
        self.budget -= size
        if "\x00" in line:
            raise _LineProblem(_LineProblem.NUL, self.line_no, line.count('"'))
        return line

    def skip_line(self) -> int | None:
        """Consume the next line whatever it holds; return its number of '"', None at the end."""
        line = next(self._pending, None)
        if line is None:
            fetched = self._next_from_stream()
            if fetched is None:
                self.exhausted = True
                return None
            self.line_no += 1
            if isinstance(fetched, int):
                return fetched
            line = fetched
        else:
            self.line_no += 1
        self.offset += len(line) if line.isascii() else len(line.encode("utf-8"))
        return line.count('"')

    def _check_budget(self, line: str) -> None:
        # The terminator only counts when the record goes on to the next line, as the line
        # break then belongs to a quoted value; that is what a negative budget records.
        content = len(line.rstrip("\r\n"))
        if content > self.budget:
            raise _LineProblem(_LineProblem.TOO_LONG, self.line_no, line.count('"'))

    def _next_from_stream(self) -> str | int | None:
        """The next line once the pending ones are used up: a str, or the number of '"' in
        a line too long to keep (it has been consumed), or None at the end of the file."""
        while True:
            if self._eof:
                line, self._carry = self._carry, ""
                return line or None
            text = self._carry + self._read_text()
            # A final "\r" may be the first half of a "\r\n" still in the stream.
            end = len(text) - 1 if text.endswith("\r") and not self._eof else len(text)
            cut = max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1
            if cut:
                self._carry = text[cut:]
                # newline="" splits on exactly CRLF, LF and CR, unlike str.splitlines(),
                # which would also split inside values at \v, \f, \x1c-\x1e, \x85, \u2028...
                self._pending = io.StringIO(text[:cut], newline="")
                return next(self._pending)
            self._carry = text
            if end > self._max_length:
                return self._discard_line()

    def _discard_line(self) -> int:
        """Consume the rest of the current line without keeping it; return its '"' count."""
        quotes = 0
        text = self._carry
        while True:
            end = len(text) - 1 if text.endswith("\r") and not self._eof else len(text)
            breaks = [i for i in (text.find("\n", 0, end), text.find("\r", 0, end)) if i >= 0]
            if breaks:
                cut = min(breaks)
                quotes += text.count('"', 0, cut)
                cut += 2 if text.startswith("\r\n", cut) else 1
                self.offset += _utf8_length(text[:cut])
                self._carry = text[cut:]
                return quotes
            quotes += text.count('"', 0, end)
            self.offset += _utf8_length(text[:end])
            # Keep only a held-back "\r": the rest is dropped, and _line_of needs the "\r".
            self._carry = text[end:]
            if self._eof:
                return quotes
            text = self._carry + self._read_text()

    def _read_text(self) -> str:
        """Decode the next chunk of the stream; at its end, set ``_eof``."""
        chunk = self._stream.read(_CHUNK_SIZE) or b""
        if chunk and len(chunk) < _CHUNK_SIZE:
            # Sockets and pipes may return a few bytes at a time; gathering a full chunk
            # stops a long line from being copied again for every few bytes that arrive.
            parts = [chunk]
            size = len(chunk)
            while size < _CHUNK_SIZE:
                more = self._stream.read(_CHUNK_SIZE - size)
                if not more:
                    break
                parts.append(more)
                size += len(more)
            chunk = b"".join(parts)
        final = not chunk
        try:
            text = self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            raise FileFormatError(f"file is not valid UTF-8 (line {self._line_of(exc)})") from None
        if final:
            self._eof = True
        if self._at_start and text:
            self._at_start = False
            if text.startswith("\ufeff"):
                self.offset += 3  # the byte order mark's bytes
                text = text[1:]
        return text

    def _line_of(self, exc: UnicodeDecodeError) -> int:
        # Only the incomplete carried line and this chunk can hold breaks not yet counted;
        # ``exc.object`` is this chunk plus at most three bytes of a partial character.
        before = self._carry.encode("utf-8") + bytes(exc.object[: exc.start])
        return self.line_no + 1 + len(_LINE_BREAK.findall(before))


def _utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


# -- CSV ------------------------------------------------------------------------------


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


def _read_csv(
    lines: _Lines,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    max_length: int,
    found: RecordReader,
) -> Iterator[Record]:
    # Our own budget stops every record at max_length, so csv's limit must never bite first.
    with _csv_field_limit(max_length + 1):
        reader = csv.reader(lines, _Dialect)
        # A reader starting mid-file was given the header the first one read.
        resumed = found.header is not None
        if found.header is None:
            found.header = tuple(_read_header(reader, lines, columns, required, max_length))
        names = list(found.header)
        width = len(names)
        # An errors file uploaded again: its two extra columns are left out, and
        # the apostrophes its formula neutralization added are taken off.
        ignored = [name for name in names if name in ERROR_FILE_COLUMNS and name not in columns]
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
            except _LineProblem as problem:
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
                row = [formula_restore(cell) for cell in row]
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
    lines: _Lines,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    max_length: int,
) -> list[str]:
    """Read the first non-blank row and return the canonical column name of each cell."""
    while True:
        start = lines.line_no + 1
        lines.budget = max_length
        try:
            row = next(reader)
        except StopIteration:
            raise FileFormatError("file is empty") from None
        except _LineProblem as problem:
            if problem.kind == _LineProblem.NUL:
                raise FileFormatError("header row contains a NUL character") from None
            raise FileFormatError(f"header row is longer than {max_length} characters") from None
        except csv.Error as exc:
            _raise_if_unterminated(lines, start)
            raise FileFormatError(f"header row: {_csv_error(exc, start, lines.line_no)}") from None
        cells = [cell.strip() for cell in row]
        if any(cells):
            break

    by_key = {_canonical_key(column): column for column in columns}
    extra = {
        _canonical_key(column): column
        for column in ERROR_FILE_COLUMNS
        if _canonical_key(column) not in by_key
    }
    if any(cell.casefold() in extra for cell in cells):
        # An errors file: the header's cells went through formula neutralization too.
        cells = [formula_restore(cell).strip() for cell in cells]
        by_key = {**extra, **by_key}
    names: list[str] = []
    unknown: list[str] = []
    for position, cell in enumerate(cells, start=1):
        if not cell:
            raise FileFormatError(f"header row has an empty column name (column {position})")
        name = by_key.get(cell.casefold())
        if name is None:
            unknown.append(cell)
        elif name in names:
            raise FileFormatError(f"header row has duplicate column {name}")
        else:
            names.append(name)
    missing = [column for column in required if column not in names]
    if not (unknown or missing):
        return names
    problems = []
    if missing:
        label = "column" if len(missing) == 1 else "columns"
        problems.append(f"is missing {label} {', '.join(missing)}")
    if unknown:
        label = "column" if len(unknown) == 1 else "columns"
        problems.append(f"has unknown {label} {_shown(unknown)}")
    # Both at once is usually a typo ("mail" for "email"): naming both shows the fix.
    message = f"header row {' and '.join(problems)}"
    if unknown:
        message += f"; expected columns: {', '.join(columns)}"
        if any(separator in cell for cell in unknown for separator in ";\t|"):
            message += " (columns must be separated by commas)"
    raise FileFormatError(message)


def _raise_if_unterminated(lines: _Lines, start: int) -> None:
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


def _skip_rest_of_record(lines: _Lines, problem: _LineProblem, start: int) -> None:
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


# -- JSON Lines -----------------------------------------------------------------------


class _Pairs(list[tuple[str, object]]):
    """A JSON object's members in order, so duplicate keys are seen rather than merged."""


def _read_json_lines(
    lines: _Lines, columns: tuple[str, ...], max_length: int, found: RecordReader
) -> Iterator[Record]:
    by_key = {_canonical_key(column): column for column in columns}
    decoder = json.JSONDecoder(object_pairs_hook=_Pairs)
    # A reader starting mid-file has seen data before its start.
    seen_data = found.mark != (0, 0)
    mark = found.mark
    while True:
        lines.budget = max_length
        try:
            line = next(lines)
        except StopIteration:
            break
        except _LineProblem as problem:
            seen_data = True
            found.mark = mark
            mark = (lines.offset, lines.line_no)
            yield Record(problem.line, None, problem.describe(problem.line, max_length))
            continue
        if not line.strip():
            continue
        seen_data = True
        # Blank lines before a record belong to it: a reader resuming here skips them too.
        found.mark = mark
        mark = (lines.offset, lines.line_no)
        yield _json_record(lines.line_no, line, decoder, by_key, columns, found.keys)
    if not seen_data:
        raise FileFormatError("file is empty")


def _json_record(
    line_no: int,
    line: str,
    decoder: json.JSONDecoder,
    by_key: dict[str, str],
    columns: tuple[str, ...],
    keys: dict[str, str],
) -> Record:
    try:
        # Without its terminator, so that an error at the end of the line is on this line.
        parsed = decoder.decode(line.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        reason = exc.msg[:1].lower() + exc.msg[1:]
        return Record(line_no, None, f"invalid JSON: {reason} at column {exc.colno}")
    except RecursionError:
        return Record(line_no, None, "invalid JSON: nested too deeply")
    except ValueError:
        # int() refuses numbers with thousands of digits (sys.get_int_max_str_digits).
        return Record(line_no, None, "invalid JSON: a number is too long")
    if not isinstance(parsed, _Pairs):
        return Record(line_no, None, "expected a JSON object")
    if len(keys) < JSON_KEYS_LIMIT:
        _keys_note(parsed, keys)

    unknown = [key for key, _ in parsed if _canonical_key(key) not in by_key]
    if unknown:
        label = "field" if len(unknown) == 1 else "fields"
        return Record(line_no, None, f"unknown {label} {_shown(unknown)}")
    values = dict.fromkeys(columns, "")
    seen: set[str] = set()
    for key, value in parsed:
        name = by_key[_canonical_key(key)]
        if name in seen:
            return Record(line_no, None, f"duplicate field {name}")
        seen.add(name)
        if isinstance(value, str):
            # JSON escapes can smuggle in what UTF-8 text cannot hold and databases refuse.
            if "\x00" in value:
                return Record(line_no, None, f"field {name} contains a NUL character")
            if not value.isascii() and not _encodable(value):
                return Record(line_no, None, f"field {name} contains an invalid character")
            values[name] = value.strip()
        elif value is not None:
            return Record(line_no, None, f"field {name} must be a string")
    return Record(line_no, values)


def _keys_note(parsed: _Pairs, keys: dict[str, str]) -> None:
    """Add the line's keys not seen before, as spelled, skipping any a database could not store."""
    for key, _ in parsed:
        canonical = _canonical_key(key)
        if canonical in keys or len(key) > JSON_KEY_MAX_LENGTH or "\x00" in key:
            continue
        if key.isascii() or _encodable(key):
            keys[canonical] = key
            if len(keys) >= JSON_KEYS_LIMIT:
                return


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
