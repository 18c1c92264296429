"""Reading .xlsx workbooks: cell texts, row numbers, and every workbook that is refused."""

from __future__ import annotations

import io
import struct
import zipfile
from datetime import date, datetime, time, timedelta

import pytest

from bulktasks import sniffing
from bulktasks.containers import ContainerProblem, ZipLimits, zip_open
from bulktasks.readers import FileFormatError, RecordReader
from bulktasks.readers import xlsx as xlsx_module
from bulktasks.readers.rows import ROWS, rows_copy_write
from bulktasks.readers.xlsx import cell_text, column_letter, iter_sheet_rows
from tests.bulktasks.workbooks import (
    compound_file,
    macro_enabled,
    rewrite_part,
    with_cached_formula,
    xlsx_bytes,
    zip_bytes,
)

LIMITS = ZipLimits(max_uncompressed_size=64 * 1024 * 1024, max_compression_ratio=200)


def rows_of(data: bytes) -> list[tuple[int, list[str]]]:
    return list(iter_sheet_rows(io.BytesIO(data), limits=LIMITS))


def detect(data: bytes, limits: ZipLimits = LIMITS) -> sniffing.Detected:
    return sniffing.detect_file(io.BytesIO(data), limits=limits)


# -- Cells as a person reads them -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("Ada", "Ada"),
        (12345, "12345"),
        (12345.0, "12345"),
        (1.0, "1"),
        (-3.0, "-3"),
        (4155550123.0, "4155550123"),
        (0.1, "0.1"),
        (3.14, "3.14"),
        (1e-05, "0.00001"),
        (True, "TRUE"),
        (False, "FALSE"),
        (datetime(2024, 3, 1), "2024-03-01"),
        (datetime(2024, 3, 1, 9, 30), "2024-03-01T09:30:00"),
        (datetime(2024, 3, 1, 9, 30, 5, 250000), "2024-03-01T09:30:05.250"),
        (date(2024, 3, 1), "2024-03-01"),
        (time(9, 30), "09:30:00"),
        (timedelta(hours=26, minutes=5), "26:05:00"),
        ("#N/A", "#N/A"),
    ],
)
def test_a_cell_reads_as_the_text_a_person_typed(value, text):
    assert cell_text(value) == text


@pytest.mark.parametrize(("index", "letters"), [(1, "A"), (26, "Z"), (27, "AA"), (16384, "XFD")])
def test_column_letters(index, letters):
    assert column_letter(index) == letters


def test_rows_come_with_their_sheet_row_numbers_and_texts():
    data = xlsx_bytes(
        [
            ["email", "id", "joined", "score", "active"],
            ["ada@example.com", 12345, datetime(2024, 3, 1), 1.0, True],
            [],
            [None, None, None],
            ["grace@example.com", 7.0, datetime(2024, 3, 1, 9, 30), 0.25, False],
            ["  ", None],
            [12345, None, None, None, None],
        ]
    )

    assert rows_of(data) == [
        (1, ["email", "id", "joined", "score", "active"]),
        (2, ["ada@example.com", "12345", "2024-03-01", "1", "TRUE"]),
        # Rows 3, 4 and 6 are blank: left out, still counted.
        (5, ["grace@example.com", "7", "2024-03-01T09:30:00", "0.25", "FALSE"]),
        (7, ["12345"]),
    ]


def test_blank_rows_before_the_header_and_far_down_keep_their_numbers():
    data = xlsx_bytes([], at={"A3": "email", "A4": "ada@example.com", "A1000": "bob@example.com"})

    assert rows_of(data) == [(3, ["email"]), (4, ["ada@example.com"]), (1000, ["bob@example.com"])]


def test_empty_cells_between_values_stay_empty_and_surrounding_spaces_stay():
    data = xlsx_bytes([["email", "firstName", "lastName"], [" ada@example.com ", None, "L"]])

    assert rows_of(data)[1] == (2, [" ada@example.com ", "", "L"])


def test_a_formula_gives_its_cached_value_and_is_never_evaluated():
    data = xlsx_bytes([["email", "firstName"], ["ada@example.com", 1], ["bob@example.com", 2]])
    # B2 holds =1+1 as Excel saved it, with 41 cached (not what the formula gives).
    data = with_cached_formula(data, "B2", "1+1", "41")

    rows = rows_of(data)

    assert rows[1] == (2, ["ada@example.com", "41"])
    assert all("=" not in cell for _, cells in rows for cell in cells)


def test_a_formula_without_a_cached_value_reads_as_empty():
    # openpyxl saves formulas without a value: nothing ever computed one.
    data = xlsx_bytes([["email", "firstName"], ["ada@example.com", "=UPPER(A2)"]])

    assert rows_of(data)[1] == (2, ["ada@example.com"])


