"""A spreadsheet's rows as a stored text copy that chunks can seek into.

A ZIP archive cannot be read from the middle, so the scan reads the sheet once
and writes each non-blank row as one line of JSON: ``[row, "cell", ...]``, the
sheet's row number first; a row refused whole is ``[row, null, "reason"]``.
Chunks then read the copy from their byte offsets like any text file, and the
line numbers they report are the sheet's row numbers.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable, Iterator, Mapping
from typing import IO

from bulktasks.readers.headers import ignored_in, match_header
from bulktasks.readers.lines import LineProblem, Lines
from bulktasks.readers.records import FileFormatError, Record
from bulktasks.readers.xlsx import column_letter
from core.spreadsheets import cell_restored

if typing.TYPE_CHECKING:
    from bulktasks.readers.reader import RecordReader

# The type the copy is read as; never a type an upload is detected as.
ROWS = "application/x-bulk-task-rows"


def rows_line_budget(max_line_length: int) -> int:
    """The longest line of a copy whose rows keep within ``max_line_length``.

    JSON escapes a control character in six characters, and each cell adds its
    quotes and comma: the copy's lines are longer than the rows they hold.
    """
    return 8 * max_line_length + 64


def rows_copy_write(
    rows: Iterable[tuple[int, list[str]]], out: IO[bytes], *, max_line_length: int
) -> int:
    """Write each row as a line of the copy; return how many rows were written.

    A row whose text (its cells and the commas between them) is longer than
    ``max_line_length``, or holds what a database refuses, is written as refused
    with its reason, so that the chunk reading it reports that row, not the copy.
    """
    written = 0
    for number, cells in rows:
        problem = _row_problem(number, cells, max_line_length)
        record: list[object] = [number, None, problem] if problem else [number, *cells]
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode())
        out.write(b"\n")
        written += 1
    return written


def _row_problem(number: int, cells: list[str], max_line_length: int) -> str | None:
    if sum(len(cell) for cell in cells) + len(cells) - 1 > max_line_length:
        return f"row is longer than {max_line_length} characters"
    for position, cell in enumerate(cells, start=1):
        if "\x00" in cell:
            return f"cell {column_letter(position)}{number} contains a NUL character"
        if not cell.isascii() and not _encodable(cell):
            return f"cell {column_letter(position)}{number} contains an invalid character"
    return None


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_rows(
    lines: Lines,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    found: RecordReader,
    mapping: Mapping[str, str] | None = None,
    *,
    budget: int,
    ignorable: tuple[str, ...] = (),
) -> Iterator[Record]:
    """The copy's records: the first row is the header, each later row a record.

    ``budget`` is the longest line the copy may hold (``rows_line_budget``).
    """
    resumed = found.header is not None
    names: list[str] = list(found.header or ())
    # A file the service wrote, saved as a workbook and uploaded again (an errors
    # file, an export): its extra columns are ignored, its cells restored.
    ignored = ignored_in(names, ignorable)
    seen_data = resumed
    while True:
        found.mark = (lines.offset, lines.line_no)
        lines.budget = budget
        try:
            line = next(lines)
        except StopIteration:
            break
        except LineProblem:
            # The copy's own lines are written within the budget; this one was not.
            raise FileFormatError("the stored copy of the sheet is damaged") from None
        number, cells, problem = parsed_row(line)
        if not resumed and found.header is None:
            header = [cell.strip() for cell in cells]
            if problem:
                raise FileFormatError(f"header row (row {number}): {problem}")
            found.header = tuple(match_header(header, columns, required, mapping, ignorable))
            names = list(found.header)
            ignored = ignored_in(names, ignorable)
            continue
        seen_data = True
        if problem:
            yield Record(number, None, problem)
            continue
        if ignored:
            cells = [cell_restored(cell) for cell in cells]
        yield _record(number, [cell.strip() for cell in cells], names, columns, ignored)
    if found.header is None:
        raise FileFormatError("the first sheet is empty")
    if not seen_data:
        raise FileFormatError("file has a header row but no data rows")


def parsed_row(line: str) -> tuple[int, list[str], str | None]:
    """One line of a rows copy: (sheet row number, cell texts, the reason it was refused or None)."""
    try:
        parsed = json.loads(line)
        number = parsed[0]
        if len(parsed) == 3 and parsed[1] is None:
            return int(number), [], str(parsed[2])
        return int(number), [str(cell) for cell in parsed[1:]], None
    except (ValueError, TypeError, IndexError, KeyError):
        raise FileFormatError("the stored copy of the sheet is damaged") from None


def _record(
    number: int,
    cells: list[str],
    names: list[str],
    columns: tuple[str, ...],
    ignored: list[str] | None = None,
) -> Record:
    width = len(names)
    if len(cells) > width:
        beyond = [i for i, cell in enumerate(cells[width:], start=width + 1) if cell]
        if beyond:
            letter = column_letter(beyond[0])
            return Record(
                number, None, f"cell {letter}{number} has a value but column {letter} has no header"
            )
        cells = cells[:width]
    values = dict.fromkeys(columns, "")
    values.update(zip(names, cells, strict=False))
    for name in ignored or ():
        values.pop(name, None)
    return Record(number, values)
