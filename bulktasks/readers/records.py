"""What reading a file yields: records, where they start, and the one error a whole file can cause."""

from __future__ import annotations

import typing
from dataclasses import dataclass

DEFAULT_MAX_LINE_LENGTH = 1_048_576


class ByteStream(typing.Protocol):
    """What the readers need of a file: reading bytes, a chunk at a time."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Record:
    """One data record, or one line-level problem."""

    line: int
    values: dict[str, str] | None
    error: str | None = None


class FileFormatError(Exception):
    """A problem with the whole file; the task fails with this message (str(exc))."""


@dataclass(frozen=True, slots=True)
class Position:
    """A place between two records: its byte offset, and how many physical lines precede it."""

    offset: int = 0
    lines: int = 0
