"""Staff read endpoints (never their secret), deliveries and their attempt log in the admin."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory, WebhookEndpointFactory
from tests.webhooks.receiver import Answer, receiver
from webhooks.delivery import webhook_delivery_attempt
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_an_endpoint_page_never_shows_its_secret(staff_client, organization):
    endpoint = WebhookEndpointFactory(organization=organization)

    listing = staff_client.get("/admin/webhooks/webhookendpoint/").content.decode()
    page = staff_client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/")

    assert page.status_code == 200
    assert endpoint.url in listing
    assert endpoint.url in page.content.decode()
    secret_part = endpoint.secret.removeprefix("whsec_")
    assert secret_part not in listing
    assert secret_part not in page.content.decode()
    assert "whsec_" not in page.content.decode()


def test_a_delivery_page_shows_each_attempt_read_only(staff_client, organization, finish_task):
    with receiver(Answer(500, body=b"receiver says no"), Answer(204)) as hooks:
        WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)
        webhook_delivery_attempt(delivery_id=delivery.pk)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
        webhook_delivery_attempt(delivery_id=delivery.pk)

    page = staff_client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/")
    log = staff_client.get("/admin/webhooks/webhookattempt/").content.decode()

    html = page.content.decode()
    assert page.status_code == 200
    assert "answered 500 Internal Server Error" in html
    assert "receiver says no" in html
    assert 'name="_save"' not in html  # read-only
    assert "answered 500 Internal Server Error" in log
    assert staff_client.get("/admin/webhooks/webhookattempt/add/").status_code == 403


def test_staff_re_enable_a_failing_endpoint(staff_client, organization):
    endpoint = WebhookEndpointFactory(
        organization=organization, status=WebhookEndpoint.Status.FAILING, failing_reason="gone"
    )

    response = staff_client.post(
        "/admin/webhooks/webhookendpoint/",
        {"action": "enable", "_selected_action": [endpoint.pk]},
    )

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.status == WebhookEndpoint.Status.ACTIVE
    assert endpoint.failing_reason == ""


def test_staff_without_the_change_permission_cannot_re_enable(client, organization):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookendpoint"))
    client.force_login(viewer)
    endpoint = WebhookEndpointFactory(organization=organization, status="failing")

    client.post(
        "/admin/webhooks/webhookendpoint/",
        {"action": "enable", "_selected_action": [endpoint.pk]},
    )

    endpoint.refresh_from_db()
    assert endpoint.status == WebhookEndpoint.Status.FAILING
