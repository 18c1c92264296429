"""POST /v1/organizations/{organizationId}/bulk-tasks/{bulkTaskId}/cancel."""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

import pytest
from rest_framework.test import APIClient

from bulktasks.models import BulkTaskChunk
from bulktasks.processing import bulk_task_chunk_process
from tests.bulktasks.files import people_rows
from tests.bulktasks.pipeline import pending, report, scanned
from tests.bulktasks.test_api_get import assert_error
from tests.conftest import bearer
from tests.factories import BulkTaskFactory, OrganizationFactory
from users import catalog
from users.models import Organization, User

pytestmark = pytest.mark.django_db


def url(organization_id: str, bulk_task_id: str) -> str:
    return f"/v1/organizations/{organization_id}/bulk-tasks/{bulk_task_id}/cancel"


@pytest.fixture
def canceller(organization: Organization, make_member: Callable[..., User]) -> User:
    """A member who may read, list and cancel tasks."""
    return make_member(
        organization, [catalog.BULK_TASK_GET, catalog.BULK_TASK_LIST, catalog.BULK_TASK_CANCEL]
    )


@pytest.fixture
def client_of(api_client: APIClient) -> Callable[[User], APIClient]:
    def logged_in(user: User) -> APIClient:
        api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
        return api_client

    return logged_in


def test_a_pending_task_ends_failed_at_once_with_the_cancellers_email(
    client_of, canceller, organization
):
    task = pending(organization, people_rows(3))
    client = client_of(canceller)

    response = client.post(url("acme", task.pk))

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["status"], data["error"]) == ("failed", f"Cancelled by {canceller.email}")
    task.refresh_from_db()
    assert (task.status, task.cancelled_by, task.finished_at) == (
        "failed",
        canceller,
        task.cancelled_at,
    )
    assert task.cancelled_at is not None
    # The same representation as GET, report lines included.
    assert client.get(f"/v1/organizations/acme/bulk-tasks/{task.pk}").json()["data"] == data
    assert data["report"]["erroredLines"] == []


