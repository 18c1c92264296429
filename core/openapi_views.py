"""The views serving the OpenAPI schema and Swagger UI."""

# Not in core/openapi.py: drf-spectacular's views import the schema class
# (core.openapi.ApiAutoSchema) while they load, which would be circular.

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.response import Response


class SchemaView(SpectacularAPIView):
    """``GET /v1/schema/``: the schema, built once per process.

    It is a function of the code alone (the API has one language and one
    version), and the endpoint is public and never throttled, so no request
    should pay for a fresh build (over 100 ms).
    """

    throttle_classes: list[Any] = []
    _built: dict[str, Any] | None = None

    def _get_schema_response(self, request: Request) -> Response:
        if SchemaView._built is None:
            generator = self.generator_class(urlconf=self.urlconf, patterns=self.patterns)
            SchemaView._built = generator.get_schema(request=request, public=self.serve_public)
        filename = self._get_filename(request, None)
        return Response(
            data=SchemaView._built,
            headers={"Content-Disposition": f'inline; filename="{filename}"'},
        )


class DocsView(SpectacularSwaggerView):
    """``GET /v1/docs/``: Swagger UI on /v1/schema/, its files served from this service."""

    url_name = "openapi-schema"
    throttle_classes: list[Any] = []
