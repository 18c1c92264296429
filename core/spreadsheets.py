"""Cells a spreadsheet would run as a formula, neutralized as OWASP's "CSV Injection" advises.

A spreadsheet that opens a CSV file (or a text cell) starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return may run it as a formula, and a formula
can fetch URLs or start programs. OWASP's advice: put a single quote in front of
such a cell, so that it is shown as text. It is done here, in one place, for
every file the service writes for people to open (exports, errors files).

The quote is reversible: ``cell_restored`` gives back exactly the cell that was
written, so a file the service wrote can be uploaded again unchanged. A cell
that already starts with quotes before a trigger gets one more, so that a value
really starting with a quote survives the round trip too.
"""

from __future__ import annotations

# NUL too, as OWASP's ASVS (1.2.10) lists it; the database cannot hold one anyway.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\x00")
NEUTRALIZER = "'"


def _guarded(cell: str) -> bool:
    """True for a cell a spreadsheet would run, or one that already wears the quote."""
    if not cell:
        return False
    if cell[0] in FORMULA_TRIGGERS:
        return True
    if cell[0] == NEUTRALIZER:
        rest = cell.lstrip(NEUTRALIZER)
        return bool(rest) and rest[0] in FORMULA_TRIGGERS
    return False


def cell_neutralized(cell: str) -> str:
    """The cell with a single quote in front when a spreadsheet would run it as a formula."""
    return NEUTRALIZER + cell if _guarded(cell) else cell


def cell_restored(cell: str) -> str:
    """The cell ``cell_neutralized`` was given: one leading quote less where it added one."""
    if cell[:1] == NEUTRALIZER and _guarded(cell[1:]):
        return cell[1:]
    return cell
