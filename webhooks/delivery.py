"""Sending deliveries: one attempt at a time, retries with backoff, the sweeper, failing endpoints.

At least once: a delivery is a row written with the task's final status, and
stays ``pending`` until a 2xx answer is recorded. Its attempts are claimed
with a lease (a worker killed mid-request leaves a lease that runs out), and
the sweeper sends again every pending delivery that is due and has no live
message or lease: a lost message, a dead worker, a broker that was away when
the message was published. The same event id is the ``webhook-id`` of every
attempt, so a receiver can drop the duplicates at-least-once implies.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.signing import signed_headers
from webhooks.transport import MAX_ADDRESSES_TRIED, Result, post

logger = logging.getLogger("webhooks.delivery")

# Each retry waits this many times longer than the one before.
BACKOFF_FACTOR = 4
# Up to this fraction of each wait is taken off at random, so that deliveries
# that failed together (a receiver's outage) do not all come back together.
JITTER = 0.2
_BATCH = 500


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempt``-th failed attempt (1, 2, ...): exponential, capped, jittered.

    5 s, 20 s, 80 s, 5 min 20 s, 21 min, 85 min, 5 h 41 min, then 6 h (by default),
    each less up to 20 %.
    """
    base = float(settings.WEBHOOK_RETRY_BASE_SECONDS)
    cap = float(settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS)
    delay = min(cap, base * BACKOFF_FACTOR ** max(0, attempt - 1))
    return delay * (1 - JITTER * (rng or random).random())


def lease_seconds() -> float:
    """How long a claimed attempt is held: longer than the longest attempt can take.

    An attempt connects to at most ``MAX_ADDRESSES_TRIED`` addresses, then has
    ``WEBHOOK_TIMEOUT_SECONDS`` for the exchange; the 30 s on top cover the
    name lookup, which the system resolver bounds.
    """
    connects = settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS * MAX_ADDRESSES_TRIED
    return connects + settings.WEBHOOK_TIMEOUT_SECONDS + 30


def webhook_delivery_enqueue(*, delivery_id: str, countdown: float | None = None) -> bool:
    """Send a delivery's message; if the broker is away, the sweeper sends it later."""
    from webhooks.tasks import deliver_webhook

    try:
        deliver_webhook.apply_async(
            (delivery_id,), countdown=countdown, queue=settings.WEBHOOK_QUEUE or None
        )
    except Exception:  # the broker is unreachable; the delivery stays due and is swept
        logger.warning(
            "could not enqueue webhook delivery %s; the sweeper will retry",
            delivery_id,
            exc_info=True,
        )
        return False
    return True


def webhook_delivery_attempt(*, delivery_id: str) -> WebhookAttempt | None:
    """Make the delivery's next attempt if it is due and no one else is making it; log it.

    Returns the attempt logged, or None when there was nothing to do (already
    delivered, given up, not due yet, or held by another worker).
    """
    claimed = _claim(delivery_id)
    if claimed is None:
        return None
    delivery, number = claimed
    endpoint, event = delivery.endpoint, delivery.event
    body = event.body.encode()
    started_at = timezone.now()
    headers = signed_headers(
        secret=endpoint.secret,
        message_id=event.pk,
        timestamp=int(started_at.timestamp()),
        body=body,
    )
    result = post(url=endpoint.url, headers=headers, body=body)
    return _record(delivery, number, started_at, result)


