"""Exports through the API: POST .../bulk-tasks with action=users.export, GET .../result."""

from __future__ import annotations

import errno
import io
from unittest import mock

import pytest
from openpyxl import load_workbook

from bulktasks.models import BulkTask, IdempotencyKey
from bulktasks.processing import bulk_task_process
from bulktasks.storage import bulk_task_storage
from tests.bulktasks.exports import member, result_bytes
from tests.bulktasks.files import csv_file, people_rows
from tests.conftest import bearer
from tests.factories import BulkTaskFactory, OrganizationFactory
from users import catalog

pytestmark = pytest.mark.django_db

URL = "/v1/organizations/acme/bulk-tasks"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def exporter(organization, make_member):
    """A member who may export and read tasks, but not upload."""
    return make_member(organization, [catalog.BULK_TASK_EXPORT, catalog.BULK_TASK_GET])


@pytest.fixture
def client(api_client, exporter):
    api_client.credentials(HTTP_AUTHORIZATION=bearer(exporter))
    return api_client


def export(client, **fields):
    headers = {k: v for k, v in fields.items() if k.startswith("HTTP_")}
    data = {"action": "users.export", **{k: v for k, v in fields.items() if k not in headers}}
    return client.post(URL, data, format="multipart", **headers)


def finished(task_id: str) -> BulkTask:
    done = bulk_task_process(bulk_task_id=task_id)
    assert done is not None
    assert done.status == "completed", done.error
    return done


# -- Create -----------------------------------------------------------------------


def test_an_export_is_created_without_a_file_in_csv_by_default(client, exporter):
    response = export(client)

    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["status"] == "pending"
    assert data["action"] == "users.export"
    assert data["config"] == {"override": False, "dryRun": False, "format": "csv"}
    assert "file" not in data
    assert data["createdBy"]["id"] == exporter.id
    assert response["Location"].endswith(f"{URL}/{data['id']}")
    task = BulkTask.objects.get(pk=data["id"])
    assert (task.result_format, task.file_key) == ("csv", "")


@pytest.mark.parametrize("result_format", ["csv", "jsonl", "xlsx"])
def test_the_format_is_kept_and_shown(client, result_format):
    response = export(client, format=result_format)

    assert response.status_code == 201, response.content
    assert response.json()["data"]["config"]["format"] == result_format
    task_id = response.json()["data"]["id"]
    assert client.get(f"{URL}/{task_id}").json()["data"]["config"]["format"] == result_format


def test_an_import_shows_no_format(organization, make_member, api_client):
    uploader = make_member(organization, [catalog.BULK_TASK_CREATE])
    api_client.credentials(HTTP_AUTHORIZATION=bearer(uploader))

    response = api_client.post(
        URL, {"action": "users.import", "file": csv_file(people_rows(1))}, format="multipart"
    )

    assert response.json()["data"]["config"] == {"override": False, "dryRun": False}


def test_an_unknown_format_is_400_naming_it(client):
    response = export(client, format="pdf")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1002
    assert response.json()["error"]["message"].startswith("format:")
    assert BulkTask.objects.count() == 0


def test_a_file_with_an_export_is_400_and_nothing_is_stored(client):
    response = export(client, file=csv_file(people_rows(1)))

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": 1002,
        "message": "file: users.export reads no file; send the form without one",
    }
    assert BulkTask.objects.count() == 0


def test_a_file_with_an_export_from_a_member_who_may_also_upload_is_400_too(
    api_client, organization, make_member
):
    both = make_member(organization, [catalog.BULK_TASK_CREATE, catalog.BULK_TASK_EXPORT])
    api_client.credentials(HTTP_AUTHORIZATION=bearer(both))

    response = export(api_client, file=csv_file(people_rows(1)), format="csv")

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("file: users.export reads no file")
    assert BulkTask.objects.count() == 0


