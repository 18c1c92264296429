"""Webhook reads."""

from __future__ import annotations

from users.models import Organization
from webhooks.models import WebhookEndpoint


def webhook_endpoint_list(
    *, organization: Organization, before_id: str | None = None, limit: int = 25
) -> tuple[list[WebhookEndpoint], bool]:
    """The organization's endpoints, newest first, after a cursor; and whether more follow."""
    endpoints = WebhookEndpoint.objects.filter(organization_id=organization.pk)
    if before_id:
        endpoints = endpoints.filter(id__lt=before_id.lower())
    page = list(endpoints.order_by("-id")[: limit + 1])
    return page[:limit], len(page) > limit
