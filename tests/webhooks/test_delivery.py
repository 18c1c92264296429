"""Delivering events to a real HTTP receiver on loopback: signed, retried, bounded, given up."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from bulktasks.models import BulkTask
from bulktasks.processing.finish import task_complete
from tests.factories import BulkTaskFactory, WebhookEndpointFactory
from tests.webhooks.receiver import Answer, receiver
from webhooks.delivery import (
    retry_delay,
    webhook_deliveries_sweep,
    webhook_delivery_attempt,
    webhook_delivery_retry,
)
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.services import webhook_endpoint_enable

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


def verify_independently(secret: str, headers: dict[str, str], body: bytes) -> None:
    """The receiver's check, written from the specification alone."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    versions = dict(item.split(",", 1) for item in headers["webhook-signature"].split(" "))
    assert hmac.compare_digest(versions["v1"], expected)


def test_a_completed_task_reaches_the_receiver_signed(organization, finish_task):
    with receiver() as hooks:
        endpoint = WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)

        attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

        [request] = hooks.received
    event = delivery.event
    assert request.path == "/hooks"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == event.pk
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert request.body == event.body.encode()
    verify_independently(endpoint.secret, request.headers, request.body)
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "bulkTask.completed"
    assert payload["data"]["id"] == event.bulk_task_id
    assert payload["data"]["status"] == "completed"
    assert set(payload) == {"type", "timestamp", "data"}
    assert attempt is not None
    assert (attempt.number, attempt.outcome, attempt.status_code) == (1, "succeeded", 204)
    assert attempt.address == "127.0.0.1"
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.finished_at is not None


def test_the_event_data_is_the_task_as_get_returns_it_without_the_line_lists(
    organization, finish_task, reader_client
):
    WebhookEndpointFactory(organization=organization)
    [delivery] = finish_task(organization)
    task_id = delivery.event.bulk_task_id

    got = reader_client.get(f"/v1/organizations/acme/bulk-tasks/{task_id}").json()["data"]
    sent = json.loads(delivery.event.body)["data"]

    assert "skippedLines" in got["report"]
    assert "erroredLines" in got["report"]
    del got["report"]["skippedLines"], got["report"]["erroredLines"]
    assert sent == got


def test_a_failed_task_sends_bulk_task_failed_with_its_error(organization, finish_task):
    WebhookEndpointFactory(organization=organization)

    [delivery] = finish_task(organization, status="failed")

    body = json.loads(delivery.event.body)
    assert body["type"] == "bulkTask.failed"
    assert body["data"]["status"] == "failed"
    assert body["data"]["error"] == "header row is missing column email"


def test_only_active_endpoints_subscribed_to_the_event_get_a_delivery(organization, finish_task):
    wanted = WebhookEndpointFactory(organization=organization, events=["bulkTask.completed"])
    WebhookEndpointFactory(organization=organization, events=["bulkTask.failed"])
    WebhookEndpointFactory(organization=organization, status=WebhookEndpoint.Status.FAILING)
    WebhookEndpointFactory(events=["bulkTask.completed"])  # another organization's

    deliveries = finish_task(organization)

    assert [delivery.endpoint_id for delivery in deliveries] == [wanted.pk]


def test_no_endpoint_no_event(organization, finish_task):
    assert finish_task(organization) == []
    assert not WebhookEvent.objects.exists()


def test_a_rolled_back_completion_leaves_no_event(organization):
    WebhookEndpointFactory(organization=organization)
    task = BulkTaskFactory(organization=organization, status=BulkTask.Status.IN_PROGRESS)

    def complete_then_fail() -> None:
        with transaction.atomic():
            task_complete(bulk_task=task)
            raise RuntimeError("the chunk's transaction fails after completing the task")

    with pytest.raises(RuntimeError, match="fails after completing"):
        complete_then_fail()

    assert not WebhookEvent.objects.exists()
    assert not WebhookDelivery.objects.exists()