def test_a_format_with_an_import_is_400(api_client, organization, make_member):
    uploader = make_member(organization, [catalog.BULK_TASK_CREATE])
    api_client.credentials(HTTP_AUTHORIZATION=bearer(uploader))

    response = api_client.post(
        URL,
        {"action": "users.import", "format": "csv", "file": csv_file(people_rows(1))},
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1002
    assert response.json()["error"]["message"].startswith("format: users.import reads a file")
    assert BulkTask.objects.count() == 0


def test_an_import_without_a_file_is_still_400_naming_it(api_client, organization, make_member):
    uploader = make_member(organization, [catalog.BULK_TASK_CREATE])
    api_client.credentials(HTTP_AUTHORIZATION=bearer(uploader))

    response = api_client.post(URL, {"action": "users.import"}, format="multipart")

    assert response.status_code == 400
    assert response.json()["error"] == {"code": 1002, "message": "file: This field is required."}


class TestXlsxSheetLimit:
    """An XLSX result is one sheet, all an import reads: an export past it is refused, never cut."""

    @pytest.fixture(autouse=True)
    def two_rows_a_sheet(self, monkeypatch):
        monkeypatch.setattr("bulktasks.exports.formats.XLSX_MAX_ROWS", 2)

    def test_more_members_than_a_sheet_holds_is_400_1014_suggesting_csv(self, client, organization):
        member(organization, "ada@example.com")
        member(organization, "bob@example.com")  # and the exporter: three rows

        response = export(client, format="xlsx")

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == 1014
        assert "at most 2 rows" in error["message"]
        assert "csv or jsonl" in error["message"]
        assert not BulkTask.objects.exists()

    def test_csv_and_json_lines_have_no_such_limit(self, client, organization):
        member(organization, "ada@example.com")
        member(organization, "bob@example.com")

        for result_format in ("csv", "jsonl"):
            assert export(client, format=result_format).status_code == 201

    def test_as_many_members_as_a_sheet_holds_is_accepted(self, client, organization):
        member(organization, "ada@example.com")
        member(organization, "gone@example.com", is_active=False)  # not a row of the export

        response = export(client, format="xlsx")

        assert response.status_code == 201, response.content
        done = finished(response.json()["data"]["id"])
        rows = list(load_workbook(io.BytesIO(result_bytes(done))).active.values)
        assert len(rows) == 3  # the header and two members

    def test_members_who_join_after_the_task_was_created_fail_it_with_a_clear_error(
        self, client, organization
    ):
        member(organization, "ada@example.com")
        task_id = export(client, format="xlsx").json()["data"]["id"]
        member(organization, "bob@example.com")

        done = bulk_task_process(bulk_task_id=task_id)

        assert done.status == "failed"
        assert done.error == (
            "format: xlsx holds at most 2 rows (one sheet, which is all an import reads) "
            "and this export has 3 rows; ask for csv or jsonl instead"
        )
        assert done.result_key == ""
        result = client.get(f"{URL}/{task_id}/result")
        assert (result.status_code, result.json()["error"]["code"]) == (409, 3008)


def test_override_on_an_export_is_400(client):
    response = export(client, override="true")

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("override: users.export")


class TestPermissions:
    def test_an_export_needs_the_export_permission_not_create(
        self, api_client, organization, make_member
    ):
        uploader = make_member(organization, [catalog.BULK_TASK_CREATE, catalog.BULK_TASK_GET])
        api_client.credentials(HTTP_AUTHORIZATION=bearer(uploader))

        response = export(api_client)

        assert response.status_code == 403
        assert response.json()["error"] == {
            "code": 4003,
            "message": "Permission denied: base.bulk.management.export is required",
        }
        assert BulkTask.objects.count() == 0

    def test_the_export_permission_does_not_let_one_upload(self, client):
        response = client.post(
            URL, {"action": "users.import", "file": csv_file(people_rows(1))}, format="multipart"
        )

        assert response.status_code == 403
        assert response.json()["error"]["message"] == (
            "Permission denied: base.bulk.management.create is required"
        )
        assert BulkTask.objects.count() == 0

    def test_neither_permission_is_403_naming_both(self, api_client, organization, make_member):
        reader = make_member(organization, [catalog.BULK_TASK_GET, catalog.BULK_TASK_LIST])
        api_client.credentials(HTTP_AUTHORIZATION=bearer(reader))

        response = export(api_client)

        assert response.status_code == 403
        assert response.json()["error"]["message"] == (
            "Permission denied: base.bulk.management.create or "
            "base.bulk.management.export is required"
        )

    def test_a_member_of_another_organization_gets_404(self, api_client, make_member):
        OrganizationFactory(slug="acme")
        outsider = make_member(OrganizationFactory(slug="globex"), [catalog.BULK_TASK_EXPORT])
        api_client.credentials(HTTP_AUTHORIZATION=bearer(outsider))

        response = export(api_client)

        assert (response.status_code, response.json()["error"]["code"]) == (404, 3001)
        assert BulkTask.objects.count() == 0

    def test_an_unknown_action_is_400_1008_for_an_exporter_too(self, client):
        response = export(client, action="users.exfiltrate")

        assert (response.status_code, response.json()["error"]["code"]) == (400, 1008)


class TestIdempotency:
    def test_the_same_key_and_format_returns_the_same_task(self, client):
        first = export(client, format="jsonl", HTTP_IDEMPOTENCY_KEY="k1")
        second = export(client, format="jsonl", HTTP_IDEMPOTENCY_KEY="k1")

        assert (first.status_code, second.status_code) == (201, 201)
        assert second.json()["data"]["id"] == first.json()["data"]["id"]
        assert second["Idempotent-Replayed"] == "true"
        assert BulkTask.objects.count() == 1

    def test_the_same_key_with_another_format_is_409(self, client):
        export(client, format="csv", HTTP_IDEMPOTENCY_KEY="k1")

        response = export(client, format="xlsx", HTTP_IDEMPOTENCY_KEY="k1")

        assert response.status_code == 409
        assert response.json()["error"]["code"] == 3004
        assert BulkTask.objects.count() == 1
        assert IdempotencyKey.objects.count() == 1

    def test_the_default_format_is_the_same_request_as_csv(self, client):
        first = export(client, HTTP_IDEMPOTENCY_KEY="k1")
        second = export(client, format="csv", HTTP_IDEMPOTENCY_KEY="k1")

        assert second.json()["data"]["id"] == first.json()["data"]["id"]


# -- The result -----------------------------------------------------------------------


@pytest.fixture
def people(organization):
    member(organization, "ada@example.com", first_name="Ada", roles=("ops",))
    member(organization, "zoe@example.com", first_name="Zoë")
    return organization


@pytest.mark.parametrize(
    ("result_format", "content_type"),
    [("csv", "text/csv; charset=utf-8"), ("jsonl", "application/x-ndjson"), ("xlsx", XLSX)],
)
def test_a_completed_export_streams_its_file_as_an_attachment(
    client, people, result_format, content_type
):
    task_id = export(client, format=result_format).json()["data"]["id"]
    done = finished(task_id)

    response = client.get(f"{URL}/{task_id}/result")

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == (
        f'attachment; filename="acme-users-{task_id}.{result_format}"'
    )
    assert response["Cache-Control"] == "no-store"
    content = b"".join(response.streaming_content)
    assert content == result_bytes(done)
    assert int(response["Content-Length"]) == len(content)
    if result_format == "xlsx":
        emails = [row[0] for row in load_workbook(io.BytesIO(content))["users"].values]
        assert emails[0] == "email"
        assert "ada@example.com" in emails
    else:
        assert b"ada@example.com" in content
        assert "Zoë".encode() in content


@pytest.mark.parametrize("accept", ["text/csv", "*/*"])
def test_an_export_has_no_errors_file_409_3012(client, people, accept):
    task_id = export(client).json()["data"]["id"]
    finished(task_id)

    response = client.get(f"{URL}/{task_id}/errors.csv", HTTP_ACCEPT=accept)

    assert response.status_code == 409
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": False,
        "error": {
            "code": 3012,
            "message": "Bulk task has no errors file: an export reads no file, so it has no "
            "errored lines; download its result from .../result",
        },
    }


