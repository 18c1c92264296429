"""The S3 path end to end, against a real S3-compatible HTTP server (moto) on 127.0.0.1.

Nothing in boto3 or django-storages is mocked: the "bulktasks" storage is an
``S3Storage`` whose ``endpoint_url`` is a moto server started in a thread of
this process, so every save, read and delete crosses HTTP.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from django.core.files.storage import storages
from django.db import IntegrityError
from moto.server import ThreadedMotoServer
from storages.backends.s3 import S3Storage

from bulktasks.models import BulkTask, IdempotencyKey, StorageProvider
from bulktasks.processing import bulk_task_process
from bulktasks.services import bulk_task_create, open_stored_file
from bulktasks.storage import STORAGE_ALIAS, bulk_task_files_delete, bulk_task_storage
from tests.bulktasks.files import csv_file, people_rows, raw_file
from tests.bulktasks.pipeline import pending
from tests.bulktasks.workbooks import people_sheet, xlsx_file
from tests.conftest import bearer
from tests.factories import MembershipFactory, UserFactory
from users import catalog
from users.models import User

pytestmark = pytest.mark.django_db

URL = "/v1/organizations/acme/bulk-tasks"
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free local port, with dummy credentials in the environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        # Nothing from the machine's own AWS set-up may leak into the tests.
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def s3_client(s3_endpoint):
    return boto3.client("s3", region_name=REGION, endpoint_url=s3_endpoint)


@pytest.fixture
def bucket(s3_client) -> str:
    """A fresh, empty bucket for each test, so that "nothing is left" is exact."""
    name = f"bulktasks-test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture
def s3_storage(settings, s3_endpoint, bucket) -> S3Storage:
    """Point settings.STORAGES["bulktasks"] at the bucket on the moto server."""
    settings.STORAGES = {
        **settings.STORAGES,
        STORAGE_ALIAS: {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "region_name": REGION,
                "endpoint_url": s3_endpoint,
                "default_acl": None,
                "file_overwrite": False,
            },
        },
    }
    # Django's setting_changed receiver (django.test.signals.storages_changed)
    # empties the storages cache; make sure the alias really was rebuilt.
    storage = bulk_task_storage()
    assert storage is storages[STORAGE_ALIAS]
    assert isinstance(storage, S3Storage)
    assert (storage.bucket_name, storage.endpoint_url) == (bucket, s3_endpoint)
    return storage


def object_keys(s3_client, bucket: str) -> list[str]:
    listing = s3_client.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def object_bytes(s3_client, bucket: str, key: str) -> bytes:
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.fixture
def client(api_client, organization, make_member, s3_storage):
    uploader = make_member(organization, [catalog.BULK_TASK_CREATE, catalog.BULK_TASK_GET])
    api_client.credentials(HTTP_AUTHORIZATION=bearer(uploader))
    return api_client


def test_an_upload_through_the_api_is_stored_in_the_bucket(client, organization, s3_client, bucket):
    upload = csv_file(people_rows(3))
    content = upload.read()
    upload.seek(0)

    response = client.post(URL, {"action": "users.import", "file": upload}, format="multipart")

    assert response.status_code == 201, response.content
    data = response.json()["data"]
    file = data["file"]
    key = file["key"]
    assert file["bucket"] == bucket
    assert file["region"] == REGION
    assert file["location"] == f"s3://{bucket}/{key}"
    assert file["size"] == len(content)
    assert file["checksum"] == hashlib.sha256(content).hexdigest()
    assert key == f"bulk-tasks/{organization.pk}/{data['id']}/people.csv"
    # The object really exists under that key, with the uploaded bytes.
    head = s3_client.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(content)
    assert object_bytes(s3_client, bucket, key) == content
    assert object_keys(s3_client, bucket) == [key]
    provider = StorageProvider.objects.get(pk=file["storageProviderId"])
    assert (provider.kind, provider.bucket, provider.region) == (
        StorageProvider.Kind.S3,
        bucket,
        REGION,
    )
    task = BulkTask.objects.get(pk=data["id"])
    assert (task.file_key, task.storage_provider_id) == (key, provider.pk)
    with open_stored_file(task) as stored:  # the staff download reads it back from S3
        assert stored.read() == content


def test_two_uploads_share_one_provider_and_get_distinct_keys(client, s3_client, bucket):
    first = client.post(
        URL, {"action": "users.import", "file": csv_file(people_rows(1))}, format="multipart"
    ).json()["data"]["file"]
    second = client.post(
        URL, {"action": "users.import", "file": csv_file(people_rows(1))}, format="multipart"
    ).json()["data"]["file"]

    assert first["storageProviderId"] == second["storageProviderId"]
    assert StorageProvider.objects.filter(kind=StorageProvider.Kind.S3).count() == 1
    assert first["key"] != second["key"]
    assert sorted(object_keys(s3_client, bucket)) == sorted([first["key"], second["key"]])


@pytest.mark.parametrize("chunk_size", [1000, 2], ids=["one-chunk", "many-chunks"])
def test_processing_reads_the_file_back_from_s3(
    organization, s3_storage, s3_client, bucket, settings, chunk_size
):
    settings.BULK_TASK_CHUNK_SIZE = chunk_size
    MembershipFactory(organization=organization, user=UserFactory(email="person2@example.com"))
    rows = [*people_rows(4), "not-an-email,Bad,Row"]
    task = pending(organization, rows)
    assert object_keys(s3_client, bucket) == [task.file_key]

    finished = bulk_task_process(bulk_task_id=task.pk)

    assert finished is not None
    assert finished.status == BulkTask.Status.COMPLETED, finished.error
    assert (
        finished.num_items,
        finished.num_inserts,
        finished.num_updates,
        finished.num_skips,
        finished.num_errors,
    ) == (5, 3, 0, 1, 1)
    assert set(User.objects.filter(email__startswith="person").values_list("email", flat=True)) == {
        f"person{n}@example.com" for n in range(1, 5)
    }
    # Processing leaves the stored file in place.
    assert object_keys(s3_client, bucket) == [task.file_key]


def test_a_json_lines_file_is_processed_from_s3(organization, s3_storage, s3_client, bucket):
    content = b"".join(
        f'{{"email": "jl{n}@example.com", "firstName": "J{n}"}}\n'.encode() for n in range(3)
    )
    task, _ = bulk_task_create(
        organization=organization,
        created_by=None,
        action="users.import",
        file=raw_file(content, name="people.jsonl", content_type="application/x-ndjson"),
        original_name="people.jsonl",
        enqueue=False,
    )
    assert object_bytes(s3_client, bucket, task.file_key) == content

    finished = bulk_task_process(bulk_task_id=task.pk)

    assert finished is not None
    assert finished.status == BulkTask.Status.COMPLETED, finished.error
    assert (finished.num_items, finished.num_inserts, finished.num_errors) == (3, 3, 0)


def test_a_workbook_is_processed_from_s3_in_chunks_of_its_stored_rows_copy(
    organization, s3_storage, s3_client, bucket, settings
):
    settings.BULK_TASK_CHUNK_SIZE = 2
    task = pending(organization, upload=xlsx_file(people_sheet(5)))

    finished = bulk_task_process(bulk_task_id=task.pk)

    assert finished is not None
    assert finished.status == BulkTask.Status.COMPLETED, finished.error
    assert (finished.num_items, finished.num_inserts, finished.chunks.count()) == (5, 5, 3)
    assert finished.rows_key.endswith(".jsonl")
    assert set(object_keys(s3_client, bucket)) >= {finished.file_key, finished.rows_key}
    assert object_bytes(s3_client, bucket, finished.rows_key).startswith(b'[1,"email"')

    deleted = bulk_task_files_delete(bulk_task=finished)

    assert set(deleted) == {finished.file_key, finished.rows_key}
    assert not set(object_keys(s3_client, bucket)) & set(deleted)


def test_a_missing_object_fails_the_task_instead_of_crashing(
    organization, s3_storage, s3_client, bucket
):
    task = pending(organization, people_rows(2))
    s3_client.delete_object(Bucket=bucket, Key=task.file_key)

    finished = bulk_task_process(bulk_task_id=task.pk)

    assert finished is not None
    assert finished.status == BulkTask.Status.FAILED
    assert finished.error == "the uploaded file is no longer stored"
    assert finished.num_inserts == 0
    assert not User.objects.filter(email__startswith="person").exists()


@pytest.mark.parametrize(
    ("model", "error"),
    [
        (BulkTask, IntegrityError("simulated duplicate")),
        (BulkTask, RuntimeError("simulated crash")),
        (IdempotencyKey, IntegrityError("simulated duplicate")),
    ],
    ids=["task-integrity-error", "task-runtime-error", "idempotency-key-integrity-error"],
)
def test_a_failed_row_write_deletes_the_stored_object(
    organization, make_member, s3_storage, s3_client, bucket, monkeypatch, model, error
):
    user = make_member(organization, [catalog.BULK_TASK_CREATE])
    seen_in_bucket: list[list[str]] = []
    original_create = model.objects.create

    def create_then_fail(**kwargs):
        # The object must already be in the bucket when the row is written.
        seen_in_bucket.append(object_keys(s3_client, bucket))
        if model is IdempotencyKey:
            original_create(**kwargs)  # written, then rolled back with the task row
        raise error

    monkeypatch.setattr(model.objects, "create", create_then_fail)

    with pytest.raises(type(error)):
        bulk_task_create(
            organization=organization,
            created_by=user,
            action="users.import",
            file=csv_file(people_rows(2)),
            original_name="people.csv",
            idempotency_key="key-1",
            enqueue=False,
        )

    assert len(seen_in_bucket) == 1
    assert len(seen_in_bucket[0]) == 1
    stored_key = seen_in_bucket[0][0]
    assert object_keys(s3_client, bucket) == []
    with pytest.raises(ClientError) as missing:
        s3_client.head_object(Bucket=bucket, Key=stored_key)
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert not BulkTask.objects.exists()
    assert not IdempotencyKey.objects.exists()


def test_a_long_file_name_still_gets_a_location_that_addresses_the_object(
    client, s3_client, bucket
):
    upload = raw_file(b"email\na@example.com\n", name="x" * 300 + ".csv")

    response = client.post(URL, {"action": "users.import", "file": upload}, format="multipart")

    assert response.status_code == 201, response.content
    file = response.json()["data"]["file"]
    assert object_keys(s3_client, bucket) == [file["key"]]
    assert file["location"] == f"s3://{bucket}/{file['key']}"
    assert len(file["location"]) <= 256


# -- errors.csv and retention on S3 ----------------------------------------------------------


def test_errors_csv_streams_from_s3_then_the_retention_sweep_deletes_the_objects(
    client, organization, s3_client, bucket, s3_storage
):
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from bulktasks.retention import bulk_task_files_expire
    from bulktasks.storage import storage_folder_for

    upload = csv_file(["bad,=Bad,Line", *people_rows(2)])
    created = client.post(URL, {"action": "users.import", "file": upload}, format="multipart")
    task_id = created.json()["data"]["id"]
    task = bulk_task_process(bulk_task_id=task_id)
    assert task is not None
    assert task.num_errors == 1
    errors_url = f"{URL}/{task_id}/errors.csv"

    response = client.get(errors_url)

    assert response.status_code == 200
    # Consuming the content closes the response (the test client's wrapper).
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[1] == (
        '"bad","\'=Bad","Line","2","email: \'bad\' is not a valid e-mail address"'
    )

    # Another file of the task (a converted copy, an export) lives in its folder too.
    folder = storage_folder_for(organization_id=organization.pk, bulk_task_id=task_id)
    other = s3_storage.save(folder + "converted.csv", ContentFile(b"x"))
    BulkTask.objects.filter(pk=task_id).update(finished_at=timezone.now() - timedelta(days=31))
    unrelated = pending(organization)

    assert bulk_task_files_expire() == 1

    assert other not in object_keys(s3_client, bucket)
    assert object_keys(s3_client, bucket) == [unrelated.file_key]
    expired = client.get(errors_url)
    assert expired.status_code == 410
    assert expired.json()["error"]["code"] == 3006
    # Idempotent: nothing is left to do, and deleting again would not fail.
    assert bulk_task_files_expire() == 0
