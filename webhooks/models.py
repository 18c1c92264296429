"""Webhook endpoints, the events recorded for them, and each delivery and attempt."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.ids import ObjectIdField


class WebhookEndpoint(models.Model):
    """A URL of an organization that is sent a signed request for each event it subscribes to."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        # Disabled after a delivery failed for the whole retry window, or the
        # receiver answered 410 Gone; staff re-enable it in the admin.
        FAILING = "failing", "Failing"

    id = ObjectIdField(primary_key=True)
    # No index of its own: webhookendpoint_org_newest leads with it.
    organization = models.ForeignKey(
        "users.Organization",
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        db_index=False,
    )
    url = models.CharField("URL", max_length=2048)
    events = models.JSONField(help_text="The event types sent to this endpoint.")
    # whsec_<base64>: the HMAC key, shown to the client once, at registration.
    secret = models.CharField(max_length=128, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    failing_since = models.DateTimeField(null=True, blank=True)
    failing_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["organization", "-id"], name="webhookendpoint_org_newest"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "url"], name="webhookendpoint_org_url_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """Something that happened, with the body every endpoint subscribed to it is sent."""

    id = ObjectIdField(primary_key=True)
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="+"
    )
    type = models.CharField(max_length=64)
    # Kept when the task is deleted: the event happened all the same.
    bulk_task = models.ForeignKey(
        "bulktasks.BulkTask",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    # The exact bytes sent and signed (UTF-8), written once when the event is recorded.
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookDelivery(models.Model):
    """One event to one endpoint, tried until it succeeds or the retry window is spent.

    Its event's id is the ``webhook-id`` header of every attempt, so that a
    receiver recognizes a retry as the same message.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = ObjectIdField(primary_key=True)
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(
        default=0, help_text="Attempts started, one that a dead worker left unfinished included."
    )
    # The retry window runs from here: the first attempt, or a manual retry.
    window_started_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When a message for it was last put on the queue (or is due to arrive, for
    # a countdown): the sweeper sends another only when that one looks lost.
    queued_at = models.DateTimeField(null=True, blank=True)
    # Held by the worker sending an attempt; a dead worker's runs out.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="webhookdelivery_event_endpoint_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} to {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, and how it went: the delivery log staff read."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded (2xx)"
        HTTP_ERROR = "httpError", "Answered with a status other than 2xx"
        TIMEOUT = "timeout", "Timed out"
        CONNECTION_ERROR = "connectionError", "Could not connect or the connection broke"
        REFUSED = "refused", "Refused: the URL's host resolves to an address not allowed"

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # Which address the request went to (after the SSRF check), for staff.
    address = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="webhookattempt_delivery_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
