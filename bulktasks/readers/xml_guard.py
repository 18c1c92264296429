"""A part of a workbook as its XML parser reads it, refused once one element grows past a limit.

ElementTree builds an element whole before handing it on, however large: one
enormous row of a sheet, or one enormous string of the shared strings table,
would be held in memory at once. Counting the bytes read since the element's
last start tag stops that as the bytes stream past, without a second pass.
"""

from __future__ import annotations

import re
from typing import IO

from bulktasks.readers.records import FileFormatError

# Bytes kept from the end of one read, to find a start tag split across two reads.
_TAIL = 64


def start_tag(name: str) -> re.Pattern[bytes]:
    """Where an element ``name`` starts, with or without a namespace prefix."""
    return re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?" + name.encode() + rb"[\s/>]")


def end_tag(name: str) -> re.Pattern[bytes]:
    """Where an element ``name`` ends (or is written empty), with or without a namespace prefix."""
    tag = rb"(?:[A-Za-z_][\w.-]*:)?" + name.encode()
    return re.compile(rb"</" + tag + rb"\s*>|<" + tag + rb"\s*/>")


class ElementGuard:
    """A binary stream whose reads raise FileFormatError once one element takes more than ``limit`` bytes.

    An element is measured from its ``start`` tag to the next one; once ``end``
    is seen (the container of those elements closes), the rest passes unmeasured.
    """

    def __init__(
        self,
        raw: IO[bytes],
        *,
        start: re.Pattern[bytes],
        end: re.Pattern[bytes],
        limit: int,
        refusal: str,
    ) -> None:
        self._raw = raw
        self._start = start
        self._end = end
        self._limit = limit
        self._refusal = refusal
        self._since_start = 0
        self._tail = b""
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if self._ended:
            return data
        window = self._tail + data
        end = self._end.search(window)
        measured = window[: end.start()] if end else window
        last = None
        for match in self._start.finditer(measured):
            last = match.start()
        if last is None:
            self._since_start += max(0, len(measured) - len(self._tail))
        else:
            self._since_start = len(measured) - last
        if self._since_start > self._limit:
            raise FileFormatError(self._refusal)
        self._ended = end is not None
        self._tail = window[-_TAIL:]
        return data

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> ElementGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
