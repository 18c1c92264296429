"""Reading a large .xlsx in flat memory: rows dropped from the sheet's tree, shared strings on disk."""

from __future__ import annotations

import io

import pytest
from openpyxl.reader.strings import read_string_table
from openpyxl.worksheet import _reader as openpyxl_sheet_reader

from bulktasks.containers import ZipLimits
from bulktasks.readers import FileFormatError, RecordReader
from bulktasks.readers import shared_strings as shared_strings_module
from bulktasks.readers import xlsx as xlsx_module
from bulktasks.readers.rows import ROWS, rows_copy_write
from bulktasks.readers.shared_strings import SharedStrings
from bulktasks.readers.xlsx import iter_sheet_rows
from tests.bulktasks.workbooks import people_sheet, shared_strings_xlsx, xlsx_bytes

LIMITS = ZipLimits(max_uncompressed_size=64 * 1024 * 1024, max_compression_ratio=200)
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHEET_DATA = f"{{{MAIN}}}sheetData"


def rows_of(data: bytes) -> list[tuple[int, list[str]]]:
    return list(iter_sheet_rows(io.BytesIO(data), limits=LIMITS))


def table_of(strings_xml: list[str], **options) -> SharedStrings:
    xml = f'<sst xmlns="{MAIN}">{"".join(strings_xml)}</sst>'.encode()
    return SharedStrings.read(io.BytesIO(xml), max_string_xml_size=options.get("limit", 1 << 20))


def openpyxl_table_of(strings_xml: list[str]) -> list[str]:
    return read_string_table(
        io.BytesIO(f'<sst xmlns="{MAIN}">{"".join(strings_xml)}</sst>'.encode())
    )


# -- Shared strings read as openpyxl reads them -----------------------------------------

STRINGS = [
    "<si><t>ada@example.com</t></si>",
    # Rich text: the runs' texts, joined, their formatting dropped.
    '<si><r><rPr><b/><sz val="11"/></rPr><t>Ada</t></r><r><t xml:space="preserve"> Lovelace</t></r></si>',
    # A plain <t> before runs, as some writers produce.
    "<si><t>Dr. </t><r><t>Grace</t></r></si>",
    # Leading and trailing spaces, kept as written.
    '<si><t xml:space="preserve">  padded@example.com  </t></si>',
    '<si><t xml:space="preserve">\ttab and\nnewline </t></si>',
    # A phonetic guide is not part of the text.
    '<si><t>東京</t><rPh sb="0" eb="2"><t>トウキョウ</t></rPh><phoneticPr fontId="1"/></si>',
    # Empty strings, and a run without text.
    "<si><t/></si>",
    "<si/>",
    "<si><r><rPr><i/></rPr></r><r><t>x</t></r></si>",
    # openpyxl drops this escape's prefix; so do we.
    "<si><t>a_x005F_x000D_b</t></si>",
    "<si><t>&lt;tag&gt; &amp; &#233;</t></si>",
]


def test_each_kind_of_shared_string_reads_exactly_as_openpyxl_reads_it():
    with table_of(STRINGS) as table:
        assert list(table) == openpyxl_table_of(STRINGS)
        assert table[1] == "Ada Lovelace"
        assert table[2] == "Dr. Grace"
        assert table[3] == "  padded@example.com  "
        assert table[5] == "東京"
        assert table[6] == table[7] == ""
        assert table[8] == "x"


def test_rich_text_and_spaced_shared_strings_reach_the_rows_and_records():
    data = shared_strings_xlsx(
        [
            "<si><t>email</t></si>",
            "<si><r><t>first</t></r><r><rPr><b/></rPr><t>Name</t></r></si>",
            '<si><t xml:space="preserve">  ada@example.com </t></si>',
            '<si><r><rPr><b/></rPr><t xml:space="preserve">Ada </t></r><r><t>Byron</t></r></si>',
        ],
        [[0, 1], [2, 3]],
    )

    assert rows_of(data) == [(1, ["email", "firstName"]), (2, ["  ada@example.com ", "Ada Byron"])]
    copy = io.BytesIO()
    rows_copy_write(iter_sheet_rows(io.BytesIO(data), limits=LIMITS), copy, max_line_length=1000)
    copy.seek(0)
    records = list(RecordReader(copy, mimetype=ROWS, columns=("email", "firstName"), required=()))
    assert [(r.line, r.values) for r in records] == [
        (2, {"email": "ada@example.com", "firstName": "Ada Byron"})
    ]


