"""read_records: CSV and JSON Lines records with the line numbers people see."""

from __future__ import annotations

import csv
import io
import json
import random
import types
import typing
from collections.abc import Iterator

import pytest

from bulktasks import readers
from bulktasks.readers import FileFormatError, Record, read_records
from bulktasks.readers.lines import CHUNK_SIZE
from bulktasks.sniffing import CSV, EMPTY, JSON_LINES

COLUMNS = ("email", "firstName", "lastName", "picture")
EXPECTED = "expected columns: email, firstName, lastName, picture"


def read(
    data: bytes,
    mimetype: str = CSV,
    *,
    columns: tuple[str, ...] = COLUMNS,
    required: tuple[str, ...] = (),
    max_line_length: int = readers.DEFAULT_MAX_LINE_LENGTH,
) -> list[Record]:
    records = read_records(
        io.BytesIO(data),
        mimetype=mimetype,
        columns=columns,
        required=required,
        max_line_length=max_line_length,
    )
    return list(records)


def file_error(
    data: bytes,
    mimetype: str = CSV,
    *,
    required: tuple[str, ...] = (),
    max_line_length: int = readers.DEFAULT_MAX_LINE_LENGTH,
) -> str:
    with pytest.raises(FileFormatError) as raised:
        read(data, mimetype, required=required, max_line_length=max_line_length)
    return str(raised.value)


def row(email: str = "", firstName: str = "", lastName: str = "", picture: str = "") -> dict:
    return {"email": email, "firstName": firstName, "lastName": lastName, "picture": picture}


def ok(line: int, **values: str) -> Record:
    return Record(line, row(**values))


def bad(line: int, error: str) -> Record:
    return Record(line, None, error)


class ChunkedStream(io.RawIOBase):
    """A read-only binary stream over byte chunks produced on demand, as a socket gives them."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        self.bytes_read += size
        return size


def as_binary_io(stream: io.RawIOBase) -> typing.BinaryIO:
    # Django's File and storage files are not typing.BinaryIO either; read() is all we use.
    return typing.cast(typing.BinaryIO, stream)


def one_byte_at_a_time(data: bytes) -> typing.BinaryIO:
    return as_binary_io(ChunkedStream(data[i : i + 1] for i in range(len(data))))


# -- CSV: reading ---------------------------------------------------------------------


def test_reads_csv_records_with_the_header_as_line_1() -> None:
    data = (
        b"email,firstName,lastName,picture\n"
        b"ann@example.com,Ann,Lee,https://example.com/ann.png\n"
        b"bob@example.com,Bob,Ray,\n"
    )
    assert read(data) == [
        ok(
            2,
            email="ann@example.com",
            firstName="Ann",
            lastName="Lee",
            picture="https://example.com/ann.png",
        ),
        ok(3, email="bob@example.com", firstName="Bob", lastName="Ray"),
    ]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no BOM", "BOM"])
@pytest.mark.parametrize("final_newline", [True, False])
def test_line_endings_and_bom_do_not_change_the_result(
    newline: bytes, bom: bytes, final_newline: bool
) -> None:
    lines = [b"email,firstName", b"ann@example.com,Ann", b"", b"bob@example.com,Bob"]
    data = bom + newline.join(lines) + (newline if final_newline else b"")
    assert read(data) == [
        ok(2, email="ann@example.com", firstName="Ann"),
        ok(4, email="bob@example.com", firstName="Bob"),
    ]


def test_header_names_match_columns_ignoring_case_and_surrounding_spaces() -> None:
    data = b" EMAIL ,firstname,LastName\t,Picture\nann@example.com,Ann,Lee,p.png\n"
    assert read(data) == [
        ok(2, email="ann@example.com", firstName="Ann", lastName="Lee", picture="p.png")
    ]


def test_columns_may_come_in_any_order_and_absent_ones_are_empty() -> None:
    data = b"lastName,email\nLee,ann@example.com\n"
    records = read(data)
    assert records == [ok(2, email="ann@example.com", lastName="Lee")]
    assert list(records[0].values or {}) == list(COLUMNS)


def test_values_are_stripped_and_empty_cells_are_empty_strings() -> None:
    data = b'email,firstName,lastName,picture\n  ann@example.com , " Ann ",,\t\n'
    assert read(data) == [ok(2, email="ann@example.com", firstName="Ann")]


def test_spaces_before_an_opening_quote_are_ignored() -> None:
    data = b'email, firstName, lastName\nann@example.com, "Lee, Ann", "x"\n'
    assert read(data) == [ok(2, email="ann@example.com", firstName="Lee, Ann", lastName="x")]


def test_quoted_fields_keep_commas_and_doubled_quotes() -> None:
    data = b'email,firstName,lastName\nann@example.com,"Lee, Ann","The ""Boss"""\n'
    assert read(data) == [
        ok(2, email="ann@example.com", firstName="Lee, Ann", lastName='The "Boss"')
    ]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_a_record_spanning_lines_is_reported_at_its_first_line(newline: bytes) -> None:
    data = newline.join(
        [
            b"email,firstName",  # 1
            b"ann@example.com,Ann",  # 2
            b'bob@example.com,"Bob',  # 3
            b'Junior"',  # 4
            b"cy@example.com,Cy",  # 5
            b'"dee@example.com","Dee',  # 6
            b"",  # 7, inside the quoted value
            b'Dee",',  # 8: one field too many
            b"eve@example.com,Eve",  # 9
            b"",
        ]
    )
    nl = newline.decode()
    assert read(data, columns=("email", "firstName"), required=("email",)) == [
        Record(2, {"email": "ann@example.com", "firstName": "Ann"}),
        Record(3, {"email": "bob@example.com", "firstName": f"Bob{nl}Junior"}),
        Record(5, {"email": "cy@example.com", "firstName": "Cy"}),
        bad(6, "expected 2 fields, found 3"),
        Record(9, {"email": "eve@example.com", "firstName": "Eve"}),
    ]


