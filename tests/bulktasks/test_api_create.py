"""POST /v1/organizations/{organizationId}/bulk-tasks: upload a file to start a task."""

from __future__ import annotations

import hashlib

import pytest

from bulktasks.models import BulkTask
from bulktasks.storage import bulk_task_storage
from tests.bulktasks.files import csv_file, people_rows, raw_file
from tests.bulktasks.workbooks import zip_bytes
from tests.conftest import bearer
from tests.factories import OrganizationFactory
from users import catalog

pytestmark = pytest.mark.django_db

URL = "/v1/organizations/acme/bulk-tasks"


@pytest.fixture
def uploader(organization, make_member):
    return make_member(organization, [catalog.BULK_TASK_CREATE, catalog.BULK_TASK_GET])


@pytest.fixture
def client(api_client, uploader):
    api_client.credentials(HTTP_AUTHORIZATION=bearer(uploader))
    return api_client


def post(client, upload=None, action="users.import", **extra):
    data = {"action": action, **{k: v for k, v in extra.items() if not k.startswith("HTTP_")}}
    if upload is not None:
        data["file"] = upload
    headers = {k: v for k, v in extra.items() if k.startswith("HTTP_")}
    return client.post(URL, data, format="multipart", **headers)


def test_an_upload_returns_201_with_a_pending_task_in_the_get_shape(client, uploader):
    upload = csv_file(people_rows(2))
    content = upload.read()
    upload.seek(0)

    response = post(client, upload, override="true")

    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["status"] == "pending"
    assert data["config"] == {"override": True, "dryRun": False}
    assert data["action"] == "users.import"
    assert data["createdBy"]["id"] == uploader.id
    assert data["report"] == {
        "numItems": 0, "numInserts": 0, "numUpdates": 0, "numSkips": 0, "numErrors": 0,
        "skippedLines": [], "erroredLines": [],
    }  # fmt: skip
    assert data["file"]["originalName"] == "people.csv"
    assert data["file"]["mimetype"] == "text/csv"
    assert data["file"]["size"] == len(content)
    assert data["file"]["checksum"] == hashlib.sha256(content).hexdigest()
    assert len(data["file"]["storageProviderId"]) == 24
    assert response["Location"].endswith(f"/v1/organizations/acme/bulk-tasks/{data['id']}")


def test_the_stored_file_is_the_uploaded_one(client):
    upload = csv_file(people_rows(3))
    content = upload.read()
    upload.seek(0)

    task_id = post(client, upload).json()["data"]["id"]

    task = BulkTask.objects.get(pk=task_id)
    with bulk_task_storage().open(task.file_key, "rb") as stored:
        assert stored.read() == content


def test_the_created_task_is_readable_through_get(client):
    task_id = post(client, csv_file(people_rows(1))).json()["data"]["id"]

    response = client.get(f"{URL}/{task_id}")

    assert response.status_code == 200
    assert response.json()["data"]["status"] in ("pending", "inProgress", "completed")


def test_override_defaults_to_false(client):
    data = post(client, csv_file(people_rows(1))).json()["data"]

    assert data["config"] == {"override": False, "dryRun": False}


def test_the_original_name_is_kept_without_path_parts(client):
    upload = raw_file(b"email\na@example.com\n", name="../../etc/C:\\Users\\me\\people.csv")

    data = post(client, upload).json()["data"]

    assert data["file"]["originalName"] == "people.csv"
    assert ".." not in BulkTask.objects.get(pk=data["id"]).file_key


def test_the_mimetype_comes_from_the_content_not_the_client(client):
    upload = raw_file(b'{"email": "a@example.com"}\n', name="people.csv", content_type="image/png")

    data = post(client, upload).json()["data"]

    assert data["file"]["mimetype"] == "application/x-ndjson"


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7\n%...",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 100,
        zip_bytes({"notes.txt": b"not a workbook"}),
        b"\0\1\2\3" * 50,
    ],
    ids=["pdf", "png", "zip", "binary"],
)
def test_an_unsupported_file_type_is_415_and_nothing_is_stored(client, content):
    response = post(client, raw_file(content))

    assert response.status_code == 415
    assert response.json()["error"]["code"] == 1009
    assert BulkTask.objects.count() == 0


def test_an_unknown_action_is_400_1008(client):
    response = post(client, csv_file(people_rows(1)), action="users.delete")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1008
    assert "users.import" in response.json()["error"]["message"]
    assert BulkTask.objects.count() == 0


def test_a_missing_file_is_400_naming_it(client):
    response = post(client, None)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1002
    assert "file" in response.json()["error"]["message"]


def test_a_missing_action_is_400_naming_it(client):
    response = client.post(URL, {"file": csv_file(people_rows(1))}, format="multipart")

    assert response.status_code == 400
    assert "action" in response.json()["error"]["message"]


def test_a_file_over_the_limit_is_413_and_nothing_is_stored(client, settings):
    settings.BULK_TASK_MAX_FILE_SIZE = 1000

    response = post(client, csv_file(people_rows(100)))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == 1006
    assert "1000 bytes" in response.json()["error"]["message"]
    assert BulkTask.objects.count() == 0


def test_a_declared_length_over_the_limit_is_refused_before_reading(client, settings):
    settings.BULK_TASK_MAX_FILE_SIZE = 1000

    response = client.post(
        URL,
        data=b"x" * 10,
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH="999999999",
    )

    assert response.status_code == 413