def test_only_the_first_sheet_is_read_even_when_another_is_active():
    def second_sheet(workbook):
        other = workbook.create_sheet("Other")
        other.append(["not", "read"])
        workbook.active = 1

    data = xlsx_bytes([["email"], ["ada@example.com"]], before=second_sheet)

    assert rows_of(data) == [(1, ["email"]), (2, ["ada@example.com"])]


def test_a_row_whose_xml_is_too_large_is_refused_without_being_built(monkeypatch):
    monkeypatch.setattr(xlsx_module, "MAX_ROW_XML_SIZE", 20_000)
    data = xlsx_bytes([["email"], ["ada@example.com"], [f"v{n}" for n in range(2000)]])

    with pytest.raises(FileFormatError, match="a row of the first sheet takes more than 20000"):
        rows_of(data)


def test_a_row_number_past_the_sheet_limit_is_refused():
    data = xlsx_bytes([["email"], ["ada@example.com"]])
    data = rewrite_part(
        data,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b'<row r="2"', b'<row r="1048577"').replace(
            b'r="A2"', b'r="A1048577"'
        ),
    )

    with pytest.raises(FileFormatError, match="rows past row 1048576"):
        rows_of(data)


def test_a_damaged_sheet_is_a_file_format_error_not_a_crash():
    data = xlsx_bytes([["email"], ["ada@example.com"]])
    # A shared string index that does not exist (there is no shared strings table).
    data = rewrite_part(
        data,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(
            b'<c r="A2" t="inlineStr"><is><t>ada@example.com</t></is></c>',
            b'<c r="A2" t="s"><v>999</v></c>',
        ),
    )

    with pytest.raises(FileFormatError, match="could not be read after row 1"):
        rows_of(data)


# -- Detection and refusals -------------------------------------------------------------


def test_an_xlsx_is_detected_from_its_content_types():
    detected = detect(xlsx_bytes([["email"], ["ada@example.com"]]))

    assert detected == sniffing.Detected(sniffing.XLSX, supported=True)


@pytest.mark.parametrize("how", ["content-type", "vba-project"])
def test_a_macro_enabled_workbook_is_refused(how):
    detected = detect(macro_enabled(xlsx_bytes([["email"]]), how=how))

    assert not detected.supported
    assert not detected.unreadable
    assert "Macro-enabled workbooks (.xlsm" in detected.refusal


def test_a_password_protected_workbook_is_refused():
    detected = detect(compound_file(["EncryptionInfo", "EncryptedPackage"]))

    assert not detected.supported
    assert detected.refusal.startswith("The workbook is password-protected")


def test_a_legacy_xls_is_refused_with_what_to_do():
    detected = detect(compound_file(["Workbook", "\x05SummaryInformation"]))

    assert detected.mimetype == sniffing.XLS
    assert "save it as an Excel Workbook (.xlsx)" in detected.refusal


def test_another_compound_file_is_an_unsupported_type_without_a_workbook_refusal():
    detected = detect(compound_file(["WordDocument"]))

    assert detected == sniffing.Detected(sniffing.COMPOUND_FILE, supported=False)


def test_a_damaged_compound_file_is_still_refused_as_its_kind():
    detected = detect(compound_file(["EncryptedPackage"])[:600])

    assert detected == sniffing.Detected(sniffing.COMPOUND_FILE, supported=False)


def test_a_zip_that_is_not_a_workbook_is_an_unsupported_type():
    assert detect(zip_bytes({"notes.txt": b"hello"})) == sniffing.Detected(
        sniffing.ZIP, supported=False
    )
    word = zip_bytes(
        {
            "[Content_Types].xml": b'<Types><Override ContentType="application/vnd.openxmlformats-'
            b'officedocument.wordprocessingml.document.main+xml"/></Types>'
        }
    )
    assert detect(word) == sniffing.Detected(sniffing.ZIP, supported=False)


