"""The readers' ignored columns: an export's extra columns, read back by an import."""

from __future__ import annotations

import io

import pytest

from bulktasks.readers import FileFormatError, Record, read_records

COLUMNS = ("email", "firstName")
IGNORED = ("roles", "joinedAt")


def read(data: bytes, mimetype: str = "text/csv", ignored=IGNORED) -> list[Record]:
    return list(
        read_records(
            io.BytesIO(data),
            mimetype=mimetype,
            columns=COLUMNS,
            required=("email",),
            ignored=ignored,
        )
    )


def test_csv_ignored_columns_are_accepted_anywhere_and_left_out_of_the_records():
    records = read(b"roles,email,JoinedAt,firstName\r\nops; admins,a@example.com,2026,Ada\r\n")

    assert records == [Record(2, {"email": "a@example.com", "firstName": "Ada"})]


def test_an_export_read_back_gets_its_neutralized_cells_restored():
    records = read(b"email,firstName,roles\n'-a@example.com,'=1+1,\nb@example.com,''@x,\n")

    assert [record.values for record in records] == [
        {"email": "-a@example.com", "firstName": "=1+1"},
        {"email": "b@example.com", "firstName": "'@x"},
    ]


def test_a_file_without_the_exports_columns_keeps_its_cells_as_they_are():
    records = read(b"email,firstName\n'-a@example.com,'=1+1\n")

    assert records[0].values == {"email": "'-a@example.com", "firstName": "'=1+1"}


def test_without_ignored_columns_they_are_unknown():
    with pytest.raises(FileFormatError, match="unknown column roles"):
        read(b"email,roles\na@example.com,ops\n", ignored=())


def test_an_ignored_column_twice_is_a_duplicate():
    with pytest.raises(FileFormatError, match="duplicate column roles"):
        read(b"email,roles,roles\na@example.com,x,y\n")


def test_json_lines_ignored_fields_may_hold_any_json_value():
    data = (
        b'{"email": "a@example.com", "roles": ["ops", "admins"], "joinedAt": "2026-01-02T03:04:05Z"}\n'
        b'{"email": "b@example.com", "roles": null, "joinedAt": 5}\n'
        b'{"email": "c@example.com", "team": "x"}\n'
    )

    records = read(data, "application/x-ndjson")

    assert records == [
        Record(1, {"email": "a@example.com", "firstName": ""}),
        Record(2, {"email": "b@example.com", "firstName": ""}),
        Record(3, None, "unknown field team"),
    ]


def test_an_ignored_column_may_not_also_be_a_column():
    with pytest.raises(ValueError, match="columns must differ"):
        read(b"email\na@example.com\n", ignored=("email",))


# -- One mechanism: an action's ignored columns and an errors file's two --------------


def test_an_errors_file_of_an_export_ignores_both_kinds_of_column_and_restores_once():
    data = (
        b'"email","firstName","roles","errorLine","errorReason"\r\n'
        b'"\'-a@example.com","\'=1+1","ops","2","\'-bad"\r\n'
    )

    records = read(data)

    assert records == [Record(2, {"email": "-a@example.com", "firstName": "=1+1"})]


def test_json_lines_leave_an_errors_files_columns_out_as_well():
    data = b'{"email": "a@example.com", "errorLine": 3, "errorReason": "x"}\n'

    records = read(data, "application/x-ndjson", ignored=())

    assert records == [Record(1, {"email": "a@example.com", "firstName": ""})]


def test_a_sheets_rows_copy_ignores_an_exports_columns_and_restores_its_cells():
    data = (
        b'[1,"email","firstName","roles","joinedAt"]\n'
        b'[2,"\'=a@example.com","\'+Ada","ops","2026-01-02T03:04:05Z"]\n'
    )

    records = read(data, "application/x-bulk-task-rows")

    assert records == [Record(2, {"email": "=a@example.com", "firstName": "+Ada"})]


def test_a_sheet_without_those_columns_keeps_its_cells_as_they_are():
    data = b'[1,"email","firstName"]\n[2,"a@example.com","\'+Ada"]\n'

    records = read(data, "application/x-bulk-task-rows")

    assert records == [Record(2, {"email": "a@example.com", "firstName": "'+Ada"})]