def test_blank_lines_are_skipped_but_counted() -> None:
    data = (
        b"\n"  # 1
        b"  \n"  # 2
        b"email,firstName,lastName,picture\n"  # 3: the header is the first non-blank line
        b"\n"  # 4
        b"ann@example.com,Ann,,\n"  # 5
        b" \t \n"  # 6
        b",,,\n"  # 7: a spreadsheet's empty row
        b" , ,\n"  # 8: blank even with the wrong number of cells
        b"\r\n"  # 9
        b"bob@example.com,Bob,,\n"  # 10
        b"\n\n"  # 11, 12
    )
    assert read(data) == [
        ok(5, email="ann@example.com", firstName="Ann"),
        ok(10, email="bob@example.com", firstName="Bob"),
    ]


def test_unicode_values_and_line_separators_inside_values_are_kept() -> None:
    # \u2028, \x0b and \x1c are line breaks to str.splitlines() but not to a text editor.
    value = "Zoë\u2028Ünal\x0b\x1cŁ"
    data = f"email,firstName\nzoe@example.com,{value}\nnext@example.com,N\n".encode()
    assert read(data) == [
        ok(2, email="zoe@example.com", firstName=value),
        ok(3, email="next@example.com", firstName="N"),
    ]


def test_a_field_larger_than_csvs_default_limit_is_read() -> None:
    big = "x" * (csv.field_size_limit() + 10)
    data = f'email,firstName\na@example.com,"{big}"\n'.encode()
    assert read(data) == [ok(2, email="a@example.com", firstName=big)]


def test_works_with_a_stream_returning_one_byte_at_a_time() -> None:
    data = (
        '\ufeffemail,firstName\r\nzoë@example.com,"Zoë\r\nÜnal"\r\n\r\nbob@example.com,Bob\r\n'
    ).encode()
    records = list(read_records(one_byte_at_a_time(data), mimetype=CSV, columns=COLUMNS))
    assert records == [
        ok(2, email="zoë@example.com", firstName="Zoë\r\nÜnal"),
        ok(5, email="bob@example.com", firstName="Bob"),
    ]


