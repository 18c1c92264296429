"""Builders for upload files used across the pipeline tests."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile


def csv_file(
    rows: list[str],
    *,
    header: str = "email,firstName,lastName",
    name: str = "people.csv",
    newline: str = "\n",
    bom: bool = False,
) -> SimpleUploadedFile:
    """A CSV upload with a header row and the given data rows."""
    text = newline.join([header, *rows]) + newline
    content = ("\ufeff" if bom else "").encode() + text.encode()
    return SimpleUploadedFile(name, content, content_type="text/csv")


def raw_file(
    content: bytes, name: str = "people.csv", content_type: str = "text/csv"
) -> SimpleUploadedFile:
    """An upload with exactly these bytes; the declared content type is never trusted."""
    return SimpleUploadedFile(name, content, content_type=content_type)


def people_rows(count: int, *, start: int = 1, domain: str = "example.com") -> list[str]:
    """``count`` distinct, valid people."""
    return [f"person{n}@{domain},First{n},Last{n}" for n in range(start, start + count)]


def mixed_rows(count: int) -> list[str]:
    """People with, every so often, an invalid e-mail, a duplicate and an existing member."""
    rows = []
    for n in range(1, count + 1):
        if n % 97 == 0:
            rows.append(f"not-an-email-{n},Bad,Row")
        elif n % 89 == 0:
            rows.append(f"person{n - 1}@example.com,Dup,Row")
        elif n % 83 == 0:
            rows.append(f"existing{n}@example.com,Existing,Member")
        else:
            rows.append(f"person{n}@example.com,First{n},Last{n}")
    return rows
