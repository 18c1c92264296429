"""Read what is left of a request body before answering, so that the answer is not lost."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, UnreadablePostError

# Multipart framing around the largest file the API accepts.
_MULTIPART_OVERHEAD = 64 * 1024
_CHUNK = 64 * 1024


class DrainRequestBodyMiddleware:
    """Consume the unread rest of a request body before the response goes out.

    A request refused before its body is read (401, 404, or 503 while the
    database is away) is answered while the client is still sending the body.
    A server that then closes the socket with bytes unread makes the kernel
    send a TCP reset, and the client (or the proxy in front) sees a cut
    connection instead of the answer. A body larger than the largest upload the
    API accepts is left alone: it is refused with 413 from its declared length.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        request_body_drain(request=request)
        return response


def request_body_drain(*, request: HttpRequest) -> int:
    """Read and discard what is left of the body, up to the largest accepted; return the bytes read."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    limit = int(settings.BULK_TASK_MAX_FILE_SIZE) + _MULTIPART_OVERHEAD
    if not declared.isdigit() or not 0 < int(declared) <= limit:
        return 0
    drained = 0
    # The client may hang up meanwhile; then there is nobody left to answer.
    with suppress(UnreadablePostError, OSError):
        while chunk := request.read(_CHUNK):
            drained += len(chunk)
    return drained