def test_a_character_split_between_two_chunks_is_read() -> None:
    header = b"email,firstName\n"
    before = b"b@example.com,"
    filler_size = CHUNK_SIZE - 1 - len(header) - len(before)
    filler = b"a@example.com," + b"x" * (filler_size - 15) + b"\n"
    data = header + filler + before + "é\n".encode()
    # "é" takes two bytes; the first one is the last byte of the first chunk.
    assert data.index("é".encode()) == CHUNK_SIZE - 1
    records = read(data)
    assert records[1] == ok(3, email="b@example.com", firstName="é")


def test_crlf_split_between_two_chunks_counts_as_one_line_break() -> None:
    header = b"email\r\n"
    filler = b"a" * (CHUNK_SIZE - len(header) - 1) + b"\r"
    data = header + filler + b"\nb@example.com\r\n"
    assert data[CHUNK_SIZE - 1 : CHUNK_SIZE + 1] == b"\r\n"
    records = read(data, columns=("email",))
    assert [record.line for record in records] == [2, 3]


def test_streams_a_large_file_without_reading_it_whole() -> None:
    lines = 200_000

    def generate() -> Iterator[bytes]:
        yield b"email,firstName,lastName,picture\r\n"
        for start in range(0, lines, 1000):
            yield b"".join(
                b"user%d@example.com,First %d,Last,https://example.com/%d.png\r\n" % (i, i, i)
                for i in range(start, start + 1000)
            )

    stream = ChunkedStream(generate())
    records = read_records(as_binary_io(stream), mimetype=CSV, columns=COLUMNS, required=("email",))
    first = next(records)
    assert first == ok(
        2,
        email="user0@example.com",
        firstName="First 0",
        lastName="Last",
        picture="https://example.com/0.png",
    )
    # Nothing like the whole file (about 12 MB) has been read to produce the first record.
    assert stream.bytes_read <= 2 * CHUNK_SIZE
    count = 1
    last = first
    for last in records:
        assert last.error is None
        count += 1
    assert count == lines
    assert last.line == lines + 1
    assert last.values is not None
    assert last.values["email"] == f"user{lines - 1}@example.com"


# -- CSV: file-level problems -----------------------------------------------------------


@pytest.mark.parametrize("mimetype", [CSV, JSON_LINES])
@pytest.mark.parametrize(
    "data",
    [b"", b"\xef\xbb\xbf", b"\n", b"\r\n\r\n", b"  \t \n \n", b"\xef\xbb\xbf\n  \n"],
    ids=["zero bytes", "BOM only", "one newline", "CRLFs", "whitespace", "BOM and blanks"],
)
def test_empty_files(mimetype: str, data: bytes) -> None:
    assert file_error(data, mimetype) == "file is empty"


def test_the_empty_type_is_an_empty_file() -> None:
    assert file_error(b"", EMPTY) == "file is empty"


@pytest.mark.parametrize(
    "data",
    [b"email", b"email\n", b"email\r\n\r\n\n", b"\xef\xbb\xbfemail,firstName\n,\n \n"],
)
def test_header_only(data: bytes) -> None:
    assert file_error(data) == "file has a header row but no data rows"


def test_latin1_text_is_not_utf8() -> None:
    assert file_error(b"email\nj\xe9r\xf4me@example.com\n") == "file is not valid UTF-8 (line 2)"


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_invalid_utf8_is_reported_at_its_line_far_into_the_file(newline: bytes) -> None:
    good = b"user@example.com,Ann" + newline
    data = b"email,firstName" + newline + good * 50_000 + b"j\xe9r\xf4me@example.com,J" + newline
    assert len(data) > 10 * CHUNK_SIZE
    assert file_error(data) == "file is not valid UTF-8 (line 50002)"