def test_the_task_reports_the_rows_written(client, people):
    task_id = export(client).json()["data"]["id"]
    finished(task_id)

    report = client.get(f"{URL}/{task_id}").json()["data"]["report"]

    # Ada, Zoë, and the exporter, a member too.
    assert report == {
        "numItems": 3, "numInserts": 0, "numUpdates": 0, "numSkips": 0, "numErrors": 0,
        "skippedLines": [], "erroredLines": [],
    }  # fmt: skip


def test_the_result_comes_whatever_the_accept_header_asks(client, people):
    task_id = export(client).json()["data"]["id"]
    finished(task_id)

    response = client.get(f"{URL}/{task_id}/result", HTTP_ACCEPT="text/csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"


@pytest.mark.parametrize("status", ["pending", "inProgress"])
def test_an_export_not_finished_is_409_3007(client, status):
    task_id = export(client).json()["data"]["id"]
    BulkTask.objects.filter(pk=task_id).update(status=status)

    response = client.get(f"{URL}/{task_id}/result", HTTP_ACCEPT="text/csv")

    assert response.status_code == 409
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": False,
        "error": {
            "code": 3007,
            "message": f"Result not ready: the task is {status}; download it once completed",
        },
    }


def test_a_failed_export_is_409_3008(client):
    task_id = export(client).json()["data"]["id"]
    BulkTask.objects.filter(pk=task_id).update(status="failed", error="gave up")

    response = client.get(f"{URL}/{task_id}/result")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == 3008


