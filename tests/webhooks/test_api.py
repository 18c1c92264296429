"""The webhook endpoints API: register (secret once), list, remove; permission, tenancy, errors."""

from __future__ import annotations

from unittest import mock

import pytest

from tests.conftest import bearer
from tests.factories import OrganizationFactory, WebhookEndpointFactory
from users import catalog
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

WEBHOOKS = "/v1/organizations/acme/webhooks"
EVENTS = ["bulkTask.completed", "bulkTask.failed"]


def register(client, url: str, events=None):
    return client.post(WEBHOOKS, {"url": url, "events": events or EVENTS}, format="json")


def test_registering_answers_201_with_the_endpoint_and_its_secret_once(
    manager_client, organization
):
    response = register(manager_client, "http://127.0.0.1:8599/hooks")

    assert response.status_code == 201
    data = response.json()["data"]
    endpoint = WebhookEndpoint.objects.get(organization=organization)
    assert data["id"] == endpoint.pk
    assert data["url"] == "http://127.0.0.1:8599/hooks"
    assert data["events"] == EVENTS
    assert data["status"] == "active"
    assert data["secret"] == endpoint.secret
    assert data["secret"].startswith("whsec_")
    assert response["Location"].endswith(f"/v1/organizations/acme/webhooks/{endpoint.pk}")
    listed = manager_client.get(WEBHOOKS).json()["data"]["items"]
    assert [item["id"] for item in listed] == [endpoint.pk]
    assert "secret" not in listed[0]
    assert endpoint.secret not in manager_client.get(WEBHOOKS).content.decode()


def test_each_endpoint_gets_its_own_secret(manager_client):
    first = register(manager_client, "http://127.0.0.1:8599/a").json()["data"]["secret"]
    second = register(manager_client, "http://127.0.0.1:8599/b").json()["data"]["secret"]

    assert first != second


def test_events_are_kept_once_each_in_the_order_given(manager_client):
    response = register(
        manager_client, "http://127.0.0.1:8599/hooks", ["bulkTask.failed", "bulkTask.failed"]
    )

    assert response.json()["data"]["events"] == ["bulkTask.failed"]


def test_the_list_is_paged_newest_first(manager_client, organization):
    endpoints = [WebhookEndpointFactory(organization=organization) for _ in range(3)]

    first = manager_client.get(WEBHOOKS + "?limit=2").json()["data"]
    second = manager_client.get(f"{WEBHOOKS}?limit=2&cursor={first['nextCursor']}").json()["data"]

    assert [item["id"] for item in first["items"]] == [endpoints[2].pk, endpoints[1].pk]
    assert first["hasMore"] is True
    assert [item["id"] for item in second["items"]] == [endpoints[0].pk]
    assert second["hasMore"] is False
    assert "nextCursor" not in second


def test_a_failing_endpoint_is_listed_with_its_status_and_since_when(manager_client, organization):
    WebhookEndpointFactory(
        organization=organization, status="failing", failing_since="2026-01-02T03:04:05Z"
    )

    item = manager_client.get(WEBHOOKS).json()["data"]["items"][0]

    assert item["status"] == "failing"
    assert item["failingSince"] == "2026-01-02T03:04:05Z"


def test_delete_removes_the_endpoint_with_204(manager_client, organization):
    endpoint = WebhookEndpointFactory(organization=organization)

    response = manager_client.delete(f"{WEBHOOKS}/{endpoint.pk}")

    assert response.status_code == 204
    assert response.content == b""
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert manager_client.delete(f"{WEBHOOKS}/{endpoint.pk}").json()["error"]["code"] == 3001


def test_another_organizations_endpoint_is_404_and_stays(manager_client):
    other = WebhookEndpointFactory(organization=OrganizationFactory())

    response = manager_client.delete(f"{WEBHOOKS}/{other.pk}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == 3001
    assert WebhookEndpoint.objects.filter(pk=other.pk).exists()


def test_a_malformed_endpoint_id_is_400_naming_it(manager_client):
    response = manager_client.delete(f"{WEBHOOKS}/123")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1001
    assert "webhookId" in response.json()["error"]["message"]


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_every_operation_needs_the_webhooks_permission(
    api_client, organization, make_member, method
):
    member = make_member(organization, [catalog.BULK_TASK_GET, catalog.BULK_TASK_CREATE])
    endpoint = WebhookEndpointFactory(organization=organization)
    api_client.credentials(HTTP_AUTHORIZATION=bearer(member))
    path = f"{WEBHOOKS}/{endpoint.pk}" if method == "delete" else WEBHOOKS

    response = (
        getattr(api_client, method)(
            path, {"url": "http://127.0.0.1:1/", "events": EVENTS}, format="json"
        )
        if method == "post"
        else getattr(api_client, method)(path)
    )

    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": 4003,
        "message": "Permission denied: base.webhooks.manage is required",
    }
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_an_organization_the_caller_is_not_a_member_of_is_404(manager_client):
    OrganizationFactory(slug="globex")

    response = manager_client.get("/v1/organizations/globex/webhooks")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == 3001


