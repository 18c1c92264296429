"""Webhook writes: register and remove endpoints, re-enable one, record the events of a task."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from bulktasks.models import BulkTask
from core.exceptions import (
    EntityNotFound,
    UnknownWebhookEvent,
    ValidationFailed,
    WebhookEndpointExists,
    WebhookEndpointsLimit,
    WebhookUrlNotAllowed,
    WebhookUrlNotHttps,
)
from users.models import Organization, User
from webhooks.events import EVENT_TYPES, FINAL_STATUS_EVENTS, event_body
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.signing import secret_generate
from webhooks.ssrf import UrlInvalid, UrlRefused, is_ip_literal, url_check

logger = logging.getLogger("webhooks.services")

# What a refused host name is told: the same whether it does not resolve or
# resolves to an internal address, so that registering URLs cannot map a
# private network's names.
NOT_PUBLIC = "its host must resolve to public addresses only"


def webhook_url_validate(*, url: str) -> str:
    """The URL as it will be stored, or the API error that refuses it (400: 1002, 1020, 1021)."""
    try:
        url_check(url)
    except UrlInvalid as exc:
        raise ValidationFailed(f"url: {exc}") from None
    except UrlRefused as exc:
        if exc.rule == "https":
            raise WebhookUrlNotHttps() from None
        if exc.rule == "host" or is_ip_literal(exc.host):
            # Nothing was looked up: the reason tells nothing about a private network.
            raise WebhookUrlNotAllowed(f"Webhook URL not allowed: {exc.reason}") from None
        raise WebhookUrlNotAllowed(f"Webhook URL not allowed: {NOT_PUBLIC}") from None
    return url


def webhook_events_validate(*, events: Sequence[str]) -> list[str]:
    """The subscribed event types without repeats, in the order given; 400 (1022) for an unknown one."""
    unknown = [event for event in events if event not in EVENT_TYPES]
    if unknown:
        raise UnknownWebhookEvent(
            f"Unknown webhook event {unknown[0]!r}; known events: {', '.join(EVENT_TYPES)}"
        )
    return list(dict.fromkeys(events))


def webhook_endpoint_create(
    *, organization: Organization, created_by: User | None, url: str, events: Sequence[str]
) -> WebhookEndpoint:
    """Register an endpoint with a new secret, after checking its URL and events.

    The URL's host is resolved before the transaction, so that a slow DNS
    answer holds no lock.
    """
    events = webhook_events_validate(events=events)
    url = webhook_url_validate(url=url)
    try:
        return _endpoint_insert(
            organization=organization, created_by=created_by, url=url, events=events
        )
    except IntegrityError:
        # Two registrations of one URL at once: the unique constraint decided.
        raise WebhookEndpointExists() from None


@transaction.atomic
def _endpoint_insert(
    *, organization: Organization, created_by: User | None, url: str, events: list[str]
) -> WebhookEndpoint:
    # The organization's row serializes registrations, so the cap holds under concurrency.
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    endpoints = WebhookEndpoint.objects.filter(organization_id=organization.pk)
    if endpoints.filter(url=url).exists():
        raise WebhookEndpointExists()
    if endpoints.count() >= settings.WEBHOOK_MAX_ENDPOINTS:
        raise WebhookEndpointsLimit(
            f"Too many webhook endpoints: an organization may have {settings.WEBHOOK_MAX_ENDPOINTS}"
        )
    endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        created_by=created_by,
        url=url,
        events=events,
        secret=secret_generate(),
    )
    logger.info(
        "webhook endpoint registered",
        extra={"organization_id": organization.pk, "webhook_endpoint_id": endpoint.pk},
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, organization: Organization, endpoint_id: str) -> None:
    """Remove an endpoint of the organization, with its deliveries and their log; 404 if it has none."""
    deleted, _ = WebhookEndpoint.objects.filter(
        organization_id=organization.pk, pk=endpoint_id.lower()
    ).delete()
    if not deleted:
        raise EntityNotFound()
    logger.info(
        "webhook endpoint removed",
        extra={"organization_id": organization.pk, "webhook_endpoint_id": endpoint_id.lower()},
    )


@transaction.atomic
def webhook_endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Make a failing endpoint active again (staff, in the admin); new events reach it from now on."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        status=WebhookEndpoint.Status.ACTIVE,
        failing_since=None,
        failing_reason="",
        updated_at=timezone.now(),
    )
    endpoint.refresh_from_db()
    return endpoint


def webhook_events_record(*, bulk_task: BulkTask, status: str) -> list[str]:
    """Record a finished task's event and one delivery per subscribed endpoint; queue them after commit.

    Runs inside the transaction that ends the task (``bulk_task_finished``),
    so the deliveries exist if and only if the task is seen finished; their
    messages go once that transaction commits, and the sweeper sends any
    message lost on the way. Returns the new deliveries' ids.
    """
    event_type = FINAL_STATUS_EVENTS.get(status)
    if event_type is None:
        return []
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(
            organization_id=bulk_task.organization_id, status=WebhookEndpoint.Status.ACTIVE
        ).only("id", "events")
        if event_type in endpoint.events
    ]
    if not endpoints:
        return []
    # Read afresh: the caller's copy predates the final status it just wrote.
    task = BulkTask.objects.select_related("created_by").get(pk=bulk_task.pk)
    now = timezone.now()
    event = WebhookEvent.objects.create(
        organization_id=task.organization_id,
        type=event_type,
        bulk_task=task,
        body=event_body(event_type=event_type, bulk_task=task),
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            event=event,
            endpoint=endpoint,
            window_started_at=now,
            next_attempt_at=now,
            queued_at=now,
        )
        for endpoint in endpoints
    )
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: _enqueue_all(ids))
    return ids


def _enqueue_all(delivery_ids: list[str]) -> None:
    from webhooks.delivery import webhook_delivery_enqueue

    for delivery_id in delivery_ids:
        webhook_delivery_enqueue(delivery_id=delivery_id)
