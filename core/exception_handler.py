"""The one place where exceptions become the API's error envelope."""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFilesSent
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

from core import errors
from core.errors import ErrorSpec
from core.exceptions import ServiceError
from core.unavailable import RETRY_AFTER_SECONDS, is_service_unavailable

logger = logging.getLogger(__name__)

# DRF's own exceptions, mapped to our catalog; the first match wins, so a
# subclass (AuthenticationFailed under APIException) must come before its base.
_DRF_ERRORS: tuple[tuple[type[Exception], ErrorSpec], ...] = (
    (drf.NotAuthenticated, errors.NO_AUTH_TOKEN),
    (drf.AuthenticationFailed, errors.INVALID_TOKEN),
    (drf.PermissionDenied, errors.PERMISSION_DENIED),
    (drf.NotFound, errors.ENTITY_NOT_FOUND),
    (drf.MethodNotAllowed, errors.METHOD_NOT_ALLOWED),
    (drf.ParseError, errors.MALFORMED_REQUEST),
    (drf.UnsupportedMediaType, errors.UNSUPPORTED_MEDIA_TYPE),
    (drf.NotAcceptable, errors.NOT_ACCEPTABLE),
    (drf.Throttled, errors.THROTTLED),
    (drf.ValidationError, errors.VALIDATION_FAILED),
)


def error_body(error: ErrorSpec, message: str | None = None) -> dict[str, Any]:
    """The error envelope of a catalog entry: ``{"status": false, "error": {code, message}}``."""
    return {"status": False, "error": {"code": error.code, "message": message or error.message}}


def error_response(
    error: ErrorSpec, message: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """Build the error envelope for a catalog entry."""
    return Response(error_body(error, message), status=error.status, headers=headers)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Turn any exception raised under the API into a coded error envelope."""
    error, message = _classify(exc)
    headers: dict[str, str] = {}
    if error.status == 401:
        # RFC 7235: every 401 names the scheme the client should use.
        view = context.get("view")
        request = context.get("request")
        challenge = getattr(exc, "auth_header", None)
        if not challenge and view is not None and request is not None:
            challenge = view.get_authenticate_header(request)
        headers["WWW-Authenticate"] = challenge or 'Bearer realm="api"'
    wait = getattr(exc, "wait", None)
    if wait is not None:
        headers["Retry-After"] = str(math.ceil(wait))
    elif error is errors.SERVICE_UNAVAILABLE:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return error_response(error, message, headers)


def _classify(exc: Exception) -> tuple[ErrorSpec, str | None]:
    """Find the catalog entry for an exception, and the message to send with it."""
    if isinstance(exc, ServiceError):
        return exc.error, exc.message
    for exc_type, error in _DRF_ERRORS:
        if isinstance(exc, exc_type):
            if error is errors.VALIDATION_FAILED:
                return error, _validation_message(exc)
            if error is errors.PERMISSION_DENIED:
                return error, str(getattr(exc, "detail", "")) or None
            return error, None
    if isinstance(exc, Http404):
        return errors.ENTITY_NOT_FOUND, None
    if isinstance(exc, DjangoPermissionDenied):
        return errors.PERMISSION_DENIED, None
    if isinstance(exc, RequestDataTooBig):
        return errors.PAYLOAD_TOO_LARGE, None
    if isinstance(exc, TooManyFilesSent):
        # DATA_UPLOAD_MAX_NUMBER_FILES: refused at the second file part, before it is stored.
        return errors.MALFORMED_REQUEST, "Too many files: an upload holds exactly one file"
    if isinstance(exc, SuspiciousOperation):
        return errors.MALFORMED_REQUEST, None
    if is_service_unavailable(exc):
        # The database or the broker went away or refused a connection: the client may retry.
        logger.warning("backing service unavailable: %s", exc)
        return errors.SERVICE_UNAVAILABLE, None
    logger.error("unhandled error", exc_info=exc)
    return errors.INTERNAL_ERROR, None


def _validation_message(exc: Exception) -> str:
    """Flatten DRF's nested validation detail into one line that names each field."""
    detail = getattr(exc, "detail", None)
    parts: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for item in value:
                walk(item, path)
        else:
            parts.append(f"{path}: {value}" if path and path != "non_field_errors" else str(value))

    walk(detail, "")
    return "; ".join(parts) or errors.VALIDATION_FAILED.message