def test_deliveries_are_queued_only_once_the_task_is_committed(
    organization, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpointFactory(organization=organization)
    task = BulkTaskFactory(organization=organization, status=BulkTask.Status.IN_PROGRESS)

    with mock.patch("webhooks.delivery.webhook_delivery_enqueue") as enqueue:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            task_complete(bulk_task=task)
            enqueue.assert_not_called()
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    assert len(callbacks) == 1
    enqueue.assert_called_once_with(delivery_id=delivery.pk)


def test_the_backoff_is_exponential_capped_and_jittered(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 5
    settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS = 6 * 3600
    no_jitter = mock.Mock(random=lambda: 0.0)
    most_jitter = mock.Mock(random=lambda: 1.0)

    schedule = [retry_delay(attempt, rng=no_jitter) for attempt in range(1, 10)]

    assert schedule == [5, 20, 80, 320, 1280, 5120, 20480, 21600, 21600]
    assert [retry_delay(attempt, rng=most_jitter) for attempt in (1, 2, 9)] == [4, 16, 17280]
    jittered = {retry_delay(3, rng=random.Random(seed)) for seed in range(20)}
    assert len(jittered) > 1
    assert all(64 <= delay <= 80 for delay in jittered)


def test_a_receiver_failing_twice_then_succeeding_gets_the_same_webhook_id(
    organization, finish_task, clock
):
    answers = [Answer(500, body=b"oops"), Answer(503), Answer(200, body=b"ok")]
    with receiver(*answers) as hooks:
        endpoint = WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)

        first = webhook_delivery_attempt(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        first_wait = (delivery.next_attempt_at - clock.now).total_seconds()
        # Not due yet: a duplicate message now sends nothing.
        assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
        clock.travel(first_wait)
        second = webhook_delivery_attempt(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        second_wait = (delivery.next_attempt_at - clock.now).total_seconds()
        clock.travel(second_wait)
        third = webhook_delivery_attempt(delivery_id=delivery.pk)

        requests = hooks.received
    assert 4 <= first_wait <= 5
    assert 16 <= second_wait <= 20
    assert [request.headers["webhook-id"] for request in requests] == [delivery.event_id] * 3
    timestamps = [int(request.headers["webhook-timestamp"]) for request in requests]
    assert timestamps == sorted(timestamps)
    assert timestamps[0] < timestamps[2]
    for request in requests:
        verify_independently(endpoint.secret, request.headers, request.body)
        assert request.body == requests[0].body
    assert [(a.number, a.outcome, a.status_code) for a in (first, second, third)] == [
        (1, "httpError", 500),
        (2, "httpError", 503),
        (3, "succeeded", 200),
    ]
    log = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [entry.status_code for entry in log] == [500, 503, 200]
    assert log[0].error == "answered 500 Internal Server Error"
    assert log[0].response_excerpt == "oops"
    assert all(entry.duration_ms >= 0 for entry in log)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.SUCCEEDED, 3)


def test_a_short_retry_is_queued_with_a_countdown_after_commit(
    organization, finish_task, django_capture_on_commit_callbacks
):
    with receiver(Answer(500)) as hooks:
        WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)

        with (
            mock.patch("webhooks.delivery.webhook_delivery_enqueue") as enqueue,
            django_capture_on_commit_callbacks(execute=True),
        ):
            webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    [call] = enqueue.call_args_list
    assert call.kwargs["delivery_id"] == delivery.pk
    assert 4 <= call.kwargs["countdown"] <= 5
    assert delivery.queued_at == delivery.next_attempt_at  # the sweeper leaves it to the countdown


def test_after_the_retry_window_the_delivery_fails_and_the_endpoint_is_marked_failing(
    organization, finish_task, clock
):
    with receiver(Answer(500)) as hooks:
        endpoint = WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)
        [waiting] = finish_task(organization)  # another event on its way to the same endpoint
        started = clock.now

        while True:
            attempt = webhook_delivery_attempt(delivery_id=delivery.pk)
            assert attempt is not None
            delivery.refresh_from_db()
            if delivery.status != WebhookDelivery.Status.PENDING:
                break
            clock.travel((delivery.next_attempt_at - clock.now).total_seconds())

        sent = len(hooks.received)
    assert delivery.status == WebhookDelivery.Status.FAILED
    # Retried for at least the whole window, and not much past it.
    assert DAY <= (clock.now - started).total_seconds() <= DAY + 6 * 3600
    assert sent == delivery.attempts == WebhookAttempt.objects.filter(delivery=delivery).count()
    assert 9 <= sent <= 14
    endpoint.refresh_from_db()
    assert endpoint.status == WebhookEndpoint.Status.FAILING
    assert endpoint.failing_since == clock.now
    assert "failed for 1 day" in endpoint.failing_reason
    waiting.refresh_from_db()
    assert waiting.status == WebhookDelivery.Status.FAILED
    assert webhook_delivery_attempt(delivery_id=waiting.pk) is None
    # A failing endpoint is sent nothing new, until it is re-enabled.
    assert finish_task(organization) == []
    webhook_endpoint_enable(endpoint=endpoint)
    assert len(finish_task(organization)) == 1


