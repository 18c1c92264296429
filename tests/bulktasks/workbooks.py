"""Builders for spreadsheet uploads: real .xlsx files written with openpyxl, and the ones to refuse."""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_bytes(
    rows: Iterable[Sequence[Any]],
    *,
    sheet_title: str = "People",
    before: Callable[[Workbook], None] | None = None,
    at: dict[str, Any] | None = None,
) -> bytes:
    """A workbook whose first sheet holds ``rows`` from row 1 (``None`` cells stay empty).

    ``before`` may add sheets or change the workbook; ``at`` sets single cells
    (for rows further down, leaving blank rows between).
    """
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = sheet_title
    for row in rows:
        sheet.append(list(row))
    for coordinate, value in (at or {}).items():
        sheet[coordinate] = value
    if before is not None:
        before(workbook)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_file(
    rows: Iterable[Sequence[Any]], *, name: str = "people.xlsx", **options: Any
) -> SimpleUploadedFile:
    """An .xlsx upload (declared as plain text: the type is never taken from the client)."""
    return SimpleUploadedFile(name, xlsx_bytes(rows, **options), content_type="text/plain")


def people_sheet(count: int, *, start: int = 1) -> list[list[Any]]:
    """A header row and ``count`` distinct, valid people."""
    return [
        ["email", "firstName", "lastName"],
        *([f"person{n}@example.com", f"First{n}", f"Last{n}"] for n in range(start, start + count)),
    ]


def rewrite_part(data: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    """The archive with one part's bytes changed (and every other part as it was)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == name:
                content = change(content)
            target.writestr(info.filename, content)
    return buffer.getvalue()


def with_cached_formula(data: bytes, coordinate: str, formula: str, cached: str) -> bytes:
    """Make a cell a formula with a cached value, as Excel saves it.

    openpyxl writes formulas without a cached value (it never computes them), so
    the value Excel would have saved is written into the sheet's XML by hand.
    The cell must hold a number for its XML to have the expected shape.
    """

    def change(xml: bytes) -> bytes:
        pattern = re.compile(rb'<c r="' + coordinate.encode() + rb'"([^>]*)><v>[^<]*</v></c>')
        replaced, count = pattern.subn(
            b'<c r="'
            + coordinate.encode()
            + rb'"\1><f>'
            + formula.encode()
            + b"</f><v>"
            + cached.encode()
            + b"</v></c>",
            xml,
        )
        assert count == 1, f"cell {coordinate} not found as a number in the sheet XML"
        return replaced

    return rewrite_part(data, "xl/worksheets/sheet1.xml", change)


def zip_bytes(parts: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP archive of these parts."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def macro_enabled(data: bytes, *, how: str = "content-type") -> bytes:
    """The workbook saved as .xlsm: its content type says so, or it carries vbaProject.bin."""
    if how == "content-type":
        return rewrite_part(
            data,
            "[Content_Types].xml",
            lambda xml: xml.replace(
                b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
            ),
        )
    source = zipfile.ZipFile(io.BytesIO(data))
    parts = {info.filename: source.read(info) for info in source.infolist()}
    parts["xl/vbaProject.bin"] = b"\xd0\xcf\x11\xe0 macros"
    return zip_bytes(parts)


def compound_file(names: Sequence[str]) -> bytes:
    """A minimal OLE2 compound file (MS-CFB, 512-byte sectors) whose directory lists ``names``.

    A password-protected .xlsx is one holding EncryptionInfo and
    EncryptedPackage streams; a legacy .xls holds a Workbook stream.
    """
    free, end, fat_sector = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 40, 0, 1, 1, 0, 4096, end, 0, end, 0)
    struct.pack_into("<109I", header, 76, 0, *([free] * 108))
    fat = struct.pack("<128I", fat_sector, end, *([free] * 126))
    directory = bytearray(512)
    for index, (name, kind) in enumerate([("Root Entry", 5), *((n, 2) for n in names)][:4]):
        encoded = (name + "\0").encode("utf-16-le")
        entry = index * 128
        directory[entry : entry + len(encoded)] = encoded
        struct.pack_into("<HB", directory, entry + 64, len(encoded), kind)
    return bytes(header) + fat + bytes(directory)


def shared_strings_xlsx(strings_xml: Sequence[str], rows: Sequence[Sequence[int]]) -> bytes:
    """A workbook as Excel saves one: each ``<si>`` of ``strings_xml`` in xl/sharedStrings.xml.

    ``rows`` are the sheet's rows from row 1, each cell the index of a shared string.
    """
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rels = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    sheet_rows = "".join(
        f'<row r="{r}">'
        + "".join(
            f'<c r="{chr(ord("A") + c)}{r}" t="s"><v>{index}</v></c>' for c, index in enumerate(row)
        )
        + "</row>"
        for r, row in enumerate(rows, start=1)
    )
    return zip_bytes(
        {
            "[Content_Types].xml": (
                b'<?xml version="1.0" encoding="UTF-8"?>'
                b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                b'<Default Extension="xml" ContentType="application/xml"/>'
                b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                b"</Types>"
            ),
            "_rels/.rels": (
                f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
                f'Type="{rels}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
            ).encode(),
            "xl/workbook.xml": (
                f'<workbook xmlns="{main}" xmlns:r="{rels}"><sheets>'
                '<sheet name="People" sheetId="1" r:id="rId1"/></sheets></workbook>'
            ).encode(),
            "xl/_rels/workbook.xml.rels": (
                f'<Relationships xmlns="{package}">'
                f'<Relationship Id="rId1" Type="{rels}/worksheet" Target="worksheets/sheet1.xml"/>'
                f'<Relationship Id="rId2" Type="{rels}/sharedStrings" Target="sharedStrings.xml"/>'
                "</Relationships>"
            ).encode(),
            "xl/sharedStrings.xml": (
                f'<sst xmlns="{main}" count="{len(strings_xml)}">' + "".join(strings_xml) + "</sst>"
            ).encode(),
            "xl/worksheets/sheet1.xml": (
                f'<worksheet xmlns="{main}"><sheetData>{sheet_rows}</sheetData></worksheet>'
            ).encode(),
        }
    )
