"""What a ZIP archive or an OLE2 compound file holds, read from its directory without unpacking it.

An .xlsx is a ZIP archive; a legacy .xls, and any password-protected Office file,
is an OLE2 compound file (CFB). Deciding what an upload is, and whether it is
safe to open, needs only their directories: a few reads at known offsets, in
memory bounded by the limits below, never by what the archive claims to hold.
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from typing import IO
from xml.etree import ElementTree

# The parts of an .xlsx are a few dozen; a directory of more is not a spreadsheet.
MAX_ZIP_ENTRIES = 10_000
# zipfile reads the whole central directory into memory before anything else.
MAX_CENTRAL_DIRECTORY_SIZE = 16 * 1024 * 1024
# Parts this small are never refused for their compression ratio: a few
# kilobytes of repeated XML can pack a hundredfold and hold nothing dangerous.
RATIO_CHECKED_FROM = 1024 * 1024
MAX_CONTENT_TYPES_SIZE = 1024 * 1024

SHEET_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
TEMPLATE_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml"

_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
_MAX_COMMENT = 0xFFFF

_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CFB_END_OF_CHAIN = 0xFFFFFFFE
_CFB_HEADER_DIFAT = 109


class ContainerProblem(Exception):
    """The archive is damaged, or would unpack past the limits: it is never opened further."""


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """How much an archive may unpack to, in all, and how densely any large part may be packed."""

    max_uncompressed_size: int
    max_compression_ratio: int

    @classmethod
    def from_settings(cls) -> ZipLimits:
        """The limits the settings give (BULK_TASK_XLSX_MAX_*)."""
        from django.conf import settings

        return cls(
            max_uncompressed_size=int(settings.BULK_TASK_XLSX_MAX_UNCOMPRESSED_SIZE),
            max_compression_ratio=int(settings.BULK_TASK_XLSX_MAX_COMPRESSION_RATIO),
        )


def zip_open(file: IO[bytes], *, limits: ZipLimits) -> zipfile.ZipFile:
    """Open a ZIP archive whose directory keeps within ``limits``; raise ContainerProblem if not.

    The entry count and directory size are read from the end record first, so
    that zipfile never parses a directory of millions of entries. The sizes
    checked are the ones the directory declares; zipfile never inflates a part
    past its declared size (it stops there and reports a bad CRC), so a
    directory that lies about a part only makes that part unreadable.
    """
    entries, directory_size = _zip_directory_extent(file)
    if entries > MAX_ZIP_ENTRIES:
        raise ContainerProblem(
            f"the archive holds {entries} parts; a spreadsheet has far fewer (at most "
            f"{MAX_ZIP_ENTRIES} are read)"
        )
    if directory_size > MAX_CENTRAL_DIRECTORY_SIZE:
        raise ContainerProblem("the archive's directory is too large for a spreadsheet")
    file.seek(0)
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise ContainerProblem(f"the ZIP archive is corrupt ({exc})") from None
    try:
        _check_sizes(archive, limits)
    except ContainerProblem:
        archive.close()
        raise
    return archive


def _check_sizes(archive: zipfile.ZipFile, limits: ZipLimits) -> None:
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if total > limits.max_uncompressed_size:
            raise ContainerProblem(
                f"it would unpack to more than {limits.max_uncompressed_size} bytes "
                "(a zip bomb, or far larger than a spreadsheet needs)"
            )
        if (
            info.file_size > RATIO_CHECKED_FROM
            and info.file_size > limits.max_compression_ratio * max(info.compress_size, 1)
        ):
            raise ContainerProblem(
                f"its part {info.filename[:100]} is packed more than "
                f"{limits.max_compression_ratio} times smaller than it unpacks (a zip bomb)"
            )


def _zip_directory_extent(file: IO[bytes]) -> tuple[int, int]:
    """The entry count and central directory size, from the (ZIP64) end of central directory."""
    file.seek(0, 2)
    size = file.tell()
    tail_size = min(size, _EOCD_SIZE + _MAX_COMMENT)
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < _EOCD_SIZE:
        raise ContainerProblem("the ZIP archive is corrupt (its directory is missing)")
    entries, directory_size = struct.unpack("<HI", tail[at + 10 : at + 16])
    if entries != 0xFFFF and directory_size != 0xFFFFFFFF:
        return entries, directory_size
    # ZIP64: the locator sits right before the end record and points at the real counts.
    locator_at = size - tail_size + at - 20
    if locator_at < 0:
        raise ContainerProblem("the ZIP archive is corrupt (its ZIP64 directory is missing)")
    file.seek(locator_at)
    locator = file.read(20)
    if locator[:4] != _ZIP64_LOCATOR:
        raise ContainerProblem("the ZIP archive is corrupt (its ZIP64 directory is missing)")
    (record_at,) = struct.unpack("<Q", locator[8:16])
    file.seek(record_at)
    record = file.read(56)
    if len(record) < 56 or record[:4] != _ZIP64_EOCD:
        raise ContainerProblem("the ZIP archive is corrupt (its ZIP64 directory is missing)")
    entries64, directory_size64 = struct.unpack("<QQ", record[32:48])
    return entries64, directory_size64


@dataclass(frozen=True, slots=True)
class OfficePackage:
    """What an Office Open XML package's ``[Content_Types].xml`` and part names say it is."""

    is_spreadsheet: bool
    # The workbook part is an .xlsx's (or an .xltx's): the kind openpyxl reads.
    is_plain_workbook: bool
    has_macros: bool


