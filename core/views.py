"""Health probes, and the fallback views that keep every answer under /v1/ in the JSON envelope."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors
from core.errors import ErrorSpec
from core.exception_handler import error_body
from core.exceptions import ServiceError, ServiceUnavailable
from core.health import health_readiness_checks
from core.responses import envelope
from core.unavailable import RETRY_AFTER_SECONDS, is_service_unavailable

API_PREFIX = "/v1/"
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})


class _AlwaysJson(BaseContentNegotiation):
    """Probes send whatever Accept header they like; they always get JSON."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class _ProbeView(APIView):
    """No authentication, no permissions, no throttling: an orchestrator calls these."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []
    content_negotiation_class = _AlwaysJson


class HealthzView(_ProbeView):
    """Liveness: the process answers. Touches no database and no broker."""

    def get(self, request: Request) -> Response:
        """Answer 200 as long as the process can serve requests."""
        return envelope({"status": "ok"})


class ReadyzView(_ProbeView):
    """Readiness: the database and the Celery broker answer, so requests can be served."""

    def get(self, request: Request) -> Response:
        """200 with each check's result, or 503 (5003) naming the checks that failed."""
        results = health_readiness_checks()
        failed = [result.name for result in results if not result.ok]
        if failed:
            raise ServiceUnavailable(f"Not ready; failed checks: {', '.join(failed)}")
        checks = {
            result.name: {"status": "ok", "durationMs": result.duration_ms} for result in results
        }
        return envelope({"status": "ready", "checks": checks})


class RouteNotFoundView(APIView):
    """Answers any path under /v1/ that no endpoint serves."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def _not_found(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise ServiceError(error=errors.ROUTE_NOT_FOUND)

    get = post = put = patch = delete = head = options = _not_found


def _wants_json(request: HttpRequest) -> bool:
    """The API and the health probes answer in JSON; the admin keeps Django's pages."""
    return request.path.startswith(API_PREFIX) or request.path in HEALTH_PATHS


def _json_error(error: ErrorSpec, message: str | None = None) -> JsonResponse:
    # Django calls these hooks outside DRF, so no renderer: the same body, as JSON here.
    return JsonResponse(
        error_body(error, message),
        status=error.status,
        json_dumps_params={"separators": (",", ":")},
    )


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 hook: the envelope under /v1/ and for probes, the stock page elsewhere."""
    if _wants_json(request):
        return _json_error(errors.ROUTE_NOT_FOUND)
    return defaults.page_not_found(request, exception or Exception())


def handler500(request: HttpRequest) -> HttpResponse:
    """Django's 500 hook: the envelope under /v1/ and for probes, the stock page elsewhere.

    A backing service that is away (the database, the broker) is a 503 with
    ``Retry-After`` instead, wherever it was raised.
    """
    # Django calls this hook while it handles the exception, so it is still current.
    if is_service_unavailable(sys.exc_info()[1]):
        return _service_unavailable(request)
    if _wants_json(request):
        return _json_error(errors.INTERNAL_ERROR)
    return defaults.server_error(request)


def _service_unavailable(request: HttpRequest) -> HttpResponse:
    """A 503 with Retry-After for an error raised outside the API views (middleware, admin)."""
    error = errors.SERVICE_UNAVAILABLE
    if _wants_json(request):
        response: HttpResponse = _json_error(error)
    else:
        # No template: rendering one could itself need the service that is away.
        response = HttpResponse(
            f"<!doctype html><title>{error.message}</title><h1>{error.message}</h1>"
            "<p>Please try again in a few seconds.</p>",
            status=error.status,
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 400 hook, used for requests Django rejects before any view (bad Host, etc.)."""
    if _wants_json(request):
        if isinstance(exception, DisallowedHost):
            return _json_error(errors.MALFORMED_REQUEST, "Invalid Host header")
        return _json_error(errors.MALFORMED_REQUEST)
    return defaults.bad_request(request, exception or Exception())