def test_without_a_token_it_is_401(api_client, organization):
    response = api_client.get(WEBHOOKS)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 4002


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": EVENTS}, "url"),
        ({"url": "http://127.0.0.1:1/"}, "events"),
        ({"url": "http://127.0.0.1:1/", "events": []}, "events"),
        ({"url": "http://127.0.0.1:1/", "events": "bulkTask.completed"}, "events"),
        ({"url": "ftp://example.com/x", "events": EVENTS}, "url"),
        ({"url": "https://user:pw@example.com/x", "events": EVENTS}, "url"),
        ({"url": "https://example.com/x#frag", "events": EVENTS}, "url"),
        ({"url": "/relative", "events": EVENTS}, "url"),
        ({"url": "https://exa mple.com/", "events": EVENTS}, "url"),
        ({"url": "https://example.com:99999/", "events": EVENTS}, "url"),
        ({"url": "https://" + "a" * 2050, "events": EVENTS}, "url"),
    ],
)
def test_bad_input_is_400_1002_naming_the_field(manager_client, body, field):
    response = manager_client.post(WEBHOOKS, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1002
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert not WebhookEndpoint.objects.exists()


def test_an_unknown_event_is_400_1022_listing_the_known_ones(manager_client):
    response = register(manager_client, "http://127.0.0.1:1/", ["bulkTask.completed", "task.done"])

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 1022
    assert "'task.done'" in error["message"]
    assert "bulkTask.completed, bulkTask.failed" in error["message"]


def test_a_form_body_is_415(manager_client):
    response = manager_client.post(WEBHOOKS, {"url": "http://127.0.0.1:1/", "events": EVENTS})

    assert response.status_code == 415
    assert response.json()["error"]["code"] == 1004


def test_the_same_url_twice_is_409_3010(manager_client):
    assert register(manager_client, "http://127.0.0.1:8599/hooks").status_code == 201

    response = register(manager_client, "http://127.0.0.1:8599/hooks")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == 3010
    assert WebhookEndpoint.objects.count() == 1


def test_the_same_url_in_another_organization_is_fine(manager_client):
    WebhookEndpointFactory(organization=OrganizationFactory(), url="http://127.0.0.1:8599/hooks")

    assert register(manager_client, "http://127.0.0.1:8599/hooks").status_code == 201


def test_past_the_endpoint_limit_it_is_409_3011(manager_client, organization, settings):
    settings.WEBHOOK_MAX_ENDPOINTS = 2
    WebhookEndpointFactory(organization=organization)
    WebhookEndpointFactory(organization=organization)

    response = register(manager_client, "http://127.0.0.1:8599/hooks")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == 3011
    assert "2" in response.json()["error"]["message"]
    assert WebhookEndpoint.objects.count() == 2


def test_http_is_refused_with_1020_where_loopback_http_is_not_allowed(manager_client, settings):
    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = False

    with mock.patch("webhooks.ssrf.resolve") as resolve:
        response = register(manager_client, "http://hooks.example.com/x")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1020
    resolve.assert_not_called()  # refused before any DNS lookup


def test_http_to_a_public_host_is_refused_with_1020_even_where_loopback_http_is_allowed(
    manager_client,
):
    with mock.patch("webhooks.ssrf.resolve", return_value=["93.184.215.14"]):
        response = register(manager_client, "http://hooks.example.com/x")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1020


def test_https_to_a_public_host_is_accepted(manager_client):
    with mock.patch(
        "webhooks.ssrf.resolve",
        return_value=["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    ):
        response = register(manager_client, "https://hooks.example.com/bulk?tenant=acme")

    assert response.status_code == 201
    assert response.json()["data"]["url"] == "https://hooks.example.com/bulk?tenant=acme"


def test_http_to_a_host_that_does_not_resolve_is_told_to_use_https(manager_client):
    with mock.patch("webhooks.ssrf.resolve", return_value=[]):
        response = register(manager_client, "http://hooks.example.com/x")

    assert response.json()["error"]["code"] == 1020
