"""A real Celery worker ends a task and delivers its event to a receiver: exactly once, signed.

Runs on whichever broker the settings name (the file-system queue by default,
Redis or RabbitMQ when CELERY_BROKER_URL says so), like the pipeline's worker tests.
"""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection
from standardwebhooks.webhooks import Webhook

from tests.bulktasks.files import csv_file, people_rows
from tests.conftest import bearer
from tests.factories import MembershipFactory, OrganizationFactory, WebhookEndpointFactory
from tests.webhooks.conftest import record_event_without_message
from tests.webhooks.receiver import Answer, receiver
from tests.webhooks.test_delivery import verify_independently
from tests.workers import start_worker, wait_for
from users import catalog
from webhooks.delivery import webhook_deliveries_sweep
from webhooks.models import WebhookAttempt, WebhookDelivery

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.usefixtures("empty_queue"),
]


@pytest.fixture
def worker(tmp_path):
    started = start_worker(tmp_path, "webhooks")
    yield started
    started.stop()


def test_a_task_completed_by_a_worker_is_delivered_once_and_signed(api_client, worker):
    organization = OrganizationFactory(slug="acme")
    member = MembershipFactory(organization=organization).user
    member.memberships.get().roles.create(
        organization=organization, name="ops", permissions=[catalog.BULK_TASK_CREATE]
    )
    api_client.credentials(HTTP_AUTHORIZATION=bearer(member))
    with receiver(Answer(200, body=b"thanks")) as hooks:
        endpoint = WebhookEndpointFactory(organization=organization, url=hooks.url)

        created = api_client.post(
            "/v1/organizations/acme/bulk-tasks",
            {"action": "users.import", "file": csv_file(people_rows(3))},
            format="multipart",
        )
        task_id = created.json()["data"]["id"]
        [request] = hooks.wait_for(1, timeout=120)
        time.sleep(2)  # anything more would come now

        assert len(hooks.received) == 1
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    verify_independently(endpoint.secret, request.headers, request.body)
    assert payload["type"] == "bulkTask.completed"
    assert payload["data"]["id"] == task_id
    assert payload["data"]["status"] == "completed"
    assert payload["data"]["report"]["numInserts"] == 3
    assert "erroredLines" not in payload["data"]["report"]
    assert json.loads(request.body) == payload

    def delivered():
        connection.close()  # see the worker's commits
        return WebhookDelivery.objects.filter(status="succeeded").first()

    delivery = wait_for(delivered, timeout=30)
    assert request.headers["webhook-id"] == delivery.event_id
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert (attempt.outcome, attempt.status_code, attempt.response_excerpt) == (
        "succeeded",
        200,
        "thanks",
    )


def test_a_delivery_whose_message_was_lost_is_swept_to_the_worker(worker, settings):
    settings.WEBHOOK_SWEEP_SECONDS = 0
    organization = OrganizationFactory()
    with receiver() as hooks:
        endpoint = WebhookEndpointFactory(organization=organization, url=hooks.url)
        # An event recorded whose message never reached the broker (a publish lost
        # in a broker outage): only the sweeper can send it.
        delivery = record_event_without_message(organization)

        assert webhook_deliveries_sweep() == [delivery.pk]
        [request] = hooks.wait_for(1, timeout=60)

    assert request.headers["webhook-id"] == delivery.event_id
    Webhook(endpoint.secret).verify(request.body, request.headers)