def office_package(archive: zipfile.ZipFile) -> OfficePackage | None:
    """The package's kind, or None when the archive is not an Office package at all."""
    try:
        info = archive.getinfo("[Content_Types].xml")
    except KeyError:
        return None
    if info.file_size > MAX_CONTENT_TYPES_SIZE:
        raise ContainerProblem("its [Content_Types].xml is larger than any spreadsheet's")
    try:
        data = archive.read(info)
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, NotImplementedError) as exc:
        raise ContainerProblem(f"the ZIP archive is corrupt ({exc})") from None
    # No Office file declares a DTD; one here could only expand entities.
    if b"<!DOCTYPE" in data.upper():
        raise ContainerProblem("its [Content_Types].xml declares a DTD")
    try:
        root = ElementTree.fromstring(data)  # noqa: S314 - bounded, and no DTD
    except ElementTree.ParseError as exc:
        raise ContainerProblem(f"its [Content_Types].xml is not valid XML ({exc})") from None
    types = {
        element.get("ContentType", "")
        for element in root.iter()
        if element.tag.rpartition("}")[2] in ("Default", "Override")
    }
    lowered = {kind.lower() for kind in types}
    macros = any("macroenabled" in kind for kind in lowered) or any(
        name.lower().rpartition("/")[2] == "vbaproject.bin" for name in archive.namelist()
    )
    # The workbook part's type: .xlsx, .xltx, and their macro-enabled and binary kin.
    spreadsheet = any(
        kind.endswith(".main+xml") and ("spreadsheetml" in kind or "ms-excel" in kind)
        for kind in lowered
    ) or any("ms-excel.sheet.binary" in kind for kind in lowered)
    return OfficePackage(
        is_spreadsheet=spreadsheet,
        is_plain_workbook=bool(types & {SHEET_MAIN, TEMPLATE_MAIN}),
        has_macros=macros,
    )


def is_compound_file(head: bytes) -> bool:
    """Whether the bytes start an OLE2 compound file (legacy Office, or encrypted Office)."""
    return head.startswith(_CFB_MAGIC)


def compound_file_names(file: IO[bytes]) -> set[str]:
    """The names of the storages and streams in an OLE2 compound file's directory (MS-CFB).

    Reads the header, the sectors of the allocation table, and the directory's
    chain; every count is checked against the file's size, and the chain against
    loops, so a crafted file costs at most a read of the file.
    """
    file.seek(0, 2)
    size = file.tell()
    file.seek(0)
    header = file.read(512)
    if len(header) < 512 or not header.startswith(_CFB_MAGIC):
        raise ContainerProblem("the compound file is corrupt (its header is cut short)")
    (shift,) = struct.unpack("<H", header[30:32])
    if shift not in (9, 12):
        raise ContainerProblem("the compound file is corrupt (bad sector size)")
    sector_size = 1 << shift
    sectors = max(0, size // sector_size - 1)
    fat_count, directory_start = struct.unpack("<II", header[44:52])
    difat_start, difat_count = struct.unpack("<II", header[68:76])
    if fat_count > sectors or difat_count > sectors:
        raise ContainerProblem("the compound file is corrupt (its tables are larger than it)")

    def sector(index: int) -> bytes:
        if index >= sectors:
            raise ContainerProblem("the compound file is corrupt (a sector is out of range)")
        file.seek((index + 1) * sector_size)
        return file.read(sector_size)

    fat_sectors = list(struct.unpack(f"<{_CFB_HEADER_DIFAT}I", header[76:512]))
    per_sector = sector_size // 4
    next_difat = difat_start
    for _ in range(difat_count):
        entries = struct.unpack(f"<{per_sector}I", sector(next_difat))
        fat_sectors.extend(entries[:-1])
        next_difat = entries[-1]
    fat: list[int] = []
    for index in fat_sectors[:fat_count]:
        fat.extend(struct.unpack(f"<{per_sector}I", sector(index)))

    names: set[str] = set()
    seen: set[int] = set()
    current = directory_start
    while current != _CFB_END_OF_CHAIN:
        if current in seen or current >= len(fat):
            raise ContainerProblem("the compound file is corrupt (its directory chain is broken)")
        seen.add(current)
        data = sector(current)
        for at in range(0, len(data) - 127, 128):
            (length,) = struct.unpack("<H", data[at + 64 : at + 66])
            if 2 <= length <= 64:
                names.add(data[at : at + length - 2].decode("utf-16-le", "replace"))
        current = fat[current]
    return names