def test_410_gone_marks_the_endpoint_failing_at_once(organization, finish_task):
    with receiver(Answer(410)) as hooks:
        endpoint = WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)

        webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    endpoint.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert endpoint.status == WebhookEndpoint.Status.FAILING
    assert endpoint.failing_reason == "the receiver answered 410 Gone"


def test_retry_after_is_honoured(organization, finish_task, clock):
    with receiver(Answer(429, headers={"Retry-After": "120"})) as hooks:
        WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)

        webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert delivery.next_attempt_at == clock.now + timedelta(seconds=120)


def test_redirects_are_not_followed(organization, finish_task):
    with receiver() as elsewhere:
        with receiver(Answer(302, headers={"Location": elsewhere.url})) as hooks:
            WebhookEndpointFactory(organization=organization, url=hooks.url)
            [delivery] = finish_task(organization)

            attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

            assert len(hooks.received) == 1
        assert elsewhere.received == []
    assert attempt is not None
    assert (attempt.outcome, attempt.status_code) == ("httpError", 302)
    assert attempt.error == f"redirect not followed (Location: {elsewhere.url})"


def test_an_oversized_answer_is_cut(organization, finish_task, settings):
    settings.WEBHOOK_MAX_RESPONSE_BYTES = 1000
    with receiver(Answer(200, body=b"x" * 5_000_000)) as hooks:
        WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)

        attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert attempt is not None
    assert attempt.outcome == "succeeded"
    assert attempt.error == "answer cut at 1000 bytes"
    assert attempt.response_excerpt == "x" * 500


def test_a_receiver_that_does_not_answer_in_time_is_a_timeout(organization, finish_task, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    with receiver(Answer(200, delay=3)) as hooks:
        WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)

        started = time.monotonic()
        attempt = webhook_delivery_attempt(delivery_id=delivery.pk)
        elapsed = time.monotonic() - started

    assert attempt is not None
    assert (attempt.outcome, attempt.status_code) == ("timeout", None)
    assert elapsed < 2.5
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING


