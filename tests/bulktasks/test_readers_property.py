"""read_records on arbitrary bytes: it yields Records or raises FileFormatError, nothing else."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from bulktasks.readers import FileFormatError, read_records
from bulktasks.sniffing import CSV, EMPTY, JSON_LINES, detect_mimetype

COLUMNS = ("email", "firstName", "lastName", "picture")

# Bytes that matter to the parsers, so that examples are more than random noise.
_interesting = st.sampled_from(
    [
        *(b",", b'"', b'""', b"\n", b"\r", b"\r\n", b"{", b"}", b":", b"[", b"\x00"),
        *(b"\xef\xbb\xbf", b"\xc3\xa9", b"\xff", b"\xc3", b" ", b"\\u0000"),
        *(b"email", b"firstName", b'{"email": "a"}'),
    ]
)
_documents = st.one_of(
    st.binary(max_size=2000),
    st.lists(st.one_of(_interesting, st.binary(max_size=8)), max_size=200).map(b"".join),
)


def _check(data: bytes, mimetype: str, max_line_length: int) -> None:
    stream = io.BytesIO(data)
    try:
        records = list(
            read_records(
                stream,
                mimetype=mimetype,
                columns=COLUMNS,
                required=("email",),
                max_line_length=max_line_length,
            )
        )
    except FileFormatError as exc:
        message = str(exc)
        assert message
        return
    lines = [record.line for record in records]
    assert lines == sorted(set(lines))
    assert all(line >= 1 for line in lines)
    for record in records:
        assert (record.values is None) == (record.error is not None)
        if record.values is not None:
            assert set(record.values) == set(COLUMNS)
            assert all(isinstance(value, str) for value in record.values.values())


@settings(max_examples=300, deadline=None)
@given(data=_documents, max_line_length=st.sampled_from([5, 40, 1_048_576]))
def test_csv_yields_records_or_raises_file_format_error(data: bytes, max_line_length: int) -> None:
    _check(data, CSV, max_line_length)


@settings(max_examples=300, deadline=None)
@given(data=_documents, max_line_length=st.sampled_from([5, 40, 1_048_576]))
def test_json_lines_yields_records_or_raises_file_format_error(
    data: bytes, max_line_length: int
) -> None:
    _check(data, JSON_LINES, max_line_length)


@settings(max_examples=300, deadline=None)
@given(data=_documents)
def test_whatever_the_sniffer_supports_reads_safely(data: bytes) -> None:
    detected = detect_mimetype(data[:8192])
    if detected.supported:
        _check(data, detected.mimetype, 1_048_576)
    else:
        assert detected.mimetype not in (CSV, JSON_LINES, EMPTY)


# -- errors.csv reads the same records, at the same lines, as the import ------------------


def _import_lines(data: bytes, mimetype: str) -> tuple[list[tuple[int, list[str] | None]], bool]:
    """(line, values in column order or None) of each record the import reads; and whether it read to the end."""
    found: list[tuple[int, list[str] | None]] = []
    try:
        for record in read_records(
            io.BytesIO(data), mimetype=mimetype, columns=COLUMNS, required=("email",)
        ):
            values = None if record.values is None else [record.values[c] for c in COLUMNS]
            found.append((record.line, values))
    except FileFormatError:
        return found, False
    return found, True


def _original_lines(data: bytes, mimetype: str) -> list[tuple[int, list[str] | None]]:
    from bulktasks.errorfile.originals import original_rows
    from bulktasks.models import BulkTask

    task = BulkTask(action="users.import", file_mimetype=mimetype, file_header=list(COLUMNS))
    return list(original_rows(io.BytesIO(data), task).rows)


@settings(max_examples=300, deadline=None)
@given(data=_documents)
def test_csv_original_rows_are_the_records_the_import_reads(data: bytes) -> None:
    document = b"email,firstName,lastName,picture\n" + data
    imported, whole = _import_lines(document, CSV)
    originals = _original_lines(document, CSV)

    if whole:
        assert [line for line, _ in originals] == [line for line, _ in imported]
    else:
        assert [line for line, _ in originals[: len(imported)]] == [line for line, _ in imported]
    for (_, values), (_, cells) in zip(imported, originals, strict=False):
        if values is not None:
            assert cells is not None
            assert [cell.strip() for cell in cells] == values


@settings(max_examples=300, deadline=None)
@given(data=_documents)
def test_json_lines_original_rows_are_the_records_the_import_reads(data: bytes) -> None:
    imported, whole = _import_lines(data, JSON_LINES)
    originals = _original_lines(data, JSON_LINES)

    if whole:
        assert [line for line, _ in originals] == [line for line, _ in imported]
    else:
        assert [line for line, _ in originals[: len(imported)]] == [line for line, _ in imported]
    for (_, values), (_, cells) in zip(imported, originals, strict=False):
        if values is not None:
            assert cells is not None
            assert [cell.strip() for cell in cells] == values
