"""Spreadsheets (.xlsx): the first sheet's rows, as the text a person sees in its cells.

openpyxl reads the sheet in its streaming read-only mode, with the values the
workbook cached for its formulas (``data_only``): nothing is ever evaluated.
Memory holds one row at a time, whatever the number of rows: each row's element
is taken out of the sheet's tree once read (openpyxl only empties it), and the
shared strings table stays in temporary files (``readers.shared_strings``)
instead of openpyxl's list. Before openpyxl opens anything, the archive's
directory is checked against the unpacking limits (``bulktasks.containers``);
as the sheet's XML is read, no single row's XML may pass ``MAX_ROW_XML_SIZE``,
nor any shared string's XML ``MAX_STRING_XML_SIZE``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import IO, Any

from openpyxl.reader.excel import ExcelReader
from openpyxl.worksheet import _reader as openpyxl_sheet_reader
from openpyxl.xml.constants import SHARED_STRINGS

from bulktasks.containers import ContainerProblem, ZipLimits, office_package, zip_open
from bulktasks.readers.records import FileFormatError
from bulktasks.readers.shared_strings import SharedStrings
from bulktasks.readers.xml_guard import ElementGuard, end_tag, start_tag

__all__ = [
    "MAX_ROW_XML_SIZE",
    "MAX_SHEET_ROWS",
    "MAX_STRING_XML_SIZE",
    "cell_text",
    "column_letter",
    "iter_sheet_rows",
]

# The most rows a sheet can have (Excel's limit); a row number past it is a crafted file.
MAX_SHEET_ROWS = 1_048_576
# A full row of 16,384 cells takes well under 1 MiB of XML; openpyxl builds each
# row's XML as a tree before handing it on, so a row is refused past this.
MAX_ROW_XML_SIZE = 4 * 1024 * 1024
# A cell holds at most 32,767 characters in Excel; a shared string is read
# whole into memory, so one far past that is refused like a row.
MAX_STRING_XML_SIZE = 4 * 1024 * 1024

_ROW_START = start_tag("row")
# Where the rows end: what follows (merged cells, hyperlinks) is not a row.
_ROWS_END = end_tag("sheetData")

# openpyxl warns about what it drops (data validation, unknown extensions,
# a date out of range, which it then reads as "#VALUE!"); none of it changes
# the values read, and a worker's log is not the place for them.
warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")


def iter_sheet_rows(
    stream: IO[bytes],
    *,
    limits: ZipLimits | None = None,
    progress: Callable[[], None] | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """The first sheet's non-blank rows, the header row first: (sheet row number, cell texts).

    Each cell is the text ``cell_text`` gives, surrounding spaces kept (readers
    trim them, as for CSV); trailing empty cells are left out. Raises
    FileFormatError when the workbook cannot be read, or is refused.
    ``progress`` is called while the shared strings load, before the first row.
    """
    _check_archive(stream, limits or ZipLimits.from_settings())
    stream.seek(0)
    try:
        reader = _WorkbookReader(stream, read_only=True, data_only=True, progress=progress)
    except Exception as exc:
        raise FileFormatError(f"the workbook could not be read ({_described(exc)})") from None
    try:
        reader.read()
    except Exception as exc:
        reader.strings.close()
        reader.archive.close()
        if isinstance(exc, FileFormatError):
            raise
        raise FileFormatError(f"the workbook could not be read ({_described(exc)})") from None
    workbook = reader.wb
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
        reader.strings.close()


class _WorkbookReader(ExcelReader):  # type: ignore[misc]
    """openpyxl's workbook reader (what ``load_workbook`` runs), with the shared strings on disk.

    ``read_strings`` is the step of ``ExcelReader.read`` that loads the table
    into ``shared_strings``, which each read-only sheet is given; this one
    gives them a SharedStrings instead. tests/bulktasks/test_xlsx_memory.py
    checks the sheet really reads through it.
    """

    def __init__(
        self, *args: Any, progress: Callable[[], None] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.strings = SharedStrings()
        self.progress = progress

    def read_strings(self) -> None:
        part = self.package.find(SHARED_STRINGS)
        if part is not None:
            with self.archive.open(part.PartName[1:]) as source:
                self.strings = SharedStrings.read(
                    source, max_string_xml_size=MAX_STRING_XML_SIZE, progress=self.progress
                )
        self.shared_strings = self.strings


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


class _RowGuard(ElementGuard):
    """A sheet's XML as openpyxl reads it, refused once one row's XML passes MAX_ROW_XML_SIZE.

    openpyxl parses a row into a tree before handing it on, so one enormous row
    (a million cells, a giant inline string) would be held whole.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__(
            raw,
            start=_ROW_START,
            end=_ROWS_END,
            limit=MAX_ROW_XML_SIZE,
            refusal=f"a row of the first sheet takes more than {MAX_ROW_XML_SIZE} bytes of XML",
        )


def _guard_rows(sheet: Any) -> None:
    """Read the sheet's XML through a _RowGuard.

    openpyxl's read-only sheet opens its XML through ``_get_source`` each time
    its rows are iterated; wrapping it there is the one place to see the bytes
    as they are parsed. tests/bulktasks/test_xlsx.py holds this to a huge row,
    so an openpyxl upgrade that moved it would fail there, not silently.
    """
    source = sheet._get_source
    sheet._get_source = lambda: _RowGuard(source())


_ROW_TAG = openpyxl_sheet_reader.ROW_TAG
_openpyxl_iterparse = openpyxl_sheet_reader.iterparse


def _iterparse(source: Any, *args: Any, **kwargs: Any) -> Any:
    """openpyxl's sheet parser's iterparse: for a guarded sheet, its events with rows dropped."""
    if isinstance(source, _RowGuard) and not args and not kwargs:
        return _rows_dropped(_openpyxl_iterparse(source, events=("start", "end")))
    return _openpyxl_iterparse(source, *args, **kwargs)


def _rows_dropped(events: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """The 'end' events openpyxl asks for, each row taken out of its parent once openpyxl is done with it.

    openpyxl empties a row's element after reading it but leaves it in
    <sheetData>, so a sheet's emptied rows pile up until its last one (about
    0.3 KB each). The stack of open elements gives each row's parent; the row
    is removed when openpyxl asks for the next event, after it has emptied it.
    """
    parents: list[Any] = []
    for event, element in events:
        if event == "start":
            parents.append(element)
            continue
        parents.pop()
        yield event, element
        if element.tag == _ROW_TAG and parents:
            parents[-1].remove(element)


def _install_row_dropping() -> None:
    """Have openpyxl's WorkSheetParser read guarded sheets through ``_iterparse``.

    ``WorkSheetParser.parse`` calls its module's ``iterparse`` by name, which
    is the one place its rows can be taken out of the tree: the hook is set
    there, once, and changes nothing for any other source. An openpyxl upgrade
    that moved it would fail tests/bulktasks/test_xlsx_memory.py, not silently.
    """
    if openpyxl_sheet_reader.iterparse is not _iterparse:
        openpyxl_sheet_reader.iterparse = _iterparse


_install_row_dropping()
