"""The errors file's own columns, and the formula neutralization its cells go through.

Kept apart from the rest of the package so that the readers can use it when an
errors file comes back as an upload, without importing the errors file's writer.
"""

from __future__ import annotations

ERROR_LINE_COLUMN = "errorLine"
ERROR_REASON_COLUMN = "errorReason"
# Appended to the original header; an upload whose header holds them is an
# errors file coming back: the import ignores their cells (see readers.py).
ERROR_FILE_COLUMNS = (ERROR_LINE_COLUMN, ERROR_REASON_COLUMN)

# OWASP "CSV Injection": a spreadsheet runs a cell starting with one of these as
# a formula. NUL too, as OWASP's ASVS (1.2.10) lists it.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\x00")
NEUTRALIZER = "'"


def _guarded(cell: str) -> bool:
    """True for a cell that is neutralized: a trigger first, or apostrophes then a trigger."""
    if cell[:1] in FORMULA_TRIGGERS and cell:
        return True
    if cell.startswith(NEUTRALIZER):
        rest = cell.lstrip(NEUTRALIZER)
        return bool(rest) and rest[0] in FORMULA_TRIGGERS
    return False


def formula_neutralize(cell: str) -> str:
    """The cell with an apostrophe in front when a spreadsheet would run it as a formula.

    A cell that already starts with apostrophes before a trigger gets one more,
    so that ``formula_restore`` gives back exactly the cell that was written.
    """
    return NEUTRALIZER + cell if _guarded(cell) else cell


def formula_restore(cell: str) -> str:
    """The cell ``formula_neutralize`` was given: one leading apostrophe less where it added one."""
    if cell.startswith(NEUTRALIZER) and _guarded(cell[1:]):
        return cell[1:]
    return cell
