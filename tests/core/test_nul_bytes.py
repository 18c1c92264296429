"""A NUL byte, wherever a client puts it, gets a coded 4xx, never a 500.

PostgreSQL refuses NUL in text values (psycopg raises before sending), where
SQLite stores it: so these cases matter on PostgreSQL, and CI runs them there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tests.conftest import bearer
from tests.factories import UserFactory
from users import catalog

pytestmark = pytest.mark.django_db

TASK_ID = "0123456789abcdef01234567"


def assert_coded_client_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["status"] is False
    assert body["error"]["code"] < 5000
    return body["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/organizations/ac%00me/bulk-tasks",
        f"/v1/organizations/ac%00me/bulk-tasks/{TASK_ID}",
        f"/v1/organizations/ac%00me/bulk-tasks/{TASK_ID}/lines",
    ],
)
def test_a_nul_in_the_organization_is_a_bad_parameter(reader_client: APIClient, path: str) -> None:
    error = assert_coded_client_error(reader_client.get(path), 400)

    assert "organizationId" in error["message"]


def test_a_nul_in_the_task_id_is_a_bad_parameter(reader_client: APIClient) -> None:
    response = reader_client.get("/v1/organizations/acme/bulk-tasks/0123456789abcdef0123%0067")

    assert "bulkTaskId" in assert_coded_client_error(response, 400)["message"]


@pytest.mark.parametrize("parameter", ["action", "status", "createdBy", "cursor"])
def test_a_nul_in_a_list_filter_is_a_bad_parameter(
    organization, make_member, api_client: APIClient, parameter: str
) -> None:
    member = make_member(organization, [catalog.BULK_TASK_LIST])
    api_client.credentials(HTTP_AUTHORIZATION=bearer(member))

    response = api_client.get("/v1/organizations/acme/bulk-tasks", {parameter: "a\x00b"})

    assert_coded_client_error(response, 400)


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "ann\x00@example.com", "password": "correct horse"},
        {"email": "ann@example.com", "password": "correct\x00horse"},
    ],
    ids=["email", "password"],
)
def test_a_nul_in_the_credentials_is_refused_as_bad_credentials(
    api_client: APIClient, credentials: dict[str, str]
) -> None:
    UserFactory(email="ann@example.com", password="correct horse")

    response = api_client.post("/v1/auth/token", credentials, format="json")

    assert response.status_code in (400, 401), response.content
    assert response.json()["error"]["code"] < 5000


def test_a_nul_in_a_refresh_token_is_an_invalid_token(api_client: APIClient) -> None:
    response = api_client.post("/v1/auth/token/refresh", {"refresh": "a\x00b"}, format="json")

    assert response.status_code in (400, 401), response.content
    assert response.json()["error"]["code"] < 5000


@pytest.fixture
def upload(organization, make_member, api_client: APIClient) -> Callable[..., Any]:
    """POST a one-person CSV as a member who may upload; the arguments replace a default."""
    member = make_member(organization, [catalog.BULK_TASK_CREATE])
    api_client.credentials(HTTP_AUTHORIZATION=bearer(member))

    def post(name: str = "people.csv", action: str = "users.import", **headers: str) -> Any:
        file = SimpleUploadedFile(name, b"email\nann@example.com\n", "text/csv")
        return api_client.post(
            "/v1/organizations/acme/bulk-tasks",
            {"file": file, "action": action},
            format="multipart",
            **headers,
        )

    return post


def test_a_nul_in_the_uploaded_file_name_is_dropped_from_the_stored_name(upload) -> None:
    response = upload(name="peo\x00ple.csv")

    assert response.status_code == 201, response.content
    assert response.json()["data"]["file"]["originalName"] == "people.csv"


def test_a_nul_in_the_action_is_an_unknown_action(upload) -> None:
    assert_coded_client_error(upload(action="users.import\x00"), 400)


def test_a_nul_in_the_idempotency_key_is_a_bad_parameter(upload) -> None:
    assert_coded_client_error(upload(HTTP_IDEMPOTENCY_KEY="k\x00y"), 400)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/bulktasks/bulktask/a%00b/change/",
        "/admin/users/user/a%00b/change/",
        "/admin/bulktasks/bulktask/?organization__id__exact=a%00b",
        "/admin/bulktasks/bulktask/?action=a%00b",
        "/admin/users/membership/?q=a%00b",
    ],
)
def test_a_nul_in_an_admin_url_is_a_bad_request_page(staff_client, url: str) -> None:
    response = staff_client.get(url)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
