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
# A worksheet holds 1,048,576 rows; past that, the rows go on in a new sheet.
XLSX_SHEET_ROWS = 1_048_576
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
    """Stream the parts' rows into a write-only workbook: a header row on each sheet."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    header = [cell_neutralized(column) for column in columns]
    sheets = 0
    sheet = None
    used = XLSX_SHEET_ROWS
    for part in parts:
        for line in part:
            if used == XLSX_SHEET_ROWS:
                sheets += 1
                sheet = workbook.create_sheet(title if sheets == 1 else f"{title} ({sheets})")
                sheet.append(header)
                used = 1
            assert sheet is not None
            sheet.append(json.loads(line))
            used += 1
            if used % 10_000 == 0:
                tick()
        tick()
    if sheet is None:
        workbook.create_sheet(title).append(header)
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