def test_invalid_utf8_inside_a_multiline_value_is_reported_at_its_physical_line() -> None:
    data = b'email,firstName\na@example.com,"one\ntwo\nthr\xffee"\n'
    assert file_error(data) == "file is not valid UTF-8 (line 4)"


def test_a_truncated_character_at_the_end_is_not_utf8() -> None:
    assert file_error(b"email\na@example.com\nb\xc3") == "file is not valid UTF-8 (line 3)"


def test_invalid_utf8_inside_a_line_too_long_to_keep_is_reported() -> None:
    data = b"email\n" + b"a" * 100 + b"\xff" + b"a" * 100 + b"\nb@example.com\n"
    assert file_error(data, max_line_length=50) == "file is not valid UTF-8 (line 2)"


def test_binary_garbage_after_a_valid_header() -> None:
    garbage = random.Random(7).randbytes(20_000)
    message = file_error(b"email,firstName\n" + garbage)
    assert message.startswith("file is not valid UTF-8")


def test_utf16_text_is_not_utf8() -> None:
    assert file_error("email\na@example.com\n".encode("utf-16")).startswith(
        "file is not valid UTF-8"
    )


def test_unterminated_quote_swallowing_the_rest_of_the_file() -> None:
    data = (
        b"email,firstName\n"
        b"ann@example.com,Ann\n"
        b'bob@example.com,"Bob\n'  # 3: the quote never closes
        b"cy@example.com,Cy\n"
        b"dee@example.com,Dee\n"
    )
    records = read_records(io.BytesIO(data), mimetype=CSV, columns=COLUMNS)
    assert next(records) == ok(2, email="ann@example.com", firstName="Ann")
    with pytest.raises(FileFormatError, match=r"^unterminated quoted field starting at line 3$"):
        next(records)


def test_unterminated_quote_in_the_header() -> None:
    assert file_error(b'email,"firstName\na,b\n') == "unterminated quoted field starting at line 1"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"email,Email", "header row has duplicate column email"),
        (b"email,firstName, EMAIL ", "header row has duplicate column email"),
        (b"firstname,firstName", "header row has duplicate column firstName"),
        (b"email,frstName", f"header row has unknown column frstName; {EXPECTED}"),
        (
            b"email,frstName,lstName",
            f"header row has unknown columns frstName, lstName; {EXPECTED}",
        ),
        (
            b"email;firstName",
            "header row is missing column email and has unknown column email;firstName; "
            f"{EXPECTED} (columns must be separated by commas)",
        ),
        (b"email,firstName,,lastName", "header row has an empty column name (column 3)"),
        (b"email,firstName,", "header row has an empty column name (column 3)"),
        (b'email,"  ",lastName', "header row has an empty column name (column 2)"),
        (b"firstName,lastName", "header row is missing column email"),
        (
            b"mail,lastName",
            f"header row is missing column email and has unknown column mail; {EXPECTED}",
        ),
    ],
)
def test_header_problems(header: bytes, message: str) -> None:
    data = header + b"\nann@example.com,Ann,Lee\n"
    assert file_error(data, required=("email",)) == message


def test_header_missing_several_required_columns() -> None:
    data = b"picture\na.png\n"
    assert file_error(data, required=("email", "lastName")) == (
        "header row is missing columns email, lastName"
    )


def test_a_long_unknown_column_name_is_shortened_in_the_message() -> None:
    message = file_error(b"email," + b"x" * 5000 + b"\na,b\n")
    assert len(message) < 250
    assert "x" * 60 + "..." in message


def test_header_line_too_long() -> None:
    assert file_error(b"email," + b"x" * 100 + b"\na\n", max_line_length=50) == (
        "header row is longer than 50 characters"
    )


def test_header_with_a_nul_character() -> None:
    assert file_error(b"email,first\x00Name\na,b\n") == "header row contains a NUL character"


def test_header_with_bad_quoting() -> None:
    assert file_error(b'email,"first"Name\na,b\n') == (
        "header row: a closing quote must be followed by a comma or the end of the line"
    )