def test_a_task_in_progress_keeps_what_its_committed_chunks_did(
    client_of, canceller, organization, settings, django_capture_on_commit_callbacks
):
    settings.BULK_TASK_CHUNK_SIZE = 2
    # Chunk 0: a person and a bad e-mail; chunk 1: two people; chunk 2 repeats line 2's e-mail.
    task = pending(
        organization, ["a@example.com,A,1", "bad,B,2", *people_rows(2), "a@example.com,A,5"]
    )
    first, second, _third = scanned(task)
    assert bulk_task_chunk_process(chunk_id=first.pk, owner="w", dispatch=False) is not None
    BulkTaskChunk.objects.filter(pk=second.pk).update(status="queued")

    with (
        mock.patch("bulktasks.processing.dispatch.chunk_enqueue") as enqueued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client_of(canceller).post(url("acme", task.pk))

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["status"] == "failed"
    assert data["error"] == f"Cancelled by {canceller.email}"
    report_ = data["report"]
    assert (report_["numItems"], report_["numInserts"], report_["numErrors"]) == (5, 1, 1)
    # The repeat of line 2 that the scan found in chunk 2 was never processed: gone.
    assert report_["erroredLines"] == [
        {"line": 3, "reason": "email: 'bad' is not a valid e-mail address"}
    ]
    assert report(task)[1] == [(2, 3, "email: 'bad' is not a valid e-mail address")]
    statuses = dict(BulkTaskChunk.objects.filter(task=task).values_list("index", "status"))
    assert statuses == {0: "done", 1: "pending", 2: "pending"}
    # The request's commit hooks ran, and none sent a chunk of the cancelled task.
    enqueued.assert_not_called()


def test_cancelling_a_cancelled_task_again_answers_it_unchanged(
    client_of, canceller, organization, make_member
):
    task = pending(organization)
    first = client_of(canceller).post(url("acme", task.pk))
    other = make_member(organization, [catalog.BULK_TASK_CANCEL])

    again = client_of(other).post(url("acme", task.pk))

    assert again.status_code == 200
    assert again.json()["data"]["error"] == f"Cancelled by {canceller.email}"
    assert again.json() == first.json()
    task.refresh_from_db()
    assert task.cancelled_by == canceller


@pytest.mark.parametrize(
    ("status", "error"),
    [("completed", ""), ("failed", "header row is missing column email")],
)
def test_a_task_that_finished_on_its_own_is_409_3005_and_stays_as_it_was(
    client_of, canceller, organization, status, error
):
    task = BulkTaskFactory(organization=organization, status=status, error=error)

    response = client_of(canceller).post(url("acme", task.pk))

    body = assert_error(response, 409, 3005)
    assert status in body["error"]["message"]
    task.refresh_from_db()
    assert (task.status, task.error, task.cancelled_at) == (status, error, None)


def test_the_cancel_permission_is_required(client_of, organization, make_member):
    reader = make_member(organization, [catalog.BULK_TASK_GET, catalog.BULK_TASK_CREATE])
    task = pending(organization)

    response = client_of(reader).post(url("acme", task.pk))

    body = assert_error(response, 403, 4003)
    assert catalog.BULK_TASK_CANCEL in body["error"]["message"]
    task.refresh_from_db()
    assert task.status == "pending"


def test_another_organizations_task_is_404(client_of, canceller):
    other = pending(OrganizationFactory(slug="globex"))

    response = client_of(canceller).post(url("acme", other.pk))

    assert_error(response, 404, 3001)
    other.refresh_from_db()
    assert other.status == "pending"


def test_an_organization_the_caller_is_no_member_of_is_404_even_with_its_task(
    client_of, canceller, make_member
):
    globex = OrganizationFactory(slug="globex")
    task = pending(globex)
    make_member(globex, [])  # globex has members; the caller is not one of them

    assert_error(client_of(canceller).post(url("globex", task.pk)), 404, 3001)
    assert_error(client_of(canceller).post(url("nope-org", task.pk)), 404, 3001)
    task.refresh_from_db()
    assert task.status == "pending"


@pytest.mark.parametrize(
    ("organization_id", "task_id", "parameter"),
    [
        ("acme", "123", "bulkTaskId"),
        ("acme", "z" * 24, "bulkTaskId"),
        ("a", "a" * 24, "organizationId"),
    ],
)
def test_a_malformed_id_is_400_naming_it(client_of, canceller, organization_id, task_id, parameter):
    response = client_of(canceller).post(url(organization_id, task_id))

    body = assert_error(response, 400, 1001)
    assert parameter in body["error"]["message"]


def test_an_unknown_task_is_404(client_of, canceller):
    assert_error(client_of(canceller).post(url("acme", "a" * 24)), 404, 3001)


def test_without_a_token_it_is_401(api_client, organization):
    task = pending(organization)

    assert_error(api_client.post(url("acme", task.pk)), 401, 4002)
    task.refresh_from_db()
    assert task.status == "pending"


def test_get_on_the_cancel_route_is_405(client_of, canceller, organization):
    task = pending(organization)

    assert_error(client_of(canceller).get(url("acme", task.pk)), 405, 3003)


def test_the_list_status_filter_finds_a_cancelled_task_among_the_failed(
    client_of, canceller, organization
):
    cancelled, running = pending(organization), pending(organization)
    client = client_of(canceller)
    assert client.post(url("acme", cancelled.pk)).status_code == 200

    def listed(status: str) -> list[str]:
        response = client.get(f"/v1/organizations/acme/bulk-tasks?status={status}")
        assert response.status_code == 200
        return [item["id"] for item in response.json()["data"]["items"]]

    assert listed("failed") == [cancelled.pk]
    assert listed("pending") == [running.pk]
    assert listed("inProgress") == []