def test_a_corrupt_zip_is_unreadable():
    data = xlsx_bytes([["email"], ["ada@example.com"]])

    for broken in (data[: len(data) // 2], b"PK\x03\x04" + bytes(100)):
        detected = detect(broken)
        assert detected.unreadable
        assert "the ZIP archive is corrupt" in detected.refusal


def test_a_zip_bomb_is_refused_from_its_directory_by_ratio():
    bomb = rewrite_part(
        xlsx_bytes([["email"]]), "xl/worksheets/sheet1.xml", lambda _: b"\0" * (20 * 1024 * 1024)
    )

    detected = detect(bomb)

    assert detected.unreadable
    assert "packed more than 200 times smaller" in detected.refusal


def test_a_workbook_unpacking_past_the_total_limit_is_refused():
    data = xlsx_bytes([["email"], *([f"person{n}@example.com"] for n in range(2000))])
    small = ZipLimits(max_uncompressed_size=20_000, max_compression_ratio=200)

    detected = detect(data, limits=small)

    assert detected.unreadable
    assert "would unpack to more than 20000 bytes" in detected.refusal
    with pytest.raises(FileFormatError, match="would unpack to more than 20000 bytes"):
        list(iter_sheet_rows(io.BytesIO(data), limits=small))


def test_a_directory_claiming_too_many_entries_is_refused_before_zipfile_reads_it():
    data = bytearray(zip_bytes({"a.txt": b"a"}))
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 60_000, 60_000)

    with pytest.raises(ContainerProblem, match="holds 60000 parts"):
        zip_open(io.BytesIO(bytes(data)), limits=LIMITS)


def test_a_part_that_lies_about_its_size_is_never_inflated_past_it():
    # The limits trust the sizes the directory declares; zipfile stops a part at
    # its declared size and reports it damaged, so lying only breaks the part.
    data = bytearray(zip_bytes({"big.xml": b"\0" * (10 * 1024 * 1024)}))
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 1000)

    archive = zip_open(io.BytesIO(bytes(data)), limits=LIMITS)
    with archive, pytest.raises(zipfile.BadZipFile):
        archive.read("big.xml")


def test_the_reader_refuses_what_the_upload_refuses():
    with pytest.raises(FileFormatError, match="macro-enabled"):
        rows_of(macro_enabled(xlsx_bytes([["email"]])))


# -- The rows copy the chunks read ------------------------------------------------------


def copy_of(rows, max_line_length=1000) -> bytes:
    out = io.BytesIO()
    rows_copy_write(rows, out, max_line_length=max_line_length)
    return out.getvalue()


def records_of(copy: bytes, **options):
    reader = RecordReader(
        io.BytesIO(copy),
        mimetype=ROWS,
        columns=("email", "firstName", "lastName"),
        required=("email",),
        **options,
    )
    return [(r.line, r.values, r.error) for r in reader], reader


def test_the_copy_gives_records_numbered_by_sheet_row():
    copy = copy_of(
        [(2, [" Email ", "FIRSTNAME"]), (3, ["ada@example.com", " Ada "]), (9, ["b@x.io"])]
    )

    records, reader = records_of(copy)

    assert reader.header == ("email", "firstName")
    assert records == [
        (3, {"email": "ada@example.com", "firstName": "Ada", "lastName": ""}, None),
        (9, {"email": "b@x.io", "firstName": "", "lastName": ""}, None),
    ]


def test_a_value_beyond_the_header_is_an_errored_row_and_empty_cells_beyond_it_are_not():
    copy = copy_of(
        [(1, ["email", "firstName"]), (2, ["a@x.io", "A", "", "extra"]), (3, ["b@x.io", "B", ""])]
    )

    records, _ = records_of(copy)

    assert records[0] == (2, None, "cell D2 has a value but column D has no header")
    assert records[1][2] is None


def test_a_row_too_long_or_holding_a_nul_is_an_errored_row():
    copy = copy_of(
        [(1, ["email"]), (2, ["x" * 20]), (3, ["a\x00b"]), (4, ["ok@x.io"])], max_line_length=10
    )

    records, _ = records_of(copy)

    assert [(line, error) for line, _, error in records] == [
        (2, "row is longer than 10 characters"),
        (3, "cell A3 contains a NUL character"),
        (4, None),
    ]


def test_a_copy_far_longer_than_one_line_s_budget_reads_to_its_end():
    # Each line gets the whole budget: it is not shared by the whole copy.
    copy = copy_of(
        [(1, ["email"]), *((n, [f"p{n}@x.io"]) for n in range(2, 2002))], max_line_length=10
    )
    assert len(copy) > 2 * (8 * 10 + 64)

    records, _ = records_of(copy, max_line_length=10)

    assert len(records) == 2000
    assert all(error is None for _, _, error in records)


def test_a_chunk_resumes_in_the_copy_from_its_offset():
    copy = copy_of([(1, ["email"]), *((n, [f"p{n}@x.io"]) for n in range(2, 12))])
    whole = RecordReader(io.BytesIO(copy), mimetype=ROWS, columns=("email",))
    starts = {}
    for record in whole:
        starts[record.line] = whole.record_start

    stream = io.BytesIO(copy)
    stream.seek(starts[7].offset)
    resumed = RecordReader(
        stream, mimetype=ROWS, columns=("email",), start=starts[7], header=whole.header
    )

    assert [r.line for r in resumed] == [7, 8, 9, 10, 11]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "the first sheet is empty"),
        ([(1, ["email"])], "file has a header row but no data rows"),
        (
            [(1, ["mail"]), (2, ["a@x.io"])],
            "header row is missing column email and has unknown column mail",
        ),
    ],
)
def test_file_level_problems_of_a_sheet(rows, message):
    with pytest.raises(FileFormatError, match=message):
        records_of(copy_of(rows))
