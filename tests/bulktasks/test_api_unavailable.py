"""The bulk-task endpoints when the database or the broker is away: 503, code 5003, Retry-After."""

from __future__ import annotations

import os
import socket
from unittest import mock

import psycopg
import pytest
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

from bulktasks.models import BulkTask, IdempotencyKey
from bulktasks.storage import bulk_task_storage
from config.celery import app as celery_app
from tests.bulktasks.files import csv_file, people_rows
from tests.conftest import bearer
from tests.factories import BulkTaskFactory
from users import catalog

URL = "/v1/organizations/acme/bulk-tasks"
ALL_PERMISSIONS = [catalog.BULK_TASK_GET, catalog.BULK_TASK_LIST, catalog.BULK_TASK_CREATE]


@pytest.fixture
def member_client(api_client, organization, make_member):
    api_client.credentials(HTTP_AUTHORIZATION=bearer(make_member(organization, ALL_PERMISSIONS)))
    return api_client


def assert_unavailable(response, message: str = "Service temporarily unavailable") -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": False, "error": {"code": 5003, "message": message}}
    assert response["Retry-After"] == "5"


def stored_files() -> list[str]:
    """Every file under the bulk-task storage, however deep (the suite shares one folder)."""
    storage = bulk_task_storage()
    found: list[str] = []

    def walk(folder: str) -> None:
        folders, files = storage.listdir(folder)
        found.extend(f"{folder}/{name}" for name in files)
        for name in folders:
            walk(f"{folder}/{name}" if folder else name)

    if storage.exists(""):
        walk("")
    return found


@pytest.mark.django_db
class TestDatabaseAway:
    @pytest.mark.parametrize(
        "failure",
        [
            OperationalError("server closed the connection unexpectedly"),
            InterfaceError("connection already closed"),
            psycopg.OperationalError("consuming input failed: server closed the connection"),
            psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        ],
        ids=["django-operational", "django-interface", "psycopg-operational", "psycopg-shutdown"],
    )
    def test_get_answers_503_whichever_layer_raised(self, member_client, organization, failure):
        task = BulkTaskFactory(organization=organization)

        with mock.patch(
            "bulktasks.views.task_detail.bulk_task_get_with_caller", side_effect=failure
        ):
            response = member_client.get(f"{URL}/{task.pk}")

        assert_unavailable(response)

    def test_the_list_answers_503(self, member_client):
        with mock.patch(
            "bulktasks.views.tasks.bulk_task_list", side_effect=OperationalError("gone")
        ):
            assert_unavailable(member_client.get(URL))

    def test_the_lines_answer_503(self, member_client, organization):
        task = BulkTaskFactory(organization=organization)

        with mock.patch(
            "bulktasks.views.lines.bulk_task_lines", side_effect=InterfaceError("closed")
        ):
            assert_unavailable(member_client.get(f"{URL}/{task.pk}/lines"))

    def test_loading_the_caller_and_organization_answers_503_not_invalid_token(self, member_client):
        # The token's user is read in the same query as the organization access.
        with mock.patch(
            "users.endpoints.organization_access_get",
            side_effect=OperationalError("the database system is shutting down"),
        ):
            assert_unavailable(member_client.get(URL))

    def test_an_upload_that_cannot_write_its_row_answers_503_and_keeps_no_file(self, member_client):
        files_before = stored_files()

        with mock.patch.object(
            BulkTask.objects, "create", side_effect=OperationalError("server closed the connection")
        ):
            response = member_client.post(
                URL, {"action": "users.import", "file": csv_file(people_rows(2))}
            )

        assert_unavailable(response)
        assert not BulkTask.objects.exists()
        assert stored_files() == files_before

    def test_the_message_never_carries_the_driver_error(self, member_client):
        with mock.patch(
            "bulktasks.views.tasks.bulk_task_list",
            side_effect=OperationalError('password authentication failed for user "secret"'),
        ):
            response = member_client.get(URL)

        assert "secret" not in response.content.decode()


def closed_port() -> int:
    """A loopback port where nothing listens: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def broker_unreachable():
    """Point the Celery app at a closed Redis port; the fixture's value brings the real one back."""
    conf = celery_app.conf
    # Celery reads CELERY_BROKER_URL from the environment before its own settings.
    saved_environ = os.environ.get("CELERY_BROKER_URL")
    saved = {key: conf[key] for key in ("broker_url", "broker_transport_options")}

    def use(settings: dict, environ: str | None) -> None:
        if environ is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = environ
        for key, value in settings.items():
            conf[key] = value
        # The app keeps a pool of connections to the broker it was configured with.
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    closed = f"redis://127.0.0.1:{closed_port()}/0"
    use({"broker_url": closed, "broker_transport_options": {}}, closed)
    yield lambda: use(saved, saved_environ)
    use(saved, saved_environ)


