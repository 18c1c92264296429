"""Column names as a file spells them, matched to an action's columns, and shown in messages."""

from __future__ import annotations

from collections.abc import Sequence

from bulktasks.readers.records import FileFormatError


def canonical_key(name: str) -> str:
    """A name as matching sees it: case and surrounding spaces do not count."""
    return name.strip().casefold()


_SHOWN_NAME_LENGTH = 60
_SHOWN_NAMES = 5


def shown_names(names: Sequence[str]) -> str:
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


def match_header(
    cells: Sequence[str], columns: Sequence[str], required: Sequence[str]
) -> list[str]:
    """The action's name of each header cell, in the file's order; FileFormatError if it does not fit."""
    by_key = {canonical_key(column): column for column in columns}
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
        problems.append(f"has unknown {label} {shown_names(unknown)}")
    # Both at once is usually a typo ("mail" for "email"): naming both shows the fix.
    message = f"header row {' and '.join(problems)}"
    if unknown:
        message += f"; expected columns: {', '.join(columns)}"
        if any(separator in cell for cell in unknown for separator in ";\t|"):
            message += " (columns must be separated by commas)"
    raise FileFormatError(message)