def test_unsupported_type() -> None:
    assert file_error(b"%PDF-1.7", "application/pdf") == "unsupported file type application/pdf"


def test_type_parameters_are_ignored() -> None:
    assert read(b"email\na@example.com\n", "Text/CSV; charset=utf-8") == [
        ok(2, email="a@example.com")
    ]


def test_reading_is_lazy() -> None:
    # A generator: even an unsupported type only fails once iterated, so callers can wrap
    # the iteration alone in one try block.
    records = read_records(io.BytesIO(b""), mimetype="image/png", columns=COLUMNS)
    with pytest.raises(FileFormatError):
        next(records)


def test_programming_mistakes_are_not_file_errors() -> None:
    with pytest.raises(ValueError, match="required"):
        read(b"email\na\n", required=("phone",))
    with pytest.raises(ValueError, match="columns"):
        read(b"email\na\n", columns=())


# -- CSV: line-level problems -------------------------------------------------------------


def test_rows_with_the_wrong_number_of_fields() -> None:
    data = (
        b"email,firstName,lastName,picture\n"
        b"a@example.com,Ann,Lee,a.png,extra\n"
        b"b@example.com,Bob\n"
        b"c@example.com,Cy,Ray,c.png\n"
    )
    assert read(data) == [
        bad(2, "expected 4 fields, found 5"),
        bad(3, "expected 4 fields, found 2"),
        ok(4, email="c@example.com", firstName="Cy", lastName="Ray", picture="c.png"),
    ]


def test_one_column_file_with_a_comma_in_a_row() -> None:
    assert read(b"email\na@example.com,b@example.com\n", columns=("email",)) == [
        bad(2, "expected 1 field, found 2")
    ]


def test_the_10mb_line() -> None:
    data = b"email\n" + b"a" * 10_000_000 + b"\nok@example.com\n"
    assert read(data) == [
        bad(2, "line is longer than 1048576 characters"),
        ok(3, email="ok@example.com"),
    ]


def test_a_csv_line_of_exactly_the_maximum_length_is_read() -> None:
    data = (
        b"email,firstName\r\n"
        + b"a@example.com,"
        + b"x" * 6
        + b"\r\n"
        + b"b,y"
        + b"z" * 18
        + b"\r\n"
    )
    assert read(data, max_line_length=20) == [
        ok(2, email="a@example.com", firstName="xxxxxx"),
        bad(3, "line is longer than 20 characters"),
    ]


@pytest.mark.parametrize("size", [21, 100, 70_000, 200_000])
def test_long_lines_of_any_size_are_refused_and_reading_goes_on(size: int) -> None:
    data = b"email\n" + b"a" * size + b"\r\nb@example.com\r\n" + b"c" * size + b"\rd@example.com"
    assert read(data, max_line_length=20) == [
        bad(2, "line is longer than 20 characters"),
        ok(3, email="b@example.com"),
        bad(4, "line is longer than 20 characters"),
        ok(5, email="d@example.com"),
    ]


def test_a_long_last_line_without_a_newline() -> None:
    assert read(b"email\nb@example.com\n" + b"a" * 100_000, max_line_length=20) == [
        ok(2, email="b@example.com"),
        bad(3, "line is longer than 20 characters"),
    ]


def test_a_quoted_value_spanning_lines_past_the_maximum_is_one_error() -> None:
    data = (
        b"email,firstName\n"  # 1
        b'a@example.com,"short\n'  # 2: the record starts here
        b'still "" inside\n'  # 3
        b"long enough to overrun the budget\n"  # 4
        b'end",\n'  # 5: the value closes; the record ends here
        b"b@example.com,Bob\n"  # 6
    )
    assert read(data, max_line_length=30) == [
        bad(2, "record is longer than 30 characters"),
        ok(6, email="b@example.com", firstName="Bob"),
    ]


