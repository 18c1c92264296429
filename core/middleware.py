"""Request middleware: the request id and access log; reading what is left of a request body; no-store."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from contextlib import suppress

from django.core.exceptions import SuspiciousOperation
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase, UnreadablePostError
from django.utils.functional import SimpleLazyObject, empty

from core.logging import request_id_clean, request_id_new, request_id_var
from core.views import API_PREFIX

REQUEST_ID_HEADER = "X-Request-ID"
AUTH_PREFIX = "/v1/auth/"
access_logger = logging.getLogger("core.access")


class RequestIdMiddleware:
    """Give every request an id, log one access line for it, and echo it in ``X-Request-ID``.

    It comes first in MIDDLEWARE, so that it also sees the answers other
    middleware give on their own: a refused Host, a redirect to HTTPS, a 500.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        request_id = request_id_clean(request.META.get("HTTP_X_REQUEST_ID")) or request_id_new()
        request.request_id = request_id  # type: ignore[attr-defined]
        # Not reset on the way out: Django logs 4xx and 5xx answers ("django.request")
        # after the last middleware returns; request_finished clears it instead.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        # Building the record costs more than the check: skip it when access logs are off.
        if access_logger.isEnabledFor(logging.INFO):
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            access_logger.info(
                "%s %s %s %.2fms",
                request.method,
                _printable(request.path),
                response.status_code,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                    "user_id": _user_id(request),
                },
            )
        return response


@receiver(request_finished, dispatch_uid="core.middleware.request_id_forget")
def _request_id_forget(**kwargs: object) -> None:
    """The response is sent: log lines from now on belong to no request."""
    request_id_var.set(None)


def _printable(text: str) -> str:
    """``text`` with control characters escaped: a ``%0A`` in a URL must not start a log line."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _user_id(request: HttpRequest) -> str | None:
    """The id of the user the request was authenticated as, without querying for it."""
    user = request.__dict__.get("user")
    # Django's session user is lazy: if nothing looked at it, nobody was
    # authenticated that way, and loading it now would cost a query.
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return None
    pk = getattr(user, "pk", None)
    return None if pk is None else str(pk)


# Bodies are drained only up to this size: reading more for a request that was
# refused (perhaps without any credentials) would let anyone hold a worker with
# a large upload. A larger refused body relies on the proxy in front, which
# buffers request bodies (docs/production.md).
DRAIN_MAX_BYTES = 1024 * 1024
_CHUNK = 64 * 1024


class DrainRequestBodyMiddleware:
    """Consume the unread rest of a request body before the response goes out.

    A request refused before its body is read (401, 404, or 503 while the
    database is away) is answered while the client is still sending the body.
    A server that then closes the socket with bytes unread makes the kernel
    send a TCP reset, and the client (or the proxy in front) sees a cut
    connection instead of the answer. A body over ``DRAIN_MAX_BYTES`` is left
    alone.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        request_body_drain(request=request)
        return response


class RefuseNulBytesMiddleware:
    """Answer 400 to a non-API URL holding a NUL byte, which PostgreSQL refuses in any text.

    Left alone, the admin passes such a value (an object id in the path, a
    list filter in the query) to a query, and psycopg's refusal is a 500. The
    API validates its own parameters, and names the one at fault in its 400.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path.startswith(API_PREFIX) and (
            "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", "")
        ):
            # Django answers SuspiciousOperation with its 400 hook, logged as a warning.
            raise SuspiciousOperation("NUL byte in the URL")
        return self.get_response(request)


# The OpenAPI schema and Swagger UI are public and the same for everyone: caches may keep them.
_CACHEABLE_API_PATH = re.compile(r"/v1/(schema|docs)/?")


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on every API answer but the public schema and docs.

    Token responses must not be stored (RFC 6749, section 5.1), and an
    authenticated answer holds one tenant's data, which a shared cache must
    never hand to someone else. Errors get it too: it costs nothing, and no
    answer under /v1/ is worth caching.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX) and not _CACHEABLE_API_PATH.fullmatch(request.path):
            response["Cache-Control"] = "no-store"
            if request.path.startswith(AUTH_PREFIX):
                # RFC 6749 asks token responses for the HTTP/1.0 header as well.
                response["Pragma"] = "no-cache"
        return response


def request_body_drain(*, request: HttpRequest) -> int:
    """Read and discard what is left of a body of at most DRAIN_MAX_BYTES; return the bytes read."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    if not declared.isdigit() or not 0 < int(declared) <= DRAIN_MAX_BYTES:
        return 0
    drained = 0
    # The client may hang up meanwhile; then there is nobody left to answer.
    with suppress(UnreadablePostError, OSError):
        while chunk := request.read(_CHUNK):
            drained += len(chunk)
    return drained