def test_many_shared_strings_behave_like_the_list_openpyxl_builds(monkeypatch):
    # More strings than one batch of offsets, and a cache far smaller than the table.
    monkeypatch.setattr(shared_strings_module, "CACHE_SIZE", 16)
    strings = [f"<si><t>person{n}@example.com</t></si>" for n in range(20_000)]
    strings[12_345] = "<si><t>" + "é" * 5000 + "</t></si>"  # longer than the cache keeps
    expected = openpyxl_table_of(strings)

    with table_of(strings) as table:
        assert len(table) == len(expected) == 20_000
        for index in (0, 1, 8191, 8192, 8193, 12_345, 19_999, 0, 12_345, 8192):
            assert table[index] == expected[index]
        assert list(table) == expected
        assert table[5:8] == expected[5:8]
        assert table[-1:] == expected[-1:]
        assert "person77@example.com" in table
        for wrong in (20_000, -1):
            with pytest.raises(IndexError):
                table[wrong]
        assert len(table._cache) <= 16


def test_an_empty_table_and_a_workbook_without_one_refuse_every_index():
    with table_of([]) as table:
        assert len(table) == 0
        with pytest.raises(IndexError):
            table[0]
    assert rows_of(xlsx_bytes([["email"], ["ada@example.com"]])) == [
        (1, ["email"]),
        (2, ["ada@example.com"]),
    ]


def test_the_sheet_reads_its_shared_strings_from_the_table_on_disk(monkeypatch):
    reads: list[int] = []
    original = SharedStrings._read

    def counted(self, index):
        reads.append(index)
        return original(self, index)

    monkeypatch.setattr(SharedStrings, "_read", counted)
    data = shared_strings_xlsx(
        ["<si><t>email</t></si>", "<si><t>ada@example.com</t></si>"], [[0], [1]]
    )

    assert rows_of(data) == [(1, ["email"]), (2, ["ada@example.com"])]
    # openpyxl's own list would never call it: the reader's hook on read_strings is in place.
    assert reads == [0, 1]


def test_a_shared_string_past_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(xlsx_module, "MAX_STRING_XML_SIZE", 1000)
    data = shared_strings_xlsx(
        ["<si><t>email</t></si>", "<si><t>" + "a" * 2000 + "</t></si>"], [[0], [1]]
    )

    with pytest.raises(
        FileFormatError, match="a shared string of the workbook takes more than 1000"
    ):
        rows_of(data)


# -- Temporary files are closed whatever happens ---------------------------------------


@pytest.fixture
def temporary_files(monkeypatch):
    opened: list = []
    original = shared_strings_module.tempfile.TemporaryFile

    def recording(*args, **kwargs):
        file = original(*args, **kwargs)
        opened.append(file)
        return file

    monkeypatch.setattr(shared_strings_module.tempfile, "TemporaryFile", recording)
    return opened


def people_workbook(count: int) -> bytes:
    rows = people_sheet(count)
    strings = [f"<si><t>{text}</t></si>" for row in rows for text in row]
    return shared_strings_xlsx(strings, [[3 * r, 3 * r + 1, 3 * r + 2] for r in range(len(rows))])


def test_the_table_s_files_are_closed_after_a_whole_read(temporary_files):
    assert len(rows_of(people_workbook(5))) == 6
    assert len(temporary_files) == 2
    assert all(file.closed for file in temporary_files)


def test_the_table_s_files_are_closed_when_reading_stops_early(temporary_files):
    rows = iter_sheet_rows(io.BytesIO(people_workbook(50)), limits=LIMITS)
    assert next(rows)[0] == 1
    assert temporary_files
    assert not any(file.closed for file in temporary_files)
    rows.close()
    assert all(file.closed for file in temporary_files)


def test_the_table_s_files_are_closed_when_a_row_is_damaged(temporary_files):
    data = shared_strings_xlsx(["<si><t>email</t></si>"], [[0], [7]])

    with pytest.raises(FileFormatError, match="could not be read after row 1"):
        rows_of(data)
    assert len(temporary_files) == 2
    assert all(file.closed for file in temporary_files)


def test_the_table_s_files_are_closed_when_the_table_is_refused(temporary_files, monkeypatch):
    monkeypatch.setattr(xlsx_module, "MAX_STRING_XML_SIZE", 100)
    data = shared_strings_xlsx(["<si><t>email</t></si>", f"<si><t>{'a' * 500}</t></si>"], [[0]])

    with pytest.raises(FileFormatError, match="a shared string"):
        rows_of(data)
    assert len(temporary_files) == 2
    assert all(file.closed for file in temporary_files)