def test_a_huge_quoted_value_is_refused_without_being_kept() -> None:
    data = b'email,firstName\na@example.com,"' + b"word\n" * 400_000 + b'"\nb@example.com,Bob\n'
    assert read(data) == [
        bad(2, "record is longer than 1048576 characters"),
        ok(400_003, email="b@example.com", firstName="Bob"),
    ]


def test_a_value_too_long_that_never_closes_is_unterminated() -> None:
    data = b'email,firstName\na@example.com,Ann\nb@example.com,"' + b"word\n" * 100
    records = read_records(io.BytesIO(data), mimetype=CSV, columns=COLUMNS, max_line_length=50)
    assert next(records) == ok(2, email="a@example.com", firstName="Ann")
    assert next(records) == bad(3, "record is longer than 50 characters")
    with pytest.raises(FileFormatError, match=r"^unterminated quoted field starting at line 3$"):
        next(records)


def test_a_nul_character_makes_the_line_an_error() -> None:
    data = b"email,firstName\na@exa\x00mple.com,Ann\nb@example.com,Bob\n"
    assert read(data) == [
        bad(2, "line contains a NUL character"),
        ok(3, email="b@example.com", firstName="Bob"),
    ]


def test_a_nul_character_inside_a_multiline_value() -> None:
    data = b'email,firstName\na@example.com,"Ann\nAn\x00n\nAnn"\nb@example.com,Bob\n'
    assert read(data) == [
        bad(2, "line 3 contains a NUL character"),
        ok(5, email="b@example.com", firstName="Bob"),
    ]


def test_text_after_a_closing_quote() -> None:
    data = b'email,firstName\na@example.com,"Ann"ie\nb@example.com,Bob\n'
    assert read(data) == [
        bad(2, "a closing quote must be followed by a comma or the end of the line"),
        ok(3, email="b@example.com", firstName="Bob"),
    ]


def test_quotes_inside_an_unquoted_value_are_kept() -> None:
    data = b'email,firstName\na@example.com,5" floppy\n'
    assert read(data) == [ok(2, email="a@example.com", firstName='5" floppy')]


# -- CSV: the process-wide field size limit ------------------------------------------------


def test_the_csv_field_size_limit_is_restored() -> None:
    before = csv.field_size_limit()
    records = read_records(io.BytesIO(b"email\na\nb\n"), mimetype=CSV, columns=COLUMNS)
    next(records)
    assert csv.field_size_limit() == readers.DEFAULT_MAX_LINE_LENGTH + 1
    assert list(records) == [ok(3, email="b")]
    assert csv.field_size_limit() == before


def test_the_csv_field_size_limit_is_restored_when_abandoned_or_failing() -> None:
    before = csv.field_size_limit()
    records = read_records(io.BytesIO(b"email\na\nb\n"), mimetype=CSV, columns=COLUMNS)
    next(records)
    assert isinstance(records, types.GeneratorType)
    records.close()
    assert csv.field_size_limit() == before
    with pytest.raises(FileFormatError):
        read(b"frstName\na\n")
    assert csv.field_size_limit() == before


def test_overlapping_readers_keep_the_largest_limit_until_the_last_one_ends() -> None:
    before = csv.field_size_limit()
    data = b"email\na\nb\n"
    small = read_records(io.BytesIO(data), mimetype=CSV, columns=COLUMNS, max_line_length=10)
    large = read_records(io.BytesIO(data), mimetype=CSV, columns=COLUMNS, max_line_length=10**7)
    next(small)
    next(large)
    assert csv.field_size_limit() == 10**7 + 1
    assert isinstance(large, types.GeneratorType)
    large.close()
    assert csv.field_size_limit() == max(before, 11)
    assert list(small) == [ok(3, email="b")]
    assert csv.field_size_limit() == before


# -- JSON Lines -------------------------------------------------------------------------