def test_a_trickling_answer_is_cut_off_at_the_time_limit(organization, finish_task, settings):
    """Each byte comes well within a per-read timeout; the whole answer does not."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    with receiver(Answer(200, body=b"y" * 60, trickle=0.05)) as hooks:
        WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)

        started = time.monotonic()
        attempt = webhook_delivery_attempt(delivery_id=delivery.pk)
        elapsed = time.monotonic() - started

    assert attempt is not None
    assert attempt.outcome == "timeout"
    assert elapsed < 2.5


def test_a_closed_port_is_a_connection_error(organization, finish_task):
    with receiver() as hooks:
        url = hooks.url
    WebhookEndpointFactory(organization=organization, url=url)  # nobody listens there now
    [delivery] = finish_task(organization)

    attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert attempt is not None
    assert attempt.outcome == "connectionError"
    assert "refused" in attempt.error.lower()


def test_a_host_with_many_unreachable_addresses_costs_at_most_two_connects(
    organization, finish_task, monkeypatch
):
    from webhooks import transport

    with receiver() as hooks:
        url = hooks.url
    WebhookEndpointFactory(organization=organization, url=url)
    [delivery] = finish_task(organization)
    # The host now resolves to ten addresses, none of which answers.
    checked = transport.url_check(url)
    many = type(checked)(**{**vars(checked), "addresses": ["127.0.0.1"] * 10})
    monkeypatch.setattr(transport, "url_check", lambda _url: many)
    tried: list[str] = []
    real = transport._connection

    def counted(scheme, host, port, address, timeout):
        tried.append(address)
        return real(scheme, host, port, address, timeout)

    monkeypatch.setattr(transport, "_connection", counted)

    attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert attempt is not None
    assert attempt.outcome == "connectionError"
    assert len(tried) == transport.MAX_ADDRESSES_TRIED == 2


def test_a_delivered_event_is_not_sent_again_by_a_duplicate_message(organization, finish_task):
    with receiver() as hooks:
        WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)

        webhook_delivery_attempt(delivery_id=delivery.pk)
        again = webhook_delivery_attempt(delivery_id=delivery.pk)

        assert len(hooks.received) == 1
    assert again is None


def test_the_sweeper_sends_a_lost_message_once_it_is_late(
    organization, finish_task, clock, settings
):
    settings.WEBHOOK_SWEEP_SECONDS = 30
    WebhookEndpointFactory(organization=organization)
    [delivery] = finish_task(organization)

    with mock.patch("webhooks.delivery.webhook_delivery_enqueue") as enqueue:
        assert webhook_deliveries_sweep() == []  # its message may still be on the way
        clock.travel(31)
        assert webhook_deliveries_sweep() == [delivery.pk]
        assert webhook_deliveries_sweep() == []  # just sent again: not twice

    enqueue.assert_called_once_with(delivery_id=delivery.pk)


def test_a_worker_killed_mid_attempt_is_taken_over_once_its_lease_runs_out(
    organization, finish_task, clock
):
    with receiver(Answer(204)) as hooks:
        WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)
        # What a worker killed with -9 during its request leaves behind: a claim, no log.
        from webhooks.delivery import _claim, lease_seconds

        assert _claim(delivery.pk) is not None
        clock.travel(lease_seconds() / 2)
        with mock.patch("webhooks.delivery.webhook_delivery_enqueue") as enqueue:
            assert webhook_deliveries_sweep() == []
            assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
            clock.travel(lease_seconds() / 2 + 1)
            assert webhook_deliveries_sweep() == [delivery.pk]
        enqueue.assert_called_once()

        attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

        assert len(hooks.received) == 1
    assert attempt is not None
    assert (attempt.number, attempt.outcome) == (2, "succeeded")


def test_a_removed_endpoint_stops_its_deliveries(organization, finish_task, manager_client):
    with receiver() as hooks:
        endpoint = WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)
        manager_client.delete(f"/v1/organizations/acme/webhooks/{endpoint.pk}")

        assert webhook_delivery_attempt(delivery_id=delivery.pk) is None

        assert hooks.received == []
    assert not WebhookDelivery.objects.exists()


def test_staff_can_send_a_failed_delivery_again_with_a_fresh_window(
    organization, finish_task, clock
):
    with receiver(Answer(410), Answer(204)) as hooks:
        endpoint = WebhookEndpointFactory(organization=organization, url=hooks.url)
        [delivery] = finish_task(organization)
        webhook_delivery_attempt(delivery_id=delivery.pk)
        clock.travel(2 * DAY)
        webhook_endpoint_enable(endpoint=endpoint)

        assert webhook_delivery_retry(delivery=delivery) is True
        attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

        assert len(hooks.received) == 2
    assert attempt is not None
    assert attempt.outcome == "succeeded"
    delivery.refresh_from_db()
    assert delivery.window_started_at == clock.now
    assert webhook_delivery_retry(delivery=delivery) is False
