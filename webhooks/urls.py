"""Routes under /v1/organizations/{organizationId}/webhooks."""

from django.urls import re_path

from webhooks.views import WebhookEndpointCollectionViewSet, WebhookEndpointViewSet

# Matched loosely and validated in the view, as for bulk tasks: a malformed id
# gets a 400 that names the parameter.
SEGMENT = r"[^/]+"
WEBHOOKS = rf"^organizations/(?P<organization_id>{SEGMENT})/webhooks"

urlpatterns = [
    re_path(
        rf"{WEBHOOKS}/?$",
        WebhookEndpointCollectionViewSet.as_view({"get": "list", "post": "create"}),
        name="webhook-list",
    ),
    re_path(
        rf"{WEBHOOKS}/(?P<webhook_id>{SEGMENT})/?$",
        WebhookEndpointViewSet.as_view({"delete": "destroy"}),
        name="webhook-detail",
    ),
]