def test_an_import_has_no_result_409_3009(client, organization):
    task = BulkTaskFactory(organization=organization, status="completed")

    response = client.get(f"{URL}/{task.pk}/result")

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": 3009,
        "message": "Bulk task has no result file: users.import produces none",
    }


def test_a_result_no_longer_stored_is_not_served(client, people):
    task_id = export(client).json()["data"]["id"]
    done = finished(task_id)
    from bulktasks.storage import bulk_task_storage

    bulk_task_storage().delete(done.result_key)

    response = client.get(f"{URL}/{task_id}/result")

    # The answer of a result deleted at the end of retention: 410, 3006.
    assert response.status_code == 410
    assert response.json()["error"] == {
        "code": 3006,
        "message": "File expired: the result file is no longer stored",
    }


@pytest.mark.parametrize(
    ("failure", "status"),
    [(OSError(errno.EIO, "Input/output error"), 503), (PermissionError(13, "denied"), 500)],
)
def test_a_storage_that_fails_the_read_answers_in_the_envelope(client, people, failure, status):
    task_id = export(client).json()["data"]["id"]
    finished(task_id)
    client.raise_request_exception = False

    with mock.patch.object(bulk_task_storage(), "open", side_effect=failure):
        response = client.get(f"{URL}/{task_id}/result")

    # A storage that is away for the moment is a 503 to retry; a broken
    # configuration stays a 500, still in the envelope.
    assert response.status_code == status
    assert response.json()["status"] is False
    assert response.json()["error"]["code"] == (5003 if status == 503 else 5000)


def test_reading_the_result_needs_the_get_permission(api_client, organization, make_member, people):
    owner = make_member(organization, [catalog.BULK_TASK_EXPORT, catalog.BULK_TASK_GET])
    api_client.credentials(HTTP_AUTHORIZATION=bearer(owner))
    task_id = export(api_client).json()["data"]["id"]
    finished(task_id)
    exporter_only = make_member(organization, [catalog.BULK_TASK_EXPORT])
    api_client.credentials(HTTP_AUTHORIZATION=bearer(exporter_only))

    response = api_client.get(f"{URL}/{task_id}/result")

    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": 4003,
        "message": "Permission denied: base.bulk.management.get is required",
    }


def test_another_organizations_result_is_404(client, make_member, api_client):
    globex = OrganizationFactory(slug="globex")
    outsider = make_member(globex, [catalog.BULK_TASK_EXPORT, catalog.BULK_TASK_GET])
    theirs = BulkTask.objects.create(
        organization=globex, action="users.export", result_format="csv", created_by=outsider
    )

    response = client.get(f"{URL}/{theirs.pk}/result")

    assert (response.status_code, response.json()["error"]["code"]) == (404, 3001)


@pytest.mark.parametrize(
    "bad_id", ["123", "zzzzzzzzzzzzzzzzzzzzzzzz", "65a000000000000000000001%0A"]
)
def test_a_malformed_id_is_400_naming_it(client, bad_id):
    response = client.get(f"{URL}/{bad_id}/result")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1001
    assert "bulkTaskId" in response.json()["error"]["message"]


def test_no_token_is_401(api_client, organization):
    response = api_client.get(f"{URL}/65a000000000000000000001/result")

    assert (response.status_code, response.json()["error"]["code"]) == (401, 4002)
