"""The result formats of an export: CSV, JSON Lines and XLSX, written as parts, then joined.

A chunk's rows go to a part file in the result's own encoding where the parts
can simply be joined (CSV rows without the header, JSON Lines), and as JSON
Lines of cell lists for a spreadsheet, which only the last step can write: an
XLSX file is a zip archive, never the concatenation of two. Memory stays flat
however many rows: rows are streamed into the part, parts into the result,
and openpyxl's write-only mode keeps no more than a row of a sheet.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from core.spreadsheets import cell_neutralized

# Role names in one CSV or XLSX cell; a JSON Lines row has them as an array.
ROLES_SEPARATOR = "; "
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A worksheet holds 1,048,576 rows: the header, then at most this many rows of an
# export. Never more, and never a second sheet: an import reads the first sheet
# only, so a file exported and imported back would lose rows without a word.
# Read at each call, so that a test can lower it.
XLSX_SHEET_ROWS = 1_048_576
XLSX_MAX_ROWS = XLSX_SHEET_ROWS - 1
# Characters an XML 1.0 document (hence an XLSX cell) cannot hold, as openpyxl refuses them.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_XML_REPLACEMENT = "\ufffd"


@dataclass(frozen=True, slots=True)
class ExportFormat:
    """One result format: its media type, file extension, and how its parts are written."""

    name: str
    mimetype: str
    extension: str
    # Spreadsheet formats get formula neutralization (core.spreadsheets).
    spreadsheet: bool
    # Parts written as JSON Lines of cell lists, joined into the format at the end.
    joined_from_cells: bool = False


FORMATS: dict[str, ExportFormat] = {
    "csv": ExportFormat("csv", "text/csv; charset=utf-8", "csv", spreadsheet=True),
    "jsonl": ExportFormat("jsonl", "application/x-ndjson", "jsonl", spreadsheet=False),
    "xlsx": ExportFormat("xlsx", XLSX_MIMETYPE, "xlsx", spreadsheet=True, joined_from_cells=True),
}
DEFAULT_FORMAT = "csv"


class TooManyRows(Exception):
    """The rows do not fit in the format (an XLSX sheet); nothing past the limit is written."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} rows")
        self.limit = limit


def rows_limit(export_format: ExportFormat) -> int | None:
    """The most rows a result in this format holds, or None when it has no limit."""
    return XLSX_MAX_ROWS if export_format.name == "xlsx" else None


def too_many_rows_message(result_format: str, limit: int, rows: int | None = None) -> str:
    """Why an export is refused in this format, and what to ask for instead."""
    found = f"{rows:,} rows" if rows is not None else "more rows"
    return (
        f"format: {result_format} holds at most {limit:,} rows (one sheet, which is all "
        f"an import reads) and this export has {found}; ask for csv or jsonl instead"
    )


def part_write(
    export_format: ExportFormat,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    out: IO[bytes],
) -> int:
    """Write the rows to a part file in the format's part encoding; return how many."""
    count = 0
    if export_format.name == "csv":
        text = codecs.getwriter("utf-8")(out)
        writer = csv.writer(text, lineterminator="\r\n")
        for row in rows:
            writer.writerow([_cell(row.get(column), spreadsheet=True) for column in columns])
            count += 1
    elif export_format.joined_from_cells:
        for row in rows:
            cells = [_xlsx_cell(row.get(column)) for column in columns]
            out.write(_json_line(cells))
            count += 1
    else:
        for row in rows:
            out.write(_json_line({column: _json_value(row.get(column)) for column in columns}))
            count += 1
    return count


def result_write(
    export_format: ExportFormat,
    columns: Sequence[str],
    parts: Iterable[IO[bytes]],
    out: IO[bytes],
    *,
    title: str,
    tick: Callable[[], None] = lambda: None,
) -> None:
    """Join the parts, in order, into the result: a header first where the format has one.

    ``tick`` is called between parts and every few thousand rows, so that a long
    join can renew its lease.
    """
    if export_format.joined_from_cells:
        _xlsx_write(columns, parts, out, title=title, tick=tick)
        return
    if export_format.name == "csv":
        header = ",".join(cell_neutralized(column) for column in columns)
        out.write(f"{header}\r\n".encode())
    for part in parts:
        shutil.copyfileobj(part, out, 1 << 20)
        tick()


def _xlsx_write(
    columns: Sequence[str],
    parts: Iterable[IO[bytes]],
    out: IO[bytes],
    *,
    title: str,
    tick: Callable[[], None],
) -> None:
    """Stream the parts' rows into a write-only workbook of one sheet, under a header row.

    Raises TooManyRows past ``XLSX_MAX_ROWS``: the creation of the task refused
    an organization that large, so only members who joined since get here.
    """
    from openpyxl import Workbook

    limit = XLSX_MAX_ROWS
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append([cell_neutralized(column) for column in columns])
    written = 0
    try:
        for part in parts:
            for line in part:
                if written == limit:
                    raise TooManyRows(limit)
                sheet.append(json.loads(line))
                written += 1
                if written % 10_000 == 0:
                    tick()
            tick()
    except BaseException:
        sheet.close()  # the sheet's temporary file, which only ``save`` would close
        raise
    workbook.save(out)


def _cell(value: Any, *, spreadsheet: bool) -> str:
    """A value as the text of one cell: a list joined, None as nothing."""
    if value is None:
        text = ""
    elif isinstance(value, list | tuple):
        text = ROLES_SEPARATOR.join(str(item) for item in value)
    else:
        text = str(value)
    return cell_neutralized(text) if spreadsheet else text


def _xlsx_cell(value: Any) -> str:
    """A cell of a spreadsheet: neutralized text, without what XML cannot hold.

    Always a string, so that openpyxl never stores it as a formula or a number.
    """
    return _XML_ILLEGAL.sub(_XML_REPLACEMENT, _cell(value, spreadsheet=True))


def _json_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return str(value)


def _json_line(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