def _claim(delivery_id: str) -> tuple[WebhookDelivery, int] | None:
    """Take the attempt: count it and hold the delivery, unless it is not due or is held."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now),
        pk=delivery_id,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now,
        endpoint__status=WebhookEndpoint.Status.ACTIVE,
    ).update(
        attempts=F("attempts") + 1,
        lease_expires_at=now + timedelta(seconds=lease_seconds()),
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    return delivery, delivery.attempts


@transaction.atomic
def _record(
    delivery: WebhookDelivery, number: int, started_at: datetime, result: Result
) -> WebhookAttempt | None:
    """Log the attempt, and mark the delivery done, scheduled again, or given up."""
    now = timezone.now()
    # Only while the attempt is still ours: a worker that overran its lease
    # logs what it did, but the one that took over decides what comes next.
    ours = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=number
    )
    log = {
        "webhook_delivery_id": delivery.pk,
        "webhook_endpoint_id": delivery.endpoint_id,
        "webhook_event_id": delivery.event_id,
        "attempt": number,
        "outcome": result.outcome,
        "status_code": result.status_code,
        "duration_ms": result.duration_ms,
    }
    if not WebhookDelivery.objects.filter(pk=delivery.pk).exists():
        return None  # the endpoint was removed meanwhile, its log with it
    attempt = WebhookAttempt.objects.create(
        delivery_id=delivery.pk,
        number=number,
        started_at=started_at,
        duration_ms=result.duration_ms,
        outcome=result.outcome,
        status_code=result.status_code,
        address=result.address,
        error=result.error,
        response_excerpt=result.response_excerpt,
    )
    outcome = {"last_status_code": result.status_code, "last_error": result.error}
    if result.succeeded:
        ours.update(
            status=WebhookDelivery.Status.SUCCEEDED,
            finished_at=now,
            next_attempt_at=None,
            lease_expires_at=None,
            **outcome,
        )
        logger.info("webhook delivered", extra=log)
        return attempt
    window = timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
    gone = result.status_code == 410
    if gone or now >= delivery.window_started_at + window:
        if ours.update(
            status=WebhookDelivery.Status.FAILED,
            finished_at=now,
            next_attempt_at=None,
            lease_expires_at=None,
            **outcome,
        ):
            reason = (
                "the receiver answered 410 Gone"
                if gone
                else f"delivery {delivery.pk} failed for {window} ({result.error or result.outcome})"
            )
            webhook_endpoint_mark_failing(endpoint_id=delivery.endpoint_id, reason=reason)
            logger.warning("webhook delivery given up; endpoint marked failing", extra=log)
        return attempt
    delay = retry_delay(number)
    if result.retry_after is not None:
        # The receiver asked for a pause (429, 503): honoured, within the longest wait.
        delay = max(delay, min(float(result.retry_after), settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS))
    due = now + timedelta(seconds=delay)
    countdown = delay <= settings.WEBHOOK_COUNTDOWN_MAX_SECONDS
    if (
        ours.update(
            next_attempt_at=due,
            lease_expires_at=None,
            # A countdown message is on its way, due then; a later retry waits for the sweeper.
            queued_at=due if countdown else None,
            **outcome,
        )
        and countdown
    ):
        transaction.on_commit(
            lambda: webhook_delivery_enqueue(delivery_id=delivery.pk, countdown=delay)
        )
    logger.info("webhook attempt failed; retry in %.0f s", delay, extra=log)
    return attempt


def webhook_endpoint_mark_failing(*, endpoint_id: str, reason: str) -> None:
    """Disable an endpoint: no new event is recorded for it, and its pending deliveries stop.

    Standard Webhooks recommends disabling an endpoint that keeps failing;
    staff re-enable it in the admin, and may send its failed deliveries again.
    """
    now = timezone.now()
    marked = WebhookEndpoint.objects.filter(
        pk=endpoint_id, status=WebhookEndpoint.Status.ACTIVE
    ).update(
        status=WebhookEndpoint.Status.FAILING,
        failing_since=now,
        failing_reason=reason[:1000],
        updated_at=now,
    )
    WebhookDelivery.objects.filter(
        endpoint_id=endpoint_id, status=WebhookDelivery.Status.PENDING
    ).update(
        status=WebhookDelivery.Status.FAILED,
        finished_at=now,
        next_attempt_at=None,
        lease_expires_at=None,
        last_error="the endpoint was marked failing",
    )
    if marked:
        logger.warning(
            "webhook endpoint marked failing: %s",
            reason,
            extra={"webhook_endpoint_id": endpoint_id},
        )


def webhook_deliveries_sweep() -> list[str]:
    """Send the due deliveries that have no message on its way and no worker on them; their ids.

    A message is taken as lost once it is ``WEBHOOK_SWEEP_SECONDS`` late; the
    claim makes a duplicate harmless (it finds the delivery held, done or not due).
    """
    now = timezone.now()
    grace = timedelta(seconds=settings.WEBHOOK_SWEEP_SECONDS)
    due = Q(
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now,
        endpoint__status=WebhookEndpoint.Status.ACTIVE,
    )
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    quiet = Q(queued_at__isnull=True) | Q(queued_at__lt=now - grace)
    ids = list(
        WebhookDelivery.objects.filter(due & free & quiet)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:_BATCH]
    )
    if not ids:
        return ids
    WebhookDelivery.objects.filter(pk__in=ids).update(queued_at=now)
    for delivery_id in ids:
        webhook_delivery_enqueue(delivery_id=delivery_id)
    logger.info("swept %s webhook deliveries to the queue", len(ids))
    return ids


@transaction.atomic
def webhook_delivery_retry(*, delivery: WebhookDelivery) -> bool:
    """Send a failed delivery again (staff), with a fresh retry window; False if it was not failed."""
    now = timezone.now()
    retried = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.FAILED
    ).update(
        status=WebhookDelivery.Status.PENDING,
        window_started_at=now,
        next_attempt_at=now,
        queued_at=now,
        finished_at=None,
    )
    if retried:
        transaction.on_commit(lambda: webhook_delivery_enqueue(delivery_id=delivery.pk))
    return bool(retried)
