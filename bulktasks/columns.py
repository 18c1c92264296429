"""The ``columns`` option of an upload: which header of the file holds which column of the action.

A mapping such as ``{"E-mail address": "email", "Given name": "firstName"}``
lets people upload the files their tools export. Headers are matched ignoring
case and surrounding spaces, as every header is; a header the mapping names
becomes the mapping's column before it is matched against the action's.
What the mapping alone says is checked on upload (400, code 1013); what needs
the file's header is checked on upload for CSV, whose header is its first
line, and by the scan for the other formats (the task fails, naming it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from bulktasks.actions import Action
from bulktasks.readers.headers import canonical_key, shown_names
from core.exceptions import InvalidColumnMapping

# More than any file's header; a longer mapping is a mistake, not a file.
MAX_ENTRIES = 1000
MAX_NAME_LENGTH = 1000
MAX_TEXT_LENGTH = 256 * 1024


def column_mapping_parse(text: str | None) -> dict[str, str] | None:
    """The mapping a ``columns`` form field holds, or None when it is left empty.

    Raises InvalidColumnMapping for text that is not a JSON object of strings.
    """
    if text is None or not text.strip():
        return None
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidColumnMapping(f"columns: longer than {MAX_TEXT_LENGTH} characters")
    try:
        parsed = json.loads(text)
    except RecursionError:
        raise InvalidColumnMapping("columns: not valid JSON (nested too deeply)") from None
    except ValueError as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "a number is too long"
        raise InvalidColumnMapping(f"columns: not valid JSON ({detail})") from None
    if not isinstance(parsed, dict):
        raise InvalidColumnMapping(
            'columns: must be a JSON object from a header in the file to a column, e.g. {"E-mail address": "email"}'
        )
    return column_mapping_shape(parsed)


def column_mapping_shape(mapping: Mapping[object, object]) -> dict[str, str]:
    """The mapping, once each header and column is a non-empty string of a sane length."""
    if len(mapping) > MAX_ENTRIES:
        raise InvalidColumnMapping(f"columns: more than {MAX_ENTRIES} headers")
    shaped: dict[str, str] = {}
    for source, target in mapping.items():
        if not isinstance(source, str) or not isinstance(target, str):
            raise InvalidColumnMapping(
                f"columns: the column for header {_shown(source)} must be a string"
            )
        if not source.strip():
            raise InvalidColumnMapping("columns: a header must not be empty")
        if len(source) > MAX_NAME_LENGTH or len(target) > MAX_NAME_LENGTH:
            raise InvalidColumnMapping(
                f"columns: names are limited to {MAX_NAME_LENGTH} characters"
            )
        if "\x00" in source or "\x00" in target or not (_storable(source) and _storable(target)):
            raise InvalidColumnMapping("columns: names must not hold NUL or unpaired surrogates")
        shaped[source] = target
    return shaped


def column_mapping_clean(
    mapping: Mapping[str, str] | None, *, action: Action
) -> dict[str, str] | None:
    """The mapping with each column spelled as the action declares it; None for no mapping.

    Raises InvalidColumnMapping for a column the action does not have, two
    headers mapped to one column, or one header named twice (as "Email" and
    " email ", which match the same header).
    """
    if not mapping:
        return None
    columns = {canonical_key(name): name for name in action.column_names}
    cleaned: dict[str, str] = {}
    sources: dict[str, str] = {}
    targets: dict[str, str] = {}
    for source, target in mapping.items():
        column = columns.get(canonical_key(target))
        if column is None:
            raise InvalidColumnMapping(
                f"columns: unknown column {shown_names([target])} (for header "
                f"{shown_names([source])}); {action.name} has columns: "
                f"{', '.join(action.column_names)}"
            )
        key = canonical_key(source)
        if key in sources:
            raise InvalidColumnMapping(
                f"columns: headers {shown_names([sources[key], source])} are the same header "
                "(headers are matched ignoring case and surrounding spaces)"
            )
        if column in targets:
            raise InvalidColumnMapping(
                f"columns: duplicate column {column}: headers "
                f"{shown_names([targets[column], source])} are both mapped to it"
            )
        sources[key] = source
        targets[column] = source
        cleaned[source] = column
    return cleaned


def column_mapping_check_header(mapping: Mapping[str, str], header: Sequence[str]) -> None:
    """Refuse a mapping that cannot fit this header: a header it names is missing, or a
    column it maps to is already a header of its own."""
    keys = {canonical_key(cell) for cell in header}
    missing = [source for source in mapping if canonical_key(source) not in keys]
    if missing:
        label = "header" if len(missing) == 1 else "headers"
        raise InvalidColumnMapping(
            f"columns: {label} {shown_names(missing)} not in the file's header row "
            f"(it has: {shown_names(list(header))})"
        )
    mapped = {canonical_key(source) for source in mapping}
    for source, column in mapping.items():
        if canonical_key(column) in keys - mapped:
            raise InvalidColumnMapping(
                f"columns: duplicate column {column}: header {shown_names([source])} is mapped "
                f"to it and the file also has a header {column}"
            )


def column_mapping_fingerprint(mapping: Mapping[str, str] | None) -> str:
    """The mapping as one canonical text, for the Idempotency-Key fingerprint; empty for none."""
    if not mapping:
        return ""
    return json.dumps(sorted(mapping.items()), ensure_ascii=False, separators=(",", ":"))


def _shown(value: object) -> str:
    return shown_names([value if isinstance(value, str) else json.dumps(value)[:60]])


def _storable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
