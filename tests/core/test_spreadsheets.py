"""core/spreadsheets.py: OWASP's CSV injection neutralization, and taking it back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.spreadsheets import cell_neutralized, cell_restored


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),
        ("''+x", "'''+x"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("'quoted", "'quoted"),
        ("'", "'"),
        ("", ""),
    ],
)
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_quote(cell, written):
    assert cell_neutralized(cell) == written


@given(st.text())
def test_restoring_gives_back_exactly_the_cell(cell):
    assert cell_restored(cell_neutralized(cell)) == cell


@given(st.text())
def test_a_neutralized_cell_never_starts_with_a_trigger(cell):
    assert cell_neutralized(cell)[:1] not in set("=+-@\t\r")
