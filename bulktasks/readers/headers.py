"""Column names as a file spells them, matched to an action's columns, and shown in messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bulktasks.errorfile.cells import ERROR_FILE_COLUMNS
from bulktasks.readers.records import FileFormatError
from core.spreadsheets import cell_restored


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


def mapping_by_key(mapping: Mapping[str, str] | None) -> dict[str, str]:
    """A column mapping keyed as headers are matched: a file's header to the action's column."""
    return {canonical_key(source): target for source, target in (mapping or {}).items()}


def unseen_sources(mapping: Mapping[str, str] | None, seen: set[str]) -> FileFormatError | None:
    """The error for mapping sources the file never had (``seen`` holds canonical keys)."""
    missing = [source for source in (mapping or {}) if canonical_key(source) not in seen]
    if not missing:
        return None
    label = "header" if len(missing) == 1 else "headers"
    return FileFormatError(
        f"the column mapping names {label} {shown_names(missing)}, which the file does not have"
    )


def duplicate_message(
    name: str, mapped_from: str | None, kind: str = "header row has duplicate column"
) -> str:
    """A column found twice; when a mapping made one of them, say which header it came from."""
    if mapped_from is None:
        return f"{kind} {name}"
    return f"{kind} {name} ({shown_names([mapped_from])} is mapped to it)"


def ignorable_columns(columns: Sequence[str], ignored: Sequence[str] = ()) -> tuple[str, ...]:
    """The columns a file may carry that the import accepts and leaves out of every record.

    An action's own ``ignored_columns`` (the extra columns of an export written
    back) and an errors file's two: both mark a file the service wrote, whose
    cells went through formula neutralization. A column the action reads is
    never ignored.
    """
    own = {canonical_key(column) for column in columns}
    found: dict[str, str] = {}
    for column in (*ignored, *ERROR_FILE_COLUMNS):
        key = canonical_key(column)
        if key not in own:
            found.setdefault(key, column)
    return tuple(found.values())


def ignored_in(names: Sequence[str], ignored: Sequence[str]) -> list[str]:
    """The ignored columns a matched header holds: left out of each record, and a file the service wrote."""
    return [name for name in names if name in ignored]


def match_header(
    cells: Sequence[str],
    columns: Sequence[str],
    required: Sequence[str],
    mapping: Mapping[str, str] | None = None,
    ignored: Sequence[str] = (),
) -> list[str]:
    """The action's name of each header cell, in the file's order; FileFormatError if it does not fit.

    Cells are matched ignoring case and surrounding spaces; a cell the mapping
    names becomes the mapping's column before it is matched. An ``ignored``
    column (``ignorable_columns``) is accepted under its own name, for the
    caller to leave out.
    """
    by_key = {canonical_key(column): column for column in columns}
    extra = {canonical_key(column): column for column in ignored}
    if any(canonical_key(cell) in extra for cell in cells):
        # A file the service wrote, uploaded again (an errors file, an export):
        # its header went through formula neutralization too.
        cells = [cell_restored(cell).strip() for cell in cells]
        by_key = {**extra, **by_key}
    renamed = mapping_by_key(mapping)
    names: list[str] = []
    mapped_from: dict[str, str] = {}
    unknown: list[str] = []
    for position, cell in enumerate(cells, start=1):
        if not cell:
            raise FileFormatError(f"header row has an empty column name (column {position})")
        key = canonical_key(cell)
        name = renamed.get(key) or by_key.get(key)
        if name is None:
            unknown.append(cell)
        elif name in names:
            source = cell if key in renamed else mapped_from.get(name)
            raise FileFormatError(duplicate_message(name, source))
        else:
            names.append(name)
            if key in renamed:
                mapped_from[name] = cell
    unseen = unseen_sources(mapping, {canonical_key(cell) for cell in cells})
    if unseen is not None:
        raise unseen
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
