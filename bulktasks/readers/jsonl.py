"""JSON Lines: one JSON object per line, its keys the columns."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator

from bulktasks.readers.headers import (
    canonical_key,
    duplicate_message,
    mapping_by_key,
    shown_names,
    unseen_sources,
)
from bulktasks.readers.lines import LineProblem, Lines
from bulktasks.readers.records import FileFormatError, Record

if typing.TYPE_CHECKING:
    from bulktasks.readers.reader import RecordReader


# A JSON Lines file's keys kept for its errors file's header: a file cannot make it huge.
JSON_KEYS_LIMIT = 256
JSON_KEY_MAX_LENGTH = 256


class _Pairs(list[tuple[str, object]]):
    """A JSON object's members in order, so duplicate keys are seen rather than merged."""


# The column name ``by_key`` gives an ignored key: its value is never read.
_IGNORED = "\x00ignored"


def read_json_lines(
    lines: Lines,
    columns: tuple[str, ...],
    max_length: int,
    found: RecordReader,
    ignorable: tuple[str, ...] = (),
) -> Iterator[Record]:
    by_key = {canonical_key(column): column for column in columns}
    # Keys of a file the service wrote (an export's extra columns): left out, of any JSON type.
    by_key.update((canonical_key(column), _IGNORED) for column in ignorable)
    renamed = mapping_by_key(found.mapping)
    # The mapping's sources met in some record: one never met fails the file.
    found_sources: set[str] = set()
    decoder = json.JSONDecoder(object_pairs_hook=_Pairs)
    # A reader starting mid-file has seen data before its start.
    from_start = found.mark == (0, 0)
    seen_data = not from_start
    mark = found.mark
    while True:
        lines.budget = max_length
        try:
            line = next(lines)
        except StopIteration:
            break
        except LineProblem as problem:
            seen_data = True
            found.mark = mark
            mark = (lines.offset, lines.line_no)
            yield Record(problem.line, None, problem.describe(problem.line, max_length))
            continue
        if not line.strip():
            continue
        seen_data = True
        # Blank lines before a record belong to it: a reader resuming here skips them too.
        found.mark = mark
        mark = (lines.offset, lines.line_no)
        yield _json_record(
            lines.line_no, line, decoder, by_key, columns, renamed, found_sources, found.keys
        )
    if not seen_data:
        raise FileFormatError("file is empty")
    # Only a reader that read the whole file knows a source is nowhere in it.
    unseen = unseen_sources(found.mapping, found_sources) if from_start else None
    if unseen is not None:
        raise unseen


def _json_record(
    line_no: int,
    line: str,
    decoder: json.JSONDecoder,
    by_key: dict[str, str],
    columns: tuple[str, ...],
    renamed: dict[str, str] | None = None,
    found_sources: set[str] | None = None,
    keys_seen: dict[str, str] | None = None,
) -> Record:
    try:
        # Without its terminator, so that an error at the end of the line is on this line.
        parsed = decoder.decode(line.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        reason = exc.msg[:1].lower() + exc.msg[1:]
        return Record(line_no, None, f"invalid JSON: {reason} at column {exc.colno}")
    except RecursionError:
        return Record(line_no, None, "invalid JSON: nested too deeply")
    except ValueError:
        # int() refuses numbers with thousands of digits (sys.get_int_max_str_digits).
        return Record(line_no, None, "invalid JSON: a number is too long")
    if not isinstance(parsed, _Pairs):
        return Record(line_no, None, "expected a JSON object")

    if keys_seen is not None and len(keys_seen) < JSON_KEYS_LIMIT:
        _keys_note(parsed, keys_seen)
    renamed = renamed or {}
    keys = [canonical_key(key) for key, _ in parsed]
    if renamed and found_sources is not None:
        found_sources.update(key for key in keys if key in renamed)
    resolved = [renamed.get(key) or by_key.get(key) for key in keys]
    unknown = [key for (key, _), name in zip(parsed, resolved, strict=True) if name is None]
    kept = [
        (pair, canonical, name)
        for pair, canonical, name in zip(parsed, keys, resolved, strict=True)
        if name is not _IGNORED
    ]
    if unknown:
        label = "field" if len(unknown) == 1 else "fields"
        return Record(line_no, None, f"unknown {label} {shown_names(unknown)}")
    values = dict.fromkeys(columns, "")
    seen: dict[str, str | None] = {}
    for (key, value), canonical, name in kept:
        assert name is not None
        source = key if canonical in renamed else None
        if name in seen:
            message = duplicate_message(name, source or seen[name], kind="duplicate field")
            return Record(line_no, None, message)
        seen[name] = source
        if isinstance(value, str):
            # JSON escapes can smuggle in what UTF-8 text cannot hold and databases refuse.
            if "\x00" in value:
                return Record(line_no, None, f"field {name} contains a NUL character")
            if not value.isascii() and not _encodable(value):
                return Record(line_no, None, f"field {name} contains an invalid character")
            values[name] = value.strip()
        elif value is not None:
            return Record(line_no, None, f"field {name} must be a string")
    return Record(line_no, values)


def _keys_note(parsed: _Pairs, keys: dict[str, str]) -> None:
    """Add the line's keys not seen before, as spelled, skipping any a database could not store."""
    for key, _ in parsed:
        canonical = canonical_key(key)
        if canonical in keys or len(key) > JSON_KEY_MAX_LENGTH or "\x00" in key:
            continue
        if key.isascii() or _encodable(key):
            keys[canonical] = key
            if len(keys) >= JSON_KEYS_LIMIT:
                return


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
