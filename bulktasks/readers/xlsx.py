"""Spreadsheets (.xlsx): the first sheet's rows, as the text a person sees in its cells.

openpyxl reads the sheet in its streaming read-only mode, with the values the
workbook cached for its formulas (``data_only``): nothing is ever evaluated, and
memory holds one row at a time besides the workbook's shared strings table.
Before openpyxl opens anything, the archive's directory is checked against the
unpacking limits (``bulktasks.containers``), and as the sheet's XML is read, no
single row's XML may pass ``MAX_ROW_XML_SIZE``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import IO, Any

from openpyxl import load_workbook

from bulktasks.containers import ContainerProblem, ZipLimits, office_package, zip_open
from bulktasks.readers.records import FileFormatError

__all__ = ["MAX_ROW_XML_SIZE", "MAX_SHEET_ROWS", "cell_text", "column_letter", "iter_sheet_rows"]

# The most rows a sheet can have (Excel's limit); a row number past it is a crafted file.
MAX_SHEET_ROWS = 1_048_576
# A full row of 16,384 cells takes well under 1 MiB of XML; openpyxl builds each
# row's XML as a tree before handing it on, so a row is refused past this.
MAX_ROW_XML_SIZE = 4 * 1024 * 1024

# Where a row element starts in a sheet's XML, with or without a namespace prefix.
_ROW_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")
# Where the rows end: what follows (merged cells, hyperlinks) is not a row.
_ROWS_END = re.compile(
    rb"</(?:[A-Za-z_][\w.-]*:)?sheetData\s*>|<(?:[A-Za-z_][\w.-]*:)?sheetData\s*/>"
)
# Bytes kept from the end of one read to find a row tag split across two reads.
_TAIL = 64

# openpyxl warns about what it drops (data validation, unknown extensions,
# a date out of range, which it then reads as "#VALUE!"); none of it changes
# the values read, and a worker's log is not the place for them.
warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")


def iter_sheet_rows(
    stream: IO[bytes], *, limits: ZipLimits | None = None
) -> Iterator[tuple[int, list[str]]]:
    """The first sheet's non-blank rows, the header row first: (sheet row number, cell texts).

    Each cell is the text ``cell_text`` gives, surrounding spaces kept (readers
    trim them, as for CSV); trailing empty cells are left out. Raises
    FileFormatError when the workbook cannot be read, or is refused.
    """
    _check_archive(stream, limits or ZipLimits.from_settings())
    stream.seek(0)
    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except FileFormatError:
        raise
    except Exception as exc:
        raise FileFormatError(f"the workbook could not be read ({_described(exc)})") from None
    try:
        sheets = workbook.worksheets
        if not sheets:
            raise FileFormatError("the workbook has no worksheet")
        sheet: Any = sheets[0]
        _guard_rows(sheet)
        # A stored dimension may be wrong; rows then end where the sheet's XML does.
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True)
        number = 0
        while True:
            try:
                values = next(rows)
            except StopIteration:
                break
            except FileFormatError:
                raise
            except Exception as exc:
                raise FileFormatError(
                    f"the workbook could not be read after row {number} ({_described(exc)})"
                ) from None
            number += 1
            if number > MAX_SHEET_ROWS:
                raise FileFormatError(
                    f"the first sheet has rows past row {MAX_SHEET_ROWS}, the most a sheet holds"
                )
            texts = [cell_text(value) for value in values]
            while texts and not texts[-1].strip():
                texts.pop()
            if texts:
                yield number, texts
    finally:
        workbook.close()


def _check_archive(stream: IO[bytes], limits: ZipLimits) -> None:
    """Refuse what the upload refuses, again: the limits may have changed since, and it is cheap."""
    try:
        with zip_open(stream, limits=limits) as archive:
            package = office_package(archive)
    except ContainerProblem as problem:
        raise FileFormatError(f"the workbook cannot be read: {problem}") from None
    if package is None or not package.is_spreadsheet:
        raise FileFormatError("the file is not an .xlsx workbook")
    if package.has_macros or not package.is_plain_workbook:
        raise FileFormatError("macro-enabled workbooks (.xlsm) are not accepted")


def cell_text(value: object) -> str:
    """A cell's value as the text a person typed, or sees, in it.

    Whole numbers have no ".0" (an id or a phone number typed as a number reads
    as typed); other numbers are written out without an exponent; dates and
    times are ISO 8601 (a date alone when the time is midnight); booleans are
    TRUE and FALSE, as a spreadsheet shows them and exports them to CSV; an
    error value is its text (#N/A); an empty cell, or a formula without a cached
    value, is empty.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        return format(Decimal(repr(value)), "f")
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    if isinstance(value, timedelta):
        return _duration_text(value)
    return str(value)


def _duration_text(value: timedelta) -> str:
    """A duration as a spreadsheet's [h]:mm:ss shows it."""
    milliseconds = round(value.total_seconds() * 1000)
    sign = "-" if milliseconds < 0 else ""
    seconds, millis = divmod(abs(milliseconds), 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{sign}{hours}:{minutes:02d}:{seconds:02d}"
    return f"{text}.{millis:03d}" if millis else text


def column_letter(index: int) -> str:
    """A column's letters, as a sheet names it: 1 is A, 27 is AA."""
    letters = ""
    while index > 0:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _described(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


class _RowGuard:
    """A sheet's XML as openpyxl reads it, refused once one row's XML passes MAX_ROW_XML_SIZE.

    openpyxl parses a row into a tree before handing it on, so one enormous row
    (a million cells, a giant inline string) would be held whole; counting the
    bytes since the last row tag stops that without a second pass over the file.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._since_row = 0
        self._tail = b""
        self._rows_ended = False

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if self._rows_ended:
            return data
        window = self._tail + data
        if _ROWS_END.search(window):
            self._rows_ended = True
            return data
        last = None
        for match in _ROW_START.finditer(window):
            last = match.start()
        if last is None:
            self._since_row += len(data)
        else:
            self._since_row = len(window) - last
        if self._since_row > MAX_ROW_XML_SIZE:
            raise FileFormatError(
                f"a row of the first sheet takes more than {MAX_ROW_XML_SIZE} bytes of XML"
            )
        self._tail = window[-_TAIL:]
        return data

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _RowGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _guard_rows(sheet: Any) -> None:
    """Read the sheet's XML through a _RowGuard.

    openpyxl's read-only sheet opens its XML through ``_get_source`` each time
    its rows are iterated; wrapping it there is the one place to see the bytes
    as they are parsed. tests/bulktasks/test_xlsx.py holds this to a huge row,
    so an openpyxl upgrade that moved it would fail there, not silently.
    """
    source = sheet._get_source
    sheet._get_source = lambda: _RowGuard(source())
