"""Detect an uploaded file's type from its bytes, never from its name or what the client claims.

The first bytes decide, except for containers: a ZIP archive is an .xlsx only
if its ``[Content_Types].xml`` says so, and an OLE2 compound file is told
apart (legacy .xls, password-protected workbook) by its directory's names.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from typing import IO

from bulktasks.containers import (
    ContainerProblem,
    ZipLimits,
    compound_file_names,
    office_package,
    zip_open,
)

CSV = "text/csv"
JSON_LINES = "application/x-ndjson"
EMPTY = "application/x-empty"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SUPPORTED = frozenset({CSV, JSON_LINES, EMPTY, XLSX})

ZIP = "application/zip"
COMPOUND_FILE = "application/x-ole-storage"
XLSM = "application/vnd.ms-excel.sheet.macroEnabled.12"
XLS = "application/vnd.ms-excel"
ENCRYPTED_OFFICE = "application/x-encrypted-office"

OCTET_STREAM = "application/octet-stream"
UTF16_TEXT = "text/plain; charset=utf-16"
UTF32_TEXT = "text/plain; charset=utf-32"

# How many bytes callers should pass; more is accepted but not needed.
HEAD_SIZE = 8192

_UTF8_BOM = b"\xef\xbb\xbf"

# The UTF-32 little-endian BOM starts with the UTF-16 one, so it must be tried first.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", UTF32_TEXT),
    (b"\x00\x00\xfe\xff", UTF32_TEXT),
    (b"\xff\xfe", UTF16_TEXT),
    (b"\xfe\xff", UTF16_TEXT),
)

# Only signatures that a CSV or JSON Lines file cannot plausibly start with: a short
# printable prefix such as "BM" (bitmap) or "MZ" (Windows executable) could be the
# start of a header row, and those files contain NUL bytes early on anyway.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"%!PS", "application/postscript"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    # xlsx, docx, odt and jar files are zip archives too: detect_file looks inside.
    (b"PK\x03\x04", ZIP),
    (b"PK\x05\x06", ZIP),
    (b"PK\x07\x08", ZIP),
    (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"\x28\xb5\x2f\xfd", "application/zstd"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    # The container of legacy .xls and .doc files.
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", COMPOUND_FILE),
    (b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (b"\x7fELF", "application/x-executable"),
    (b"{\\rtf", "application/rtf"),
)

# A bzip2 stream starts with "BZh" and a block size digit, then the magic of either a
# compressed block or the end of stream; requiring both keeps a header like "BZh1" CSV.
_BZIP2_BLOCK_MAGICS = (b"1AY&SY", b"\x17rE8P\x90")

# Text signatures, tested after the BOM and leading whitespace are skipped.
_TEXT_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"<?xml", "application/xml"),
    (b"<!doctype html", "text/html"),
    (b"<html", "text/html"),
    # A JSON array (a ".json" export) is not JSON Lines; saying so beats a parse error.
    (b"[", "application/json"),
)

# JSON and CSV whitespace we skip before looking at the first character.
_LEADING_WHITESPACE = b" \t\r\n\f\v"

# Bytes no text file contains more than a few of: C0 controls except tab, LF, VT, FF, CR.
_CONTROL_BYTES = bytes([*range(0x01, 0x09), *range(0x0E, 0x20)])
_MAX_CONTROL_RATIO = 0.10


@dataclass(frozen=True)
class Detected:
    """The detected type of a file and whether bulk tasks can read it."""

    mimetype: str
    supported: bool
    # Why a workbook is refused, in words for the uploader; empty for other files.
    refusal: str = ""
    # The refusal is about a damaged or oversized archive, not about its kind.
    unreadable: bool = False


def detect_mimetype(head: bytes) -> Detected:
    """Classify a file from its first bytes (pass up to 8 KiB); containers stay generic."""
    return _detected(_mimetype(head))


def detect_file(file: IO[bytes], *, limits: ZipLimits) -> Detected:
    """Classify a whole seekable file: its first bytes, and a container's directory.

    The file is left at its start. Reading a directory costs a few seeks and at
    most the limits' worth of memory, whatever the archive claims to hold.
    """
    file.seek(0)
    detected = detect_mimetype(file.read(HEAD_SIZE))
    try:
        if detected.mimetype == ZIP:
            return _zip_detected(file, limits)
        if detected.mimetype == COMPOUND_FILE:
            return _compound_detected(file)
        return detected
    finally:
        file.seek(0)


def _zip_detected(file: IO[bytes], limits: ZipLimits) -> Detected:
    try:
        with zip_open(file, limits=limits) as archive:
            package = office_package(archive)
    except ContainerProblem as problem:
        return _unreadable(str(problem))
    except zipfile.BadZipFile as exc:
        return _unreadable(f"the ZIP archive is corrupt ({exc})")
    if package is None or not package.is_spreadsheet:
        return _detected(ZIP)
    if package.has_macros or not package.is_plain_workbook:
        return Detected(
            XLSM,
            supported=False,
            refusal=(
                "Macro-enabled workbooks (.xlsm, .xlsb) are not accepted: save it as an "
                "Excel Workbook (.xlsx) and upload that"
            ),
        )
    return _detected(XLSX)


def _compound_detected(file: IO[bytes]) -> Detected:
    try:
        names = {name.casefold() for name in compound_file_names(file)}
    except ContainerProblem:
        # Not a workbook we could tell anything about: refused as its kind.
        return _detected(COMPOUND_FILE)
    if "encryptedpackage" in names:
        return Detected(
            ENCRYPTED_OFFICE,
            supported=False,
            refusal=(
                "The workbook is password-protected: save a copy without the password "
                "(as an Excel Workbook, .xlsx) and upload that"
            ),
        )
    if names & {"workbook", "book"}:
        return Detected(
            XLS,
            supported=False,
            refusal=(
                "Excel 97-2003 workbooks (.xls) are not supported: save it as an Excel "
                "Workbook (.xlsx) and upload that"
            ),
        )
    return _detected(COMPOUND_FILE)


def _unreadable(problem: str) -> Detected:
    return Detected(
        ZIP,
        supported=False,
        refusal=f"The file cannot be read as a workbook: {problem}",
        unreadable=True,
    )


def _detected(mimetype: str) -> Detected:
    return Detected(mimetype=mimetype, supported=mimetype in SUPPORTED)


def _mimetype(head: bytes) -> str:
    if not head:
        return EMPTY
    for bom, mimetype in _BOMS:
        if head.startswith(bom):
            return mimetype
    for signature, mimetype in _SIGNATURES:
        if head.startswith(signature):
            return mimetype
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[4:10] in _BZIP2_BLOCK_MAGICS:
        return "application/x-bzip2"
    if b"\x00" in head:
        return UTF16_TEXT if _looks_like_utf16(head) else OCTET_STREAM
    # Only single bytes are inspected from here on, and every byte of a multi-byte UTF-8
    # character is >= 0x80, so a character cut at the end of the head cannot matter.
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if controls > len(head) * _MAX_CONTROL_RATIO:
        return OCTET_STREAM
    text = head.removeprefix(_UTF8_BOM).lstrip(_LEADING_WHITESPACE)
    lowered = text[:16].lower()
    for signature, mimetype in _TEXT_SIGNATURES:
        if lowered.startswith(signature):
            return mimetype
    if text.startswith(b"{"):
        return JSON_LINES
    # Whitespace-only content lands here too: the reader then reports "file is empty".
    return CSV


def _looks_like_utf16(head: bytes) -> bool:
    """Whether NUL bytes sit on one side of each byte pair, as in BOM-less UTF-16 ASCII text."""
    if len(head) < 4:
        return False
    even_nuls = head[0::2].count(0)
    odd_nuls = head[1::2].count(0)
    pairs = len(head) // 2
    return min(even_nuls, odd_nuls) == 0 and max(even_nuls, odd_nuls) >= pairs * 0.9
