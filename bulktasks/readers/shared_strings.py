"""A workbook's shared strings table, kept in temporary files instead of in memory.

Excel writes each distinct text of a workbook once, in xl/sharedStrings.xml,
and cells refer to it by its index. openpyxl reads the whole table into a list
before a sheet's first row, so a sheet of unique e-mails holds every one of them
in memory at once. Here the table is parsed as a stream into two anonymous
temporary files, the strings' UTF-8 bytes and where each one ends (8 bytes a
string), and a string is read back when a cell asks for it, through a small
cache: memory stays the same whatever the size of the table.
"""

from __future__ import annotations

import os
import struct
import tempfile
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import IO, overload
from xml.etree.ElementTree import Element

from openpyxl.xml.constants import SHEET_MAIN_NS
from openpyxl.xml.functions import iterparse

from bulktasks.readers.xml_guard import ElementGuard, end_tag, start_tag

__all__ = ["SharedStrings"]

_STRING_TAG = f"{{{SHEET_MAIN_NS}}}si"
_OFFSET = struct.Struct("<q")
_TWO_OFFSETS = struct.Struct("<qq")
# Offsets written to their file in batches of this many.
_BATCH = 8192
# Strings kept in memory once read back: a sheet repeats some texts (a country,
# a team) on many rows. Longer strings are read again each time, so that the
# cache's size stays small whatever the strings are.
CACHE_SIZE = 4096
CACHE_LONGEST = 1024


class SharedStrings(Sequence[str]):
    """The shared strings table as the list openpyxl expects, each string read back from disk.

    Close it (or use it as a context manager) to free its temporary files;
    they are anonymous, so nothing is left on disk even if the process dies.
    """

    def __init__(self) -> None:
        self._data: IO[bytes] | None = None
        self._ends: IO[bytes] | None = None
        self._count = 0
        self._cache: OrderedDict[int, str] = OrderedDict()
        self.closed = False

    @classmethod
    def read(
        cls,
        source: IO[bytes],
        *,
        max_string_xml_size: int,
        progress: Callable[[], None] | None = None,
    ) -> SharedStrings:
        """The table of this sharedStrings.xml; FileFormatError if one string's XML passes the limit.

        ``progress`` is called after each string: a table of millions of strings
        takes minutes, and the scan keeps its lease (and sees a cancel) meanwhile.
        """
        table = cls()
        try:
            table._load(source, max_string_xml_size, progress)
        except BaseException:
            table.close()
            raise
        return table

    def _load(
        self,
        source: IO[bytes],
        max_string_xml_size: int,
        progress: Callable[[], None] | None = None,
    ) -> None:
        # Both outlive this call: close() (or read(), if loading fails) closes them.
        data = self._data = tempfile.TemporaryFile(prefix="bulk-strings-")  # noqa: SIM115
        ends_file = self._ends = tempfile.TemporaryFile(prefix="bulk-strings-")  # noqa: SIM115
        guarded = ElementGuard(
            source,
            start=start_tag("si"),
            end=end_tag("sst"),
            limit=max_string_xml_size,
            refusal=(
                "a shared string of the workbook takes more than "
                f"{max_string_xml_size} bytes of XML"
            ),
        )
        ends = array("q")
        size = 0
        # The elements open around the current one: a string, once read, is
        # taken out of its parent, or the emptied elements would pile up there.
        parents: list[Element] = []
        for event, element in iterparse(guarded, events=("start", "end")):
            if event == "start":
                parents.append(element)
                continue
            parents.pop()
            if element.tag != _STRING_TAG:
                continue
            # openpyxl drops this escape's prefix when it reads a table; so do we.
            encoded = string_text(element).replace("x005F_", "").encode("utf-8")
            data.write(encoded)
            size += len(encoded)
            ends.append(size)
            if len(ends) == _BATCH:
                ends.tofile(ends_file)
                self._count += len(ends)
                ends = array("q")
            element.clear()
            if parents:
                parents[-1].remove(element)
            if progress is not None:
                progress()
        ends.tofile(ends_file)
        self._count += len(ends)
        data.flush()
        ends_file.flush()

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        # A cell's index is never negative; one that is does not wrap around.
        if not 0 <= index < self._count:
            raise IndexError(f"shared string {index} is not in the table")
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        text = self._read(index)
        if len(text) <= CACHE_LONGEST:
            self._cache[index] = text
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return text

    def _read(self, index: int) -> str:
        if self._data is None or self._ends is None:
            raise ValueError("the shared strings table is closed")
        ends = self._ends.fileno()
        if index:
            start, end = _TWO_OFFSETS.unpack(os.pread(ends, 16, (index - 1) * 8))
        else:
            start, (end,) = 0, _OFFSET.unpack(os.pread(ends, 8, 0))
        return os.pread(self._data.fileno(), end - start, start).decode("utf-8")

    def close(self) -> None:
        """Free the temporary files (and the cache)."""
        for file in (self._data, self._ends):
            if file is not None:
                file.close()
        self._data = self._ends = None
        self._cache.clear()
        self.closed = True

    def __enter__(self) -> SharedStrings:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def string_text(element: Element) -> str:
    """A shared string's text, as openpyxl reads it: its <t>, then each rich-text run's <t>.

    Phonetic guides (<rPh>) are not part of the text; whitespace is kept as
    written (``xml:space="preserve"`` only tells Excel to keep it too). As in
    openpyxl, children are matched by their local name, and where an element
    has more than one <t>, the last one counts.
    """
    plain: str | None = None
    runs: list[str] = []
    for child in element:
        name = _local(child.tag)
        if name == "t":
            plain = child.text
        elif name == "r":
            run: str | None = None
            for part in child:
                if _local(part.tag) == "t":
                    run = part.text
            if run is not None:
                runs.append(run)
    return "".join([plain, *runs] if plain is not None else runs)


def _local(tag: object) -> str:
    text = tag if isinstance(tag, str) else ""
    return text.rpartition("}")[2]