# Queueing happens after the commit, so these tests commit for real.
@pytest.mark.django_db(transaction=True)
class TestBrokerAway:
    def test_an_upload_answers_503_and_leaves_no_task_no_key_and_no_file(
        self, member_client, broker_unreachable
    ):
        files_before = stored_files()

        response = member_client.post(
            URL,
            {"action": "users.import", "file": csv_file(people_rows(3))},
            HTTP_IDEMPOTENCY_KEY="upload-1",
        )

        assert_unavailable(
            response,
            "The task could not be queued, so the upload was not kept; retry in a few seconds",
        )
        assert not BulkTask.objects.exists()
        assert not IdempotencyKey.objects.exists()
        assert stored_files() == files_before

    def test_the_same_upload_retried_once_the_broker_is_back_creates_the_task(
        self, member_client, broker_unreachable
    ):
        def upload():
            return member_client.post(
                URL,
                {"action": "users.import", "file": csv_file(people_rows(3))},
                HTTP_IDEMPOTENCY_KEY="upload-1",
            )

        assert upload().status_code == 503
        broker_unreachable()  # the broker is back

        response = upload()

        assert response.status_code == 201, response.content
        assert "Idempotent-Replayed" not in response
        assert BulkTask.objects.filter(pk=response.json()["data"]["id"]).exists()

    def test_a_task_a_worker_already_claimed_is_kept_even_if_the_publish_failed(
        self, member_client
    ):
        # The message went out but its confirmation did not come back; a worker
        # claimed the task meanwhile. Withdrawing it now would lose work.
        def publish_then_fail(bulk_task_id: str) -> None:
            BulkTask.objects.filter(pk=bulk_task_id).update(
                status=BulkTask.Status.IN_PROGRESS, attempts=1
            )
            raise BrokerOperationalError("connection reset while waiting for the confirm")

        with mock.patch("bulktasks.tasks.process_bulk_task.delay", side_effect=publish_then_fail):
            response = member_client.post(
                URL, {"action": "users.import", "file": csv_file(people_rows(2))}
            )

        assert response.status_code == 201, response.content
        task = BulkTask.objects.get(pk=response.json()["data"]["id"])
        assert bulk_task_storage().exists(task.file_key)

    def test_reads_do_not_need_the_broker(self, member_client, organization, broker_unreachable):
        task = BulkTaskFactory(organization=organization)

        assert member_client.get(f"{URL}/{task.pk}").status_code == 200
        assert member_client.get(URL).status_code == 200


def s3_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


def storage_failures() -> list[Exception]:
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

    return [
        EndpointConnectionError(endpoint_url="https://s3.eu-west-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://s3.eu-west-1.amazonaws.com"),
        s3_error("SlowDown", 503),
        s3_error("InternalError", 500),
        OSError(28, "No space left on device"),
    ]


@pytest.mark.django_db
class TestFileStorageAway:
    @pytest.mark.parametrize("failure", storage_failures(), ids=type)
    def test_an_upload_answers_503_and_leaves_no_task_and_no_key(self, member_client, failure):
        with mock.patch.object(type(bulk_task_storage()), "save", side_effect=failure):
            response = member_client.post(
                URL,
                {"action": "users.import", "file": csv_file(people_rows(3))},
                HTTP_IDEMPOTENCY_KEY="upload-1",
            )

        assert_unavailable(response, "File storage is temporarily unavailable")
        assert not BulkTask.objects.exists()
        assert not IdempotencyKey.objects.exists()

    def test_a_storage_configuration_error_is_not_called_unavailable(self, member_client):
        denied = s3_error("AccessDenied", 403)
        with mock.patch.object(type(bulk_task_storage()), "save", side_effect=denied):
            response = member_client.post(
                URL, {"action": "users.import", "file": csv_file(people_rows(3))}
            )

        assert response.status_code == 500
        assert response.json()["error"]["code"] == 5000

    @pytest.mark.parametrize("method", ["exists", "open"])
    def test_a_worker_meeting_the_storage_away_releases_the_task_for_a_retry(
        self, organization, method
    ):
        from botocore.exceptions import EndpointConnectionError

        from bulktasks.processing import bulk_task_process
        from bulktasks.services import bulk_task_create
        from bulktasks.storage import StorageUnavailable
        from bulktasks.tasks import process_bulk_task

        task, _ = bulk_task_create(
            organization=organization,
            created_by=None,
            action="users.import",
            file=csv_file(people_rows(3)),
            original_name="people.csv",
            enqueue=False,
        )
        away = EndpointConnectionError(endpoint_url="https://s3.eu-west-1.amazonaws.com")
        with (
            mock.patch.object(type(bulk_task_storage()), method, side_effect=away),
            pytest.raises(StorageUnavailable),
        ):
            bulk_task_process(bulk_task_id=task.pk)

        task.refresh_from_db()
        # Still to do, not failed, and free for the retry Celery schedules.
        assert task.status == BulkTask.Status.IN_PROGRESS
        assert task.lease_expires_at is None
        assert task.error == ""
        assert StorageUnavailable in process_bulk_task.autoretry_for
        finished = bulk_task_process(bulk_task_id=task.pk)
        assert finished is not None
        assert (finished.status, finished.num_inserts) == (BulkTask.Status.COMPLETED, 3)
