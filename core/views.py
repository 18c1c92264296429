"""Fallback views that keep every answer under /v1/ in the JSON envelope."""

from __future__ import annotations

import sys
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from core import errors
from core.errors import ErrorSpec
from core.exceptions import ServiceError
from core.unavailable import RETRY_AFTER_SECONDS, is_service_unavailable

API_PREFIX = "/v1/"


class RouteNotFoundView(APIView):
    """Answers any path under /v1/ that no endpoint serves."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def _not_found(self, request: Request, *args: Any, **kwargs: Any) -> None:
        raise ServiceError(error=errors.ROUTE_NOT_FOUND)

    get = post = put = patch = delete = head = options = _not_found


def _json_error(error: ErrorSpec) -> JsonResponse:
    return JsonResponse(
        {"status": False, "error": {"code": error.code, "message": error.message}},
        status=error.status,
        json_dumps_params={"separators": (",", ":")},
    )


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 hook: the envelope under /v1/, the stock page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return _json_error(errors.ROUTE_NOT_FOUND)
    return defaults.page_not_found(request, exception or Exception())


def handler500(request: HttpRequest) -> HttpResponse:
    """Django's 500 hook: the envelope under /v1/, the stock page elsewhere; 503 if a service is away."""
    # Django calls this hook while it handles the exception, so it is still current.
    if is_service_unavailable(sys.exc_info()[1]):
        return _service_unavailable(request)
    if request.path.startswith(API_PREFIX):
        return _json_error(errors.INTERNAL_ERROR)
    return defaults.server_error(request)


def _service_unavailable(request: HttpRequest) -> HttpResponse:
    """A 503 with Retry-After for an error raised outside the API views (middleware, admin)."""
    error = errors.SERVICE_UNAVAILABLE
    if request.path.startswith(API_PREFIX):
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
    if request.path.startswith(API_PREFIX):
        return _json_error(errors.MALFORMED_REQUEST)
    return defaults.bad_request(request, exception or Exception())
