"""Staff pages for webhooks: endpoints (never their secret), deliveries and the attempt log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from bulktasks.admin import ReadOnlyAdmin
from webhooks.delivery import webhook_delivery_retry
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.services import webhook_endpoint_enable

ATTEMPT_FIELDS: tuple[str, ...] = (
    "number",
    "started_at",
    "outcome",
    "status_code",
    "duration_ms",
    "address",
    "error",
    "response_excerpt",
)
LOG_FIELDS: tuple[str, ...] = ("delivery", *ATTEMPT_FIELDS)
ENDPOINT_FIELDS: tuple[str, ...] = (
    "id",
    "organization",
    "url",
    "events",
    "status",
    "failing_since",
    "failing_reason",
    "created_by",
    "created_at",
    "updated_at",
)
DELIVERY_FIELDS: tuple[str, ...] = (
    "id",
    "event",
    "endpoint",
    "status",
    "attempts",
    "window_started_at",
    "next_attempt_at",
    "lease_expires_at",
    "last_status_code",
    "last_error",
    "created_at",
    "finished_at",
)


class WebhookAttemptInline(admin.TabularInline):
    """The attempts of a delivery, oldest first: a read-only log."""

    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ATTEMPT_FIELDS
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Never: attempts are written by the workers."""
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    """Endpoints are registered through the API; staff read them and re-enable failing ones."""

    list_display = ["id", "organization", "url", "status", "failing_since", "created_at"]
    list_filter = ["status", "organization"]
    search_fields = ["=id", "url"]
    list_select_related = ["organization"]
    show_full_result_count = False
    # The secret is left out on purpose: it was shown to the client once, at registration.
    fields = ENDPOINT_FIELDS
    readonly_fields = fields
    actions = ["enable"]

    def has_enable_permission(self, request: HttpRequest) -> bool:
        """Staff allowed to change endpoints may re-enable them; the page itself stays read-only."""
        return bool(request.user.has_perm("webhooks.change_webhookendpoint"))

    @admin.action(description="Re-enable the selected failing endpoints", permissions=["enable"])
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        enabled = 0
        for endpoint in queryset.filter(status=WebhookEndpoint.Status.FAILING):
            webhook_endpoint_enable(endpoint=endpoint)
            enabled += 1
        self.message_user(request, f"{enabled} endpoint(s) re-enabled.", messages.SUCCESS)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    """Events recorded for endpoints, with the exact body they were sent."""

    list_display = ["id", "type", "organization", "bulk_task_id", "created_at"]
    list_filter = ["type"]
    search_fields = ["=id", "=bulk_task__id"]
    list_select_related = ["organization"]
    show_full_result_count = False
    fields = ("id", "type", "organization", "bulk_task_id", "body", "created_at")
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """Each event to each endpoint, with its attempts; failed ones can be sent again."""

    list_display = [
        "id",
        "event",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event__type"]
    search_fields = ["=id", "=event__id", "=endpoint__id", "endpoint__url"]
    list_select_related = ["event", "endpoint"]
    show_full_result_count = False
    fields = DELIVERY_FIELDS
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["retry_failed"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        """Staff allowed to change deliveries may send failed ones again; the page stays read-only."""
        return bool(request.user.has_perm("webhooks.change_webhookdelivery"))

    @admin.action(description="Send the selected failed deliveries again", permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        retried = sum(
            webhook_delivery_retry(delivery=delivery)
            for delivery in queryset.filter(status=WebhookDelivery.Status.FAILED)
        )
        self.message_user(
            request, f"{retried} delivery(ies) sent back to the queue.", messages.SUCCESS
        )


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    """Every attempt of every delivery: status, duration, response code, error."""

    list_display = [
        "delivery",
        "number",
        "started_at",
        "outcome",
        "status_code",
        "duration_ms",
        "error",
    ]
    list_filter = ["outcome"]
    search_fields = ["=delivery__id"]
    list_select_related = ["delivery"]
    show_full_result_count = False
    fields = LOG_FIELDS
    readonly_fields = LOG_FIELDS
