"""HTTP endpoints for webhook endpoints; each validates, calls a selector or service, serializes."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from bulktasks.views import page
from core import errors
from core.bodies import body_length_require
from core.openapi import raises
from core.params import query_params_validate
from core.responses import envelope
from users.endpoints import OBJECT_ID_PARAMETER, OrganizationViewSet
from users.permissions import WebhookPermission
from webhooks.selectors import webhook_endpoint_list
from webhooks.serializers import (
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointListQuerySerializer,
    WebhookEndpointPageSerializer,
    WebhookEndpointSerializer,
)
from webhooks.services import webhook_endpoint_create, webhook_endpoint_delete

CREATED_LOCATION = OpenApiParameter(
    "Location",
    str,
    OpenApiParameter.HEADER,
    required=True,
    response=[201],
    description="The URL of the endpoint (DELETE it to stop the events).",
)


@extend_schema(tags=["Webhooks"])
class WebhookEndpointCollectionViewSet(OrganizationViewSet):
    """``/v1/organizations/{organizationId}/webhooks``: list, and register."""

    permission_classes = [WebhookPermission]

    @extend_schema(
        operation_id="listWebhookEndpoints",
        summary="List webhook endpoints",
        description=(
            "Required permission: `base.webhooks.manage`. The organization's webhook endpoints, "
            "newest first, a page at a time; their secrets are never shown again. A bad query "
            "parameter is 400 (1001), naming it."
        ),
        parameters=[WebhookEndpointListQuerySerializer],
        responses={200: WebhookEndpointPageSerializer},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The organization's endpoints, newest first, a cursor page at a time."""
        params = query_params_validate(WebhookEndpointListQuerySerializer, request)
        endpoints, has_more = webhook_endpoint_list(
            organization=self.organization, before_id=params.get("cursor"), limit=params["limit"]
        )
        items = WebhookEndpointSerializer(endpoints, many=True).data
        return envelope(page(items, has_more, endpoints[-1].pk if endpoints else None))

    @extend_schema(
        operation_id="createWebhookEndpoint",
        summary="Register a webhook endpoint",
        description=(
            "Required permission: `base.webhooks.manage`. Registers a URL to be sent a signed "
            "request (Standard Webhooks) when a task of the organization completes or fails. "
            "The answer holds the endpoint's signing secret: it is shown this once only. The "
            "URL must be https, and its host must resolve to public addresses only."
        ),
        request=WebhookEndpointCreateSerializer,
        parameters=[CREATED_LOCATION],
        responses={201: WebhookEndpointCreatedSerializer},
    )
    @raises(
        errors.VALIDATION_FAILED,
        errors.WEBHOOK_URL_NOT_HTTPS,
        errors.WEBHOOK_URL_NOT_ALLOWED,
        errors.UNKNOWN_WEBHOOK_EVENT,
        errors.WEBHOOK_ENDPOINT_EXISTS,
        errors.WEBHOOK_ENDPOINTS_LIMIT,
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Register an endpoint and answer it with its secret, once."""
        body_length_require(request._request)
        serializer = WebhookEndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(
            organization=self.organization,
            created_by=self.member,
            url=serializer.validated_data["url"],
            events=serializer.validated_data["events"],
        )
        headers = {
            "Location": request.build_absolute_uri(f"{request.path.rstrip('/')}/{endpoint.pk}")
        }
        return envelope(
            WebhookEndpointCreatedSerializer(endpoint).data, status=201, headers=headers
        )


@extend_schema(tags=["Webhooks"])
class WebhookEndpointViewSet(OrganizationViewSet):
    """``/v1/organizations/{organizationId}/webhooks/{webhookId}``: remove one."""

    permission_classes = [WebhookPermission]
    http_method_names = ["delete"]
    path_parameters: ClassVar[dict[str, tuple[str, re.Pattern[str], str]]] = {
        **OrganizationViewSet.path_parameters,
        "webhook_id": ("webhookId", *OBJECT_ID_PARAMETER),
    }

    @extend_schema(
        operation_id="deleteWebhookEndpoint",
        summary="Remove a webhook endpoint",
        description=(
            "Required permission: `base.webhooks.manage`. Removes the endpoint with its "
            "delivery log; no further event is sent to it, and a delivery on its way stops."
        ),
        responses={204: None},
    )
    @raises(errors.ENTITY_NOT_FOUND)
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Remove the endpoint; 204 with no body."""
        webhook_endpoint_delete(organization=self.organization, endpoint_id=kwargs["webhook_id"])
        return Response(status=204)
