"""Spreadsheets through the pipeline: upload, the rows copy, chunks, reports, refusals."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from bulktasks.actions import action_get
from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.processing import (
    LeaseLost,
    bulk_task_chunk_process,
    bulk_task_claim,
    bulk_task_process,
    bulk_task_scan,
)
from bulktasks.processing import sheets as sheets_module
from bulktasks.readers.rows import ROWS
from bulktasks.storage import bulk_task_files_delete, bulk_task_storage, bulk_task_stored_files
from tests.bulktasks.pipeline import pending, report, scanned
from tests.bulktasks.workbooks import (
    XLSX_TYPE,
    compound_file,
    macro_enabled,
    people_sheet,
    rewrite_part,
    xlsx_bytes,
    xlsx_file,
)
from tests.conftest import bearer
from users import catalog
from users.models import Membership

pytestmark = pytest.mark.django_db

URL = "/v1/organizations/acme/bulk-tasks"
ERRORED = 2


@pytest.fixture
def client(api_client, organization, make_member):
    uploader = make_member(organization, [catalog.BULK_TASK_CREATE, catalog.BULK_TASK_GET])
    api_client.credentials(HTTP_AUTHORIZATION=bearer(uploader))
    return api_client


def stored_names(organization) -> list[str]:
    """The files stored for the organization's tasks (other tests' files share the folder)."""
    storage = bulk_task_storage()
    found: list[str] = []

    def walk(folder: str) -> None:
        try:
            folders, files = storage.listdir(folder)
        except FileNotFoundError:
            return
        found.extend(f"{folder}/{name}" for name in files)
        for name in folders:
            walk(f"{folder}/{name}")

    walk(f"bulk-tasks/{organization.pk}")
    return found


# -- Upload -----------------------------------------------------------------------------


def test_an_xlsx_upload_is_accepted_and_detected_from_its_bytes(client):
    response = client.post(
        URL,
        {"action": "users.import", "file": xlsx_file(people_sheet(2), name="people.txt")},
        format="multipart",
    )

    assert response.status_code == 201, response.content
    assert response.json()["data"]["file"]["mimetype"] == XLSX_TYPE


@pytest.mark.parametrize(
    ("content", "status", "code", "words"),
    [
        (macro_enabled(xlsx_bytes(people_sheet(1))), 415, 1011, "Macro-enabled workbooks (.xlsm"),
        (
            macro_enabled(xlsx_bytes(people_sheet(1)), how="vba-project"),
            415,
            1011,
            "Macro-enabled workbooks (.xlsm",
        ),
        (compound_file(["EncryptionInfo", "EncryptedPackage"]), 415, 1011, "password-protected"),
        (compound_file(["Workbook"]), 415, 1011, "Excel 97-2003 workbooks (.xls)"),
        (xlsx_bytes(people_sheet(5))[:900], 400, 1012, "the ZIP archive is corrupt"),
        (
            rewrite_part(
                xlsx_bytes(people_sheet(1)), "xl/worksheets/sheet1.xml", lambda _: b" " * (30 << 20)
            ),
            400,
            1012,
            "zip bomb",
        ),
    ],
    ids=["xlsm", "vba-project", "encrypted", "xls", "corrupt", "zip-bomb"],
)
def test_a_refused_workbook_is_answered_in_the_envelope_and_nothing_is_stored(
    client, organization, content, status, code, words
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("people.xlsx", content, content_type=XLSX_TYPE)

    response = client.post(URL, {"action": "users.import", "file": upload}, format="multipart")

    assert response.status_code == status, response.content
    body = response.json()
    assert body["status"] is False
    assert body["error"]["code"] == code
    assert words in body["error"]["message"]
    assert BulkTask.objects.count() == 0
    assert stored_names(organization) == []


def test_the_uncompressed_size_limit_is_a_setting(client, settings):
    settings.BULK_TASK_XLSX_MAX_UNCOMPRESSED_SIZE = 10_000
    upload = xlsx_file(people_sheet(500))

    response = client.post(URL, {"action": "users.import", "file": upload}, format="multipart")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1012
    assert "more than 10000 bytes" in response.json()["error"]["message"]


# -- Processing -------------------------------------------------------------------------


def test_a_workbook_is_imported_with_sheet_row_numbers_in_its_report(acme):
    rows = [
        ["Email", " firstName ", "lastName"],
        ["ada@example.com", "Ada", "Lovelace"],
        [],
        [12345, "Numbers", "Only"],
        ["grace@example.com", datetime(2024, 3, 1), 7.0],
        [None, None, None],
        ["ada@example.com", "Ada", "Again"],
    ]
    task = pending(acme, upload=xlsx_file(rows))

    finished = bulk_task_process(bulk_task_id=task.pk)

    assert finished is not None
    assert finished.status == BulkTask.Status.COMPLETED
    counters, lines = report(task)
    assert counters == (4, 2, 0, 0, 2)
    assert lines == [
        (ERRORED, 4, "email: '12345' is not a valid e-mail address"),
        (ERRORED, 7, "email: duplicate of line 2"),
    ]
    grace = Membership.objects.get(organization=acme, user__email="grace@example.com")
    # A date reads as ISO 8601, a whole number without ".0".
    assert (grace.first_name, grace.last_name) == ("2024-03-01", "7")


def test_a_big_sheet_is_cut_into_chunks_that_read_the_rows_copy(acme, settings):
    settings.BULK_TASK_CHUNK_SIZE = 3
    rows = people_sheet(10)
    rows.insert(5, [])  # a blank row 6: the later rows keep their numbers
    rows.append(["not-an-email", "Bad", "Row"])  # row 13
    task = pending(acme, upload=xlsx_file(rows))

    chunks = scanned(task)

    task.refresh_from_db()
    assert task.rows_key.startswith(f"bulk-tasks/{acme.pk}/{task.pk}/rows-")
    assert task.file_columns == ["email", "firstName", "lastName"]
    assert [(c.first_line, c.last_line, c.num_records) for c in chunks] == [
        (2, 4, 3),
        (5, 8, 3),
        (9, 11, 3),
        (12, 13, 2),
    ]
    with bulk_task_storage().open(task.rows_key, "rb") as copy:
        first_lines = [json.loads(line) for line in copy.read().splitlines()[:2]]
    assert first_lines == [
        [1, "email", "firstName", "lastName"],
        [2, "person1@example.com", "First1", "Last1"],
    ]

    # Any order, any worker: each chunk seeks into the copy.
    for chunk in reversed(chunks):
        assert bulk_task_chunk_process(chunk_id=chunk.pk, owner="w", dispatch=False) is not None

    counters, lines = report(task)
    assert (task.status, *counters) == ("completed", 11, 10, 0, 0, 1)
    assert lines == [(ERRORED, 13, "email: 'not-an-email' is not a valid e-mail address")]


def test_a_chunk_started_again_after_a_crash_counts_nothing_twice(acme, settings):
    settings.BULK_TASK_CHUNK_SIZE = 4
    task = pending(acme, upload=xlsx_file(people_sheet(8)))
    first, second = scanned(task)
    assert bulk_task_chunk_process(chunk_id=first.pk, owner="w1", dispatch=False) is not None
    # A worker dies holding the second chunk: its lease runs out, another takes over.
    BulkTaskChunk.objects.filter(pk=second.pk).update(
        status=BulkTaskChunk.Status.RUNNING,
        lease_owner="dead",
        lease_expires_at=timezone.now() - timedelta(minutes=5),
    )

    assert bulk_task_chunk_process(chunk_id=second.pk, owner="w2", dispatch=False) is not None
    assert bulk_task_chunk_process(chunk_id=first.pk, owner="w3", dispatch=False) is None

    counters, _ = report(task)
    assert (task.status, *counters) == ("completed", 8, 8, 0, 0, 0)


def test_a_scan_taken_over_after_the_copy_was_recorded_reuses_it(acme, monkeypatch):
    task = pending(acme, upload=xlsx_file(people_sheet(3)))
    claimed = bulk_task_claim(bulk_task_id=task.pk, owner="a")
    assert claimed is not None
    sheets_module.sheet_rows_copy(bulk_task=claimed, owner="a", keep_lease=lambda: None)
    recorded = BulkTask.objects.get(pk=task.pk).rows_key

    # The worker died before recording chunks; the next scan must not read the sheet again.
    monkeypatch.setattr(sheets_module, "iter_sheet_rows", lambda stream: pytest.fail("read again"))
    BulkTask.objects.filter(pk=task.pk).update(lease_owner="b")
    again = BulkTask.objects.get(pk=task.pk)
    bulk_task_scan(bulk_task=again, owner="b", action=action_get("users.import"), dispatch=False)

    again.refresh_from_db()
    assert again.rows_key == recorded
    assert again.num_items == 3


def test_a_scan_that_lost_its_lease_while_copying_deletes_its_copy(acme):
    task = pending(acme, upload=xlsx_file(people_sheet(3)))
    claimed = bulk_task_claim(bulk_task_id=task.pk, owner="a")
    assert claimed is not None
    BulkTask.objects.filter(pk=task.pk).update(lease_owner="b")

    with pytest.raises(LeaseLost):
        sheets_module.sheet_rows_copy(bulk_task=claimed, owner="a", keep_lease=lambda: None)

    assert BulkTask.objects.get(pk=task.pk).rows_key == ""
    assert stored_names(acme) == [task.file_key]


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        ([], "the first sheet is empty"),
        ([["email", "firstName"]], "file has a header row but no data rows"),
        (
            [["mail"], ["ada@example.com"]],
            "header row is missing column email and has unknown column mail; expected columns: "
            "email, firstName, lastName, picture",
        ),
    ],
)
def test_a_sheet_that_cannot_be_imported_fails_its_task_before_any_write(acme, rows, error):
    task = pending(acme, upload=xlsx_file(rows))

    finished = bulk_task_process(bulk_task_id=task.pk)

    assert finished is not None
    assert (finished.status, finished.error) == ("failed", error)
    assert not Membership.objects.filter(organization=acme).exists()


def test_a_workbook_damaged_inside_fails_its_task_with_a_clear_error(acme):
    data = rewrite_part(
        xlsx_bytes(people_sheet(2)),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"<sheetData>", b"<sheetData><row r='1'><c><v>1"),
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    task = pending(acme, upload=SimpleUploadedFile("p.xlsx", data))

    finished = bulk_task_process(bulk_task_id=task.pk)

    assert finished is not None
    assert finished.status == "failed"
    assert finished.error.startswith("the workbook could not be read")


def test_the_stored_files_of_a_task_include_its_rows_copy_and_are_deleted_together(acme):
    task = pending(acme, upload=xlsx_file(people_sheet(2)))
    bulk_task_process(bulk_task_id=task.pk)
    task.refresh_from_db()
    # A copy a dead scan stored but never recorded is in the task's folder too.
    orphan = bulk_task_storage().save(
        f"bulk-tasks/{acme.pk}/{task.pk}/rows-orphan.jsonl", _bytes(b"[1]\n")
    )

    stored = bulk_task_stored_files(bulk_task=task)

    assert stored[:2] == [task.file_key, task.rows_key]
    assert orphan in stored
    assert sorted(bulk_task_files_delete(bulk_task=task)) == sorted(stored)
    assert stored_names(acme) == []


def test_records_are_read_as_rows_only_once_the_copy_exists(acme):
    task = pending(acme, upload=xlsx_file(people_sheet(1)))
    from bulktasks.processing.files import records_source

    assert records_source(task).mimetype == XLSX_TYPE
    bulk_task_process(bulk_task_id=task.pk)
    task.refresh_from_db()
    assert records_source(task).mimetype == ROWS


def _bytes(content: bytes):
    from django.core.files.base import ContentFile

    return ContentFile(content)
