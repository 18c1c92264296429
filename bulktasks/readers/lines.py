"""The physical lines of a UTF-8 byte stream, read a chunk at a time, with their line numbers."""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator

from bulktasks.readers.records import ByteStream, FileFormatError, Position

# Bytes read from the stream at a time; large enough that per-chunk work is negligible.
CHUNK_SIZE = 1 << 16

# Line breaks as a text editor (and Python's newline="" mode) sees them: CRLF, LF, lone CR.
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class LineProblem(Exception):
    """A physical line we refuse to parse; raised through csv.reader, which passes it on."""

    TOO_LONG = "too long"
    NUL = "nul"

    def __init__(self, kind: str, line: int, quotes: int) -> None:
        super().__init__(kind, line)
        self.kind = kind
        self.line = line
        # The number of '"' in the line, which lets CSV find where a broken record ends.
        self.quotes = quotes

    def describe(self, start: int, max_length: int) -> str:
        """The problem as a person reads it, for a record that started on line ``start``."""
        if self.kind == self.NUL:
            where = "line" if self.line == start else f"line {self.line}"
            return f"{where} contains a NUL character"
        if self.line == start:
            return f"line is longer than {max_length} characters"
        return f"record is longer than {max_length} characters"


class Lines:
    """The physical lines of a UTF-8 byte stream, each with its line terminator.

    Iterating yields lines for csv.reader and counts them in ``line_no``; before each record
    the caller sets ``budget`` to the characters the record may still use, and a line that
    would overrun it, or that contains a NUL, raises ``LineProblem`` once fully consumed.
    """

    __slots__ = (
        "_at_start",
        "_carry",
        "_decoder",
        "_eof",
        "_max_length",
        "_pending",
        "_stream",
        "budget",
        "exhausted",
        "line_no",
        "offset",
    )

    def __init__(self, stream: ByteStream, max_length: int, start: Position | None = None) -> None:
        self._stream = stream
        self._max_length = max_length
        # Plain UTF-8 rather than utf-8-sig so that error offsets are exactly the bytes we
        # gave it; the BOM is removed by hand.
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._pending: Iterator[str] = iter(())
        # The start of a line whose end has not been read yet.
        self._carry = ""
        # A reader that starts mid-file has no byte order mark to remove.
        self._at_start = start is None or start.offset == 0
        self._eof = False
        self.budget = max_length
        self.exhausted = False
        self.line_no = start.lines if start else 0
        # The byte offset in the file of the next line not yet handed out.
        self.offset = start.offset if start else 0

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        line = next(self._pending, None)
        if line is None:
            fetched = self._next_from_stream()
            if fetched is None:
                self.exhausted = True
                raise StopIteration
            if isinstance(fetched, int):
                self.line_no += 1
                raise LineProblem(LineProblem.TOO_LONG, self.line_no, fetched)
            line = fetched
        self.line_no += 1
        self.offset += len(line) if line.isascii() else len(line.encode("utf-8"))
        size = len(line)
        if size > self.budget:
            self._check_budget(line)
        self.budget -= size
        if "\x00" in line:
            raise LineProblem(LineProblem.NUL, self.line_no, line.count('"'))
        return line

    def skip_line(self) -> int | None:
        """Consume the next line whatever it holds; return its number of '"', None at the end."""
        line = next(self._pending, None)
        if line is None:
            fetched = self._next_from_stream()
            if fetched is None:
                self.exhausted = True
                return None
            self.line_no += 1
            if isinstance(fetched, int):
                return fetched
            line = fetched
        else:
            self.line_no += 1
        self.offset += len(line) if line.isascii() else len(line.encode("utf-8"))
        return line.count('"')

    def _check_budget(self, line: str) -> None:
        # The terminator only counts when the record goes on to the next line, as the line
        # break then belongs to a quoted value; that is what a negative budget records.
        content = len(line.rstrip("\r\n"))
        if content > self.budget:
            raise LineProblem(LineProblem.TOO_LONG, self.line_no, line.count('"'))

    def _next_from_stream(self) -> str | int | None:
        """The next line once the pending ones are used up: a str, or the number of '"' in
        a line too long to keep (it has been consumed), or None at the end of the file."""
        while True:
            if self._eof:
                line, self._carry = self._carry, ""
                return line or None
            text = self._carry + self._read_text()
            # A final "\r" may be the first half of a "\r\n" still in the stream.
            end = len(text) - 1 if text.endswith("\r") and not self._eof else len(text)
            cut = max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1
            if cut:
                self._carry = text[cut:]
                # newline="" splits on exactly CRLF, LF and CR, unlike str.splitlines(),
                # which would also split inside values at \v, \f, \x1c-\x1e, \x85, \u2028...
                self._pending = io.StringIO(text[:cut], newline="")
                return next(self._pending)
            self._carry = text
            if end > self._max_length:
                return self._discard_line()

    def _discard_line(self) -> int:
        """Consume the rest of the current line without keeping it; return its '"' count."""
        quotes = 0
        text = self._carry
        while True:
            end = len(text) - 1 if text.endswith("\r") and not self._eof else len(text)
            breaks = [i for i in (text.find("\n", 0, end), text.find("\r", 0, end)) if i >= 0]
            if breaks:
                cut = min(breaks)
                quotes += text.count('"', 0, cut)
                cut += 2 if text.startswith("\r\n", cut) else 1
                self.offset += _utf8_length(text[:cut])
                self._carry = text[cut:]
                return quotes
            quotes += text.count('"', 0, end)
            self.offset += _utf8_length(text[:end])
            # Keep only a held-back "\r": the rest is dropped, and _line_of needs the "\r".
            self._carry = text[end:]
            if self._eof:
                return quotes
            text = self._carry + self._read_text()

    def _read_text(self) -> str:
        """Decode the next chunk of the stream; at its end, set ``_eof``."""
        chunk = self._stream.read(CHUNK_SIZE) or b""
        if chunk and len(chunk) < CHUNK_SIZE:
            # Sockets and pipes may return a few bytes at a time; gathering a full chunk
            # stops a long line from being copied again for every few bytes that arrive.
            parts = [chunk]
            size = len(chunk)
            while size < CHUNK_SIZE:
                more = self._stream.read(CHUNK_SIZE - size)
                if not more:
                    break
                parts.append(more)
                size += len(more)
            chunk = b"".join(parts)
        final = not chunk
        try:
            text = self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            raise FileFormatError(f"file is not valid UTF-8 (line {self._line_of(exc)})") from None
        if final:
            self._eof = True
        if self._at_start and text:
            self._at_start = False
            if text.startswith("\ufeff"):
                self.offset += 3  # the byte order mark's bytes
                text = text[1:]
        return text

    def _line_of(self, exc: UnicodeDecodeError) -> int:
        # Only the incomplete carried line and this chunk can hold breaks not yet counted;
        # ``exc.object`` is this chunk plus at most three bytes of a partial character.
        before = self._carry.encode("utf-8") + bytes(exc.object[: exc.start])
        return self.line_no + 1 + len(_LINE_BREAK.findall(before))


def _utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))
