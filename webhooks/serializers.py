"""How webhook endpoints appear in API requests and responses."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.ids import OBJECT_ID_PATTERN
from core.serializers import DigitsIntegerField, ObjectIdField, OmitEmptyMixin, PatternField
from webhooks.events import EVENT_TYPES
from webhooks.models import WebhookEndpoint
from webhooks.ssrf import MAX_URL_LENGTH

URL_EXAMPLE = "https://hooks.example.com/bulk-tasks"


@extend_schema_field({"type": "string", "enum": list(EVENT_TYPES)})
class EventTypeField(serializers.CharField):
    """An event type; an unknown one is refused by the service with its own code (1022)."""


@extend_schema_field(
    {"type": "string", "format": "uri", "maxLength": MAX_URL_LENGTH, "example": URL_EXAMPLE}
)
class WebhookUrlField(serializers.CharField):
    """An absolute https URL; checked by the service's SSRF guard."""


class WebhookEndpointCreateSerializer(serializers.Serializer):
    """The JSON body of ``POST /webhooks``."""

    url = WebhookUrlField(
        max_length=MAX_URL_LENGTH,
        trim_whitespace=False,
        help_text=(
            "Where events are sent: https, to a host that resolves to public addresses only. "
            "Redirects are not followed."
        ),
    )
    events = serializers.ListField(
        child=EventTypeField(),
        min_length=1,
        max_length=len(EVENT_TYPES) * 4,
        help_text="The event types to send to this URL.",
    )


class WebhookEndpointSerializer(OmitEmptyMixin, serializers.Serializer):
    """A webhook endpoint as ``GET /webhooks`` lists it (never with its secret)."""

    always_present: tuple[str, ...] = ("id", "url", "events", "status", "createdAt", "updatedAt")

    id = ObjectIdField()
    url = WebhookUrlField()
    events = serializers.ListField(child=EventTypeField())
    status = serializers.ChoiceField(
        choices=WebhookEndpoint.Status.choices,
        help_text=(
            "`failing`: a delivery failed for the whole retry window (or the receiver answered "
            "410), and the endpoint is sent nothing until staff re-enable it."
        ),
    )
    failingSince = serializers.DateTimeField(source="failing_since")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    """A webhook endpoint just registered, with its signing secret: shown this once only."""

    always_present = (*WebhookEndpointSerializer.always_present, "secret")

    secret = PatternField(
        r"^whsec_[A-Za-z0-9+/]+={0,2}$",
        help_text=(
            "The signing secret (Standard Webhooks: `whsec_` and base64). Shown only in this "
            "response: store it now."
        ),
    )


class WebhookEndpointListQuerySerializer(serializers.Serializer):
    """Query parameters of ``GET /webhooks``."""

    cursor = PatternField(rf"^{OBJECT_ID_PATTERN}$", required=False)
    limit = DigitsIntegerField(min_value=1, max_value=100, default=25)


class WebhookEndpointPageSerializer(serializers.Serializer):
    """A page of webhook endpoints, newest first."""

    items = WebhookEndpointSerializer(many=True)
    hasMore = serializers.BooleanField()
    nextCursor = ObjectIdField(
        required=False, help_text="Pass as `cursor` for the next page; sent when hasMore is true."
    )
