"""detect_mimetype: a file's type from its first bytes."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import io
import lzma
import zipfile

import pytest

from bulktasks import sniffing
from bulktasks.sniffing import CSV, EMPTY, JSON_LINES, SUPPORTED, Detected, detect_mimetype


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # What an .xlsx starts with: it must be reported as a zip archive.
        archive.writestr("[Content_Types].xml", "<Types/>")
    return buffer.getvalue()


def test_supported_types() -> None:
    assert {
        "text/csv",
        "application/x-ndjson",
        "application/x-empty",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    } == SUPPORTED


def test_detected_is_immutable() -> None:
    detected = detect_mimetype(b"email\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        detected.mimetype = "text/plain"  # type: ignore[misc]


def test_zero_bytes_is_empty_and_supported() -> None:
    assert detect_mimetype(b"") == Detected(mimetype=EMPTY, supported=True)


@pytest.mark.parametrize(
    "head",
    [
        b"email,firstName\na@example.com,Ann\n",
        b"\xef\xbb\xbfemail\r\na@example.com\r\n",
        b"  \n\temail\n",
        # Only truly empty files are EMPTY; the reader reports "file is empty" for these.
        b"\xef\xbb\xbf",
        b"\n\n   \n",
        # Not UTF-8 (Latin-1): still CSV here, the reader reports the encoding.
        b"email\nj\xe9r\xf4me@example.com\n",
        # "BZh" plus a digit is not enough to call it bzip2.
        b"BZh1,email\n",
        b"PK,email\n",
        b"%PD,email\n",
    ],
)
def test_text_is_csv(head: bytes) -> None:
    assert detect_mimetype(head) == Detected(mimetype=CSV, supported=True)


@pytest.mark.parametrize(
    "head",
    [
        b'{"email": "a@example.com"}\n{"email": "b@example.com"}\n',
        b'\xef\xbb\xbf{"email": "a@example.com"}\n',
        b'\r\n\r\n  \t{"email": "a@example.com"}\n',
        b"{",
    ],
)
def test_text_starting_with_a_brace_is_json_lines(head: bytes) -> None:
    assert detect_mimetype(head) == Detected(mimetype=JSON_LINES, supported=True)


@pytest.mark.parametrize(
    ("head", "mimetype"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf"),
        (b"%!PS-Adobe-3.0\n", "application/postscript"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
        (b"GIF89a\x01\x00\x01\x00", "image/gif"),
        (b"GIF87a\x01\x00\x01\x00", "image/gif"),
        (b"II*\x00\x08\x00\x00\x00", "image/tiff"),
        (zip_bytes(), "application/zip"),
        (b"PK\x05\x06" + bytes(18), "application/zip"),
        (gzip.compress(b"email\na@example.com\n"), "application/gzip"),
        (bz2.compress(b"email\na@example.com\n"), "application/x-bzip2"),
        (bz2.compress(b""), "application/x-bzip2"),
        (lzma.compress(b"email\na@example.com\n"), "application/x-xz"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", "application/x-7z-compressed"),
        (b"\x28\xb5\x2f\xfd\x24\x00", "application/zstd"),
        (b"Rar!\x1a\x07\x01\x00", "application/vnd.rar"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(8), "application/x-ole-storage"),
        (b"SQLite format 3\x00\x10\x00", "application/vnd.sqlite3"),
        (b"\x7fELF\x02\x01\x01\x00", "application/x-executable"),
        (b"{\\rtf1\\ansi\\deff0 {\\fonttbl}", "application/rtf"),
        (b'<?xml version="1.0"?>\n<users/>', "application/xml"),
        (b"\xef\xbb\xbf\n<!DOCTYPE html>\n<html>", "text/html"),
        (b"<HTML><body>", "text/html"),
        (b'[{"email": "a@example.com"}]', "application/json"),
    ],
)
def test_known_signatures_are_unsupported(head: bytes, mimetype: str) -> None:
    assert detect_mimetype(head) == Detected(mimetype=mimetype, supported=False)


@pytest.mark.parametrize(
    ("head", "mimetype"),
    [
        ("email\na@example.com\n".encode("utf-16"), "text/plain; charset=utf-16"),
        (b"\xfe\xff" + "email\n".encode("utf-16-be"), "text/plain; charset=utf-16"),
        (b"\xff\xfe" + "email\n".encode("utf-16-le"), "text/plain; charset=utf-16"),
        ("email\n".encode("utf-32"), "text/plain; charset=utf-32"),
        (b"\x00\x00\xfe\xff" + "email\n".encode("utf-32-be"), "text/plain; charset=utf-32"),
        # Without a BOM, ASCII text in UTF-16 shows as NULs on one side of each byte pair.
        ("email,firstName\na@example.com,Ann\n".encode("utf-16-le"), "text/plain; charset=utf-16"),
        ("email,firstName\na@example.com,Ann\n".encode("utf-16-be"), "text/plain; charset=utf-16"),
    ],
)
def test_utf16_and_utf32_are_unsupported(head: bytes, mimetype: str) -> None:
    assert detect_mimetype(head) == Detected(mimetype=mimetype, supported=False)


@pytest.mark.parametrize(
    "head",
    [
        b"email\na@example.com\x00\n",
        b"\x00",
        bytes(range(256)),
    ],
)
def test_any_nul_byte_is_binary(head: bytes) -> None:
    assert detect_mimetype(head) == Detected(mimetype="application/octet-stream", supported=False)


def test_mostly_control_characters_is_binary() -> None:
    head = b"email\n" + b"\x01\x02\x03\x1b\x1f" * 20
    assert detect_mimetype(head) == Detected(mimetype="application/octet-stream", supported=False)


def test_a_few_control_characters_are_still_text() -> None:
    head = b"email,firstName\n" + b"a@example.com,Ann\x1b[0m\n" * 10
    assert detect_mimetype(head) == Detected(mimetype=CSV, supported=True)


def test_control_character_threshold_is_about_ten_percent() -> None:
    assert detect_mimetype(b"a" * 90 + b"\x01" * 10).mimetype == CSV
    assert detect_mimetype(b"a" * 89 + b"\x01" * 11).mimetype == "application/octet-stream"


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_a_head_cut_inside_a_utf8_character_is_still_text(cut: int) -> None:
    csv_head = ("email\n" + "a" * 100 + "😀").encode()
    json_head = ('{"firstName": "' + "a" * 100 + "😀").encode()
    assert detect_mimetype(csv_head[:-cut]) == Detected(mimetype=CSV, supported=True)
    assert detect_mimetype(json_head[:-cut]) == Detected(mimetype=JSON_LINES, supported=True)


def test_a_head_cut_inside_the_bom_is_still_text() -> None:
    assert detect_mimetype(b"\xef\xbb").mimetype == CSV


def test_only_the_head_size_matters_to_callers() -> None:
    data = b"email\n" + b"a@example.com\n" * 10_000
    assert detect_mimetype(data[: sniffing.HEAD_SIZE]) == detect_mimetype(data)