@pytest.mark.parametrize("format_", ["json", None])
def test_a_body_other_than_multipart_is_415(client, format_):
    if format_ is None:
        response = client.post(
            URL, "action=users.import", content_type="application/x-www-form-urlencoded"
        )
    else:
        response = client.post(URL, {"action": "users.import"}, format=format_)

    assert response.status_code == 415
    assert response.json()["error"]["code"] == 1004
    assert BulkTask.objects.count() == 0


def test_an_upload_with_two_files_is_refused(client, settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    files = [csv_file(people_rows(1)), csv_file(people_rows(1))]

    response = client.post(URL, {"action": "users.import", "file": files}, format="multipart")

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": 1003,
        "message": "Too many files: an upload holds exactly one file",
    }
    assert BulkTask.objects.count() == 0
    assert list(tmp_path.iterdir()) == []


class TestIdempotency:
    def test_the_same_key_returns_the_same_task_and_creates_nothing(self, client):
        upload = csv_file(people_rows(2))
        first = post(client, upload, HTTP_IDEMPOTENCY_KEY="key-123")
        upload.seek(0)

        second = post(client, upload, HTTP_IDEMPOTENCY_KEY="key-123")

        assert first.status_code == second.status_code == 201
        assert first.json()["data"]["id"] == second.json()["data"]["id"]
        assert second["Idempotent-Replayed"] == "true"
        assert BulkTask.objects.count() == 1

    def test_another_key_creates_another_task(self, client):
        post(client, csv_file(people_rows(2)), HTTP_IDEMPOTENCY_KEY="key-1")
        post(client, csv_file(people_rows(2)), HTTP_IDEMPOTENCY_KEY="key-2")

        assert BulkTask.objects.count() == 2

    def test_the_same_key_with_another_file_is_409(self, client):
        post(client, csv_file(people_rows(2)), HTTP_IDEMPOTENCY_KEY="key-1")

        response = post(client, csv_file(people_rows(3)), HTTP_IDEMPOTENCY_KEY="key-1")

        assert response.status_code == 409
        assert response.json()["error"]["code"] == 3004
        assert BulkTask.objects.count() == 1

    def test_keys_are_per_user(self, api_client, organization, make_member):
        one = make_member(organization, [catalog.BULK_TASK_CREATE])
        two = make_member(organization, [catalog.BULK_TASK_CREATE])
        for user in (one, two):
            api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
            post(api_client, csv_file(people_rows(1)), HTTP_IDEMPOTENCY_KEY="shared")

        assert BulkTask.objects.count() == 2

    def test_a_key_older_than_24_hours_is_forgotten(self, client):
        from bulktasks.models import IdempotencyKey

        post(client, csv_file(people_rows(1)), HTTP_IDEMPOTENCY_KEY="old")
        IdempotencyKey.objects.update(created_at="2000-01-01T00:00:00Z")

        response = post(client, csv_file(people_rows(1)), HTTP_IDEMPOTENCY_KEY="old")

        assert response.status_code == 201
        assert BulkTask.objects.count() == 2

    def test_a_malformed_key_is_400(self, client):
        response = post(client, csv_file(people_rows(1)), HTTP_IDEMPOTENCY_KEY="x" * 300)

        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()["error"]["message"]


class TestAccess:
    def test_creating_needs_the_create_permission(self, api_client, organization, make_member):
        reader = make_member(organization, [catalog.BULK_TASK_GET, catalog.BULK_TASK_LIST])
        api_client.credentials(HTTP_AUTHORIZATION=bearer(reader))

        response = post(api_client, csv_file(people_rows(1)))

        assert response.status_code == 403
        assert catalog.BULK_TASK_CREATE in response.json()["error"]["message"]
        assert BulkTask.objects.count() == 0

    def test_a_member_of_another_organization_gets_404(self, api_client, make_member):
        OrganizationFactory(slug="acme")
        outsider = make_member(OrganizationFactory(slug="globex"), [catalog.BULK_TASK_CREATE])
        api_client.credentials(HTTP_AUTHORIZATION=bearer(outsider))

        response = post(api_client, csv_file(people_rows(1)))

        assert response.status_code == 404
        assert response.json()["error"]["code"] == 3001
        assert BulkTask.objects.count() == 0

    def test_no_token_is_401(self, api_client, organization):
        response = post(api_client, csv_file(people_rows(1)))

        assert response.status_code == 401
        assert response.json()["error"]["code"] == 4002

    def test_the_task_belongs_to_the_organization_in_the_path(self, client, organization):
        task_id = post(client, csv_file(people_rows(1))).json()["data"]["id"]

        assert BulkTask.objects.get(pk=task_id).organization_id == organization.id


def test_a_chunked_upload_is_411_under_wsgi(client):
    # A WSGI server passes a chunked body on without a length; Django would read it as empty.
    response = client.post(
        URL,
        {"action": "users.import", "file": csv_file(people_rows(1))},
        format="multipart",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
    )

    assert response.status_code == 411
    assert response.json() == {
        "status": False,
        "error": {
            "code": 1010,
            "message": "Length required: send the body with a Content-Length header",
        },
    }
    assert BulkTask.objects.count() == 0