def test_reads_json_lines() -> None:
    data = (
        b'\xef\xbb\xbf{"email": "ann@example.com", "firstName": " Ann ", "picture": null}\r\n'
        b"\r\n"
        b'  {"EMAIL": "bob@example.com", "LastName": "Ray"}  \n'
        b"{}\n"
        b'{"email": "zo\\u00eb@example.com", "firstName": "Zo\xc3\xab\\n\\u2028"}'
    )
    assert read(data, JSON_LINES) == [
        ok(1, email="ann@example.com", firstName="Ann"),
        ok(3, email="bob@example.com", lastName="Ray"),
        ok(4),
        ok(5, email="zoë@example.com", firstName="Zoë"),
    ]


def test_json_lines_every_line_level_error() -> None:
    lines = [
        '{"email": "a@example.com"}',  # 1
        '{"email": "a@example.com"',  # 2
        '{"email": "a@example.com"} {}',  # 3
        "[1, 2]",  # 4
        '"a@example.com"',  # 5
        "42",  # 6
        "null",  # 7
        '{"frstName": "Ann"}',  # 8
        '{"frstName": "Ann", "lstName": "Lee", "email": "a"}',  # 9
        '{"firstName": 42}',  # 10
        '{"firstName": true}',  # 11
        '{"firstName": ["Ann"]}',  # 12
        '{"firstName": {"first": "Ann"}}',  # 13
        '{"email": "a", "Email": "b"}',  # 14
        '{"email": "a", "email": "b"}',  # 15
        '{"email": "a\\u0000b"}',  # 16
        '{"email": "a\\ud800b"}',  # 17
        "[" * 100_000,  # 18
        '{"firstName": ' + "1" * 5000 + "}",  # 19
        "{'email': 'a'}",  # 20
        '{"email": "b@example.com"}',  # 21
    ]
    data = "\n".join(lines).encode()
    assert read(data, JSON_LINES) == [
        ok(1, email="a@example.com"),
        bad(2, "invalid JSON: expecting ',' delimiter at column 26"),
        bad(3, "invalid JSON: extra data at column 28"),
        bad(4, "expected a JSON object"),
        bad(5, "expected a JSON object"),
        bad(6, "expected a JSON object"),
        bad(7, "expected a JSON object"),
        bad(8, "unknown field frstName"),
        bad(9, "unknown fields frstName, lstName"),
        bad(10, "field firstName must be a string"),
        bad(11, "field firstName must be a string"),
        bad(12, "field firstName must be a string"),
        bad(13, "field firstName must be a string"),
        bad(14, "duplicate field email"),
        bad(15, "duplicate field email"),
        bad(16, "field email contains a NUL character"),
        bad(17, "field email contains an invalid character"),
        bad(18, "invalid JSON: nested too deeply"),
        bad(19, "invalid JSON: a number is too long"),
        bad(20, "invalid JSON: expecting property name enclosed in double quotes at column 2"),
        ok(21, email="b@example.com"),
    ]


def test_json_lines_unknown_keys_are_shown_safely() -> None:
    data = json.dumps({"a\x00\ud800b" + "x" * 100: "v"}).encode()
    [record] = read(data, JSON_LINES)
    assert record.error is not None
    assert record.error.startswith("unknown field a\\x00\\ud800b")
    record.error.encode("utf-8")
    assert len(record.error) < 100


def test_json_lines_missing_required_keys_are_not_the_readers_business() -> None:
    assert read(b'{"firstName": "Ann"}\n', JSON_LINES, required=("email",)) == [
        ok(1, firstName="Ann")
    ]


def test_json_lines_a_line_too_long() -> None:
    data = b'{"email": "' + b"a" * 10_000_000 + b'"}\n{"email": "ok@example.com"}\n'
    assert read(data, JSON_LINES) == [
        bad(1, "line is longer than 1048576 characters"),
        ok(2, email="ok@example.com"),
    ]


def test_json_lines_a_nul_character() -> None:
    data = b'{"email": "a\x00"}\n{"email": "b"}\n'
    assert read(data, JSON_LINES) == [bad(1, "line contains a NUL character"), ok(2, email="b")]