def test_the_table_s_files_are_closed_when_the_table_s_xml_is_broken(temporary_files):
    data = shared_strings_xlsx(["<si><t>email</t></si>", "<si><t>unclosed</si>"], [[0]])

    with pytest.raises(FileFormatError, match="could not be read"):
        rows_of(data)
    assert len(temporary_files) == 2
    assert all(file.closed for file in temporary_files)


# -- The sheet's rows do not pile up in its tree ---------------------------------------


def spying_iterparse(real, seen: list):
    """An iterparse that records each <sheetData> element and yields the events asked for."""

    def spy(source, events=None, **options):
        wanted = events or ("end",)
        for event, element in real(source, events=("start", "end"), **options):
            if event == "start" and element.tag == SHEET_DATA:
                seen.append(element)
            if event in wanted:
                yield event, element

    return spy


def children_after(rows, count: int, seen: list) -> int:
    """How many children the sheet's <sheetData> holds once ``count`` rows were read."""
    for _ in range(count):
        next(rows)
    # The last one seen is the rows' parse (openpyxl first looks for the sheet's dimension).
    assert seen, "the sheet's <sheetData> was not seen: openpyxl parses it elsewhere now"
    return len(seen[-1])


def test_rows_read_are_taken_out_of_the_sheet_s_tree(monkeypatch):
    # openpyxl's sheet parser must look its iterparse up where the hook sits.
    assert openpyxl_sheet_reader.iterparse is xlsx_module._iterparse
    seen: list = []
    monkeypatch.setattr(
        xlsx_module, "_openpyxl_iterparse", spying_iterparse(xlsx_module._openpyxl_iterparse, seen)
    )
    rows = iter_sheet_rows(io.BytesIO(people_workbook(1000)), limits=LIMITS)

    # The parser reads 16 KiB ahead, so the rows of that much XML (about 110 of
    # these) are in the tree before they are read: never the rows already read.
    after_600 = children_after(rows, 600, seen)
    after_900 = children_after(rows, 300, seen)
    assert after_600 < 200
    assert after_900 < 200
    assert sum(1 for _ in rows) == 101


def test_without_the_hook_the_emptied_rows_pile_up(monkeypatch):
    # The measurement above can fail: openpyxl alone keeps every emptied row.
    seen: list = []
    monkeypatch.setattr(
        openpyxl_sheet_reader, "iterparse", spying_iterparse(xlsx_module._openpyxl_iterparse, seen)
    )
    rows = iter_sheet_rows(io.BytesIO(people_workbook(1000)), limits=LIMITS)

    assert children_after(rows, 600, seen) >= 599
    rows.close()


def test_the_hook_changes_nothing_for_other_readers_of_openpyxl():
    source = io.BytesIO(
        f'<worksheet xmlns="{MAIN}"><sheetData><row r="1"/></sheetData></worksheet>'.encode()
    )

    events = list(openpyxl_sheet_reader.iterparse(source))

    assert [element.tag.rpartition("}")[2] for _, element in events] == [
        "row",
        "sheetData",
        "worksheet",
    ]
    assert len(events[1][1]) == 1


def test_the_scan_keeps_its_lease_while_the_shared_strings_load(acme, monkeypatch):
    """A table of millions of strings loads for minutes before the first row: the lease holds."""
    from bulktasks.processing import bulk_task_process, sheets
    from tests.bulktasks.files import raw_file
    from tests.bulktasks.pipeline import pending
    from tests.bulktasks.workbooks import shared_strings_xlsx

    strings = ["<si><t>email</t></si>", "<si><t>firstName</t></si>"]
    strings += [f"<si><t>{t}</t></si>" for n in range(50) for t in (f"p{n}@example.com", f"N{n}")]
    sheet_rows = [[0, 1]] + [[2 + 2 * n, 3 + 2 * n] for n in range(50)]
    task = pending(acme, upload=raw_file(shared_strings_xlsx(strings, sheet_rows), "p.xlsx"))
    looks: list[str] = []
    real = sheets.iter_sheet_rows

    def watched(stream, **kwargs):
        progress = kwargs["progress"]

        def noted():
            looks.append("strings" if not rows_seen else "rows")
            progress()

        rows_seen: list[object] = []
        for row in real(stream, **{**kwargs, "progress": noted}):
            rows_seen.append(row)
            yield row

    monkeypatch.setattr(sheets, "iter_sheet_rows", watched)

    finished = bulk_task_process(bulk_task_id=task.pk)

    assert finished is not None
    assert finished.status == "completed", finished.error
    # One look for each of the table's 102 strings, all before the first row.
    assert looks.count("strings") == 102
    assert finished.num_inserts == 50