def test_json_lines_invalid_utf8() -> None:
    data = b'{"email": "a"}\n\n{"email": "j\xe9r\xf4me"}\n'
    assert file_error(data, JSON_LINES) == "file is not valid UTF-8 (line 3)"


def test_json_lines_only_errors_is_not_empty() -> None:
    assert read(b"\nnope\n", JSON_LINES) == [bad(2, "invalid JSON: expecting value at column 1")]


# -- Anything in, only records or FileFormatError out ---------------------------------------


def mutations(seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    base = (
        b'\xef\xbb\xbfemail,firstName,lastName,picture\r\n"a@x",\xc3\xa9,"x\r\ny""z",\n'
        b'{"email": "a", "firstName": null}\n'
    )
    alphabet = b'",\r\n{}[]:\x00\xff\xc3\xa9 a\\'
    for _ in range(400):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(len(data) + 1)
            if rng.random() < 0.5 and data:
                del data[position : position + rng.randint(1, 4)]
            else:
                data[position:position] = bytes(rng.choices(alphabet, k=rng.randint(1, 4)))
        yield bytes(data)
    for size in (0, 1, 2, 3, 10, 100, 5000):
        yield rng.randbytes(size)


@pytest.mark.parametrize("mimetype", [CSV, JSON_LINES])
def test_any_bytes_give_records_or_a_file_format_error(mimetype: str) -> None:
    outcomes = set()
    for data in mutations(seed=len(mimetype)):
        try:
            records = read(data, mimetype, max_line_length=40)
        except FileFormatError as exc:
            message = str(exc)
            outcomes.add("file error")
            assert message
            continue
        lines = [record.line for record in records]
        assert lines == sorted(set(lines))
        for record in records:
            assert (record.values is None) == (record.error is not None)
            if record.values is not None:
                assert set(record.values) == set(COLUMNS)
        outcomes.add("records")
    assert outcomes == {"file error", "records"}


# -- Starting mid-file ------------------------------------------------------------------

_CSV_PIECES = [
    "a@x.com,A,B",
    '"q\nr"@x.com,x,y',
    "",
    "  ",
    "é@x.com,É,ü",
    "x" * 60,
    '"' + "y" * 70 + '"',
    'bad,"a"b,c',
    "\x00,1,2",
    ",,",
]
_JSON_PIECES = ['{"email":"a@x.com"}', "", '{"email":"é"}', "{bad", '{"email":"' + "z" * 60 + '"}']


def _resumes_match(data: bytes, mimetype: str) -> int:
    """Start a reader at every record's start; it must read exactly what the whole-file one did."""
    columns = ("email", "firstName", "lastName")
    whole = readers.RecordReader(
        io.BytesIO(data), mimetype=mimetype, columns=columns, max_line_length=50
    )
    records, starts = [], []
    try:
        for record in whole:
            records.append(record)
            starts.append(whole.record_start)
    except FileFormatError:
        return 0
    for index, start in enumerate(starts):
        stream = io.BytesIO(data)
        stream.seek(start.offset)
        resumed = readers.RecordReader(
            stream,
            mimetype=mimetype,
            columns=columns,
            max_line_length=50,
            start=start,
            header=whole.header,
        )
        assert list(resumed) == records[index:], (data, index, start)
    return len(starts)


@pytest.mark.parametrize("mimetype", [CSV, JSON_LINES])
def test_a_reader_started_at_a_records_offset_reads_the_rest_with_the_same_line_numbers(mimetype):
    rng = random.Random(7)
    pieces = _CSV_PIECES if mimetype == CSV else _JSON_PIECES
    checked = 0
    for _ in range(400):
        lines = [rng.choice(pieces) for _ in range(rng.randint(1, 8))]
        if mimetype == CSV:
            lines.insert(0, "email,firstName,lastName")
        newline = rng.choice(["\n", "\r\n", "\r"]) if mimetype == CSV else "\n"
        text = rng.choice(["", "\ufeff"]) + newline.join(lines) + rng.choice(["", newline])
        checked += _resumes_match(text.encode(), mimetype)
    assert checked > 500
