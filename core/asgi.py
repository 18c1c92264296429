"""Request-body limits for the ASGI entry point, enforced before Django reads the body.

Under WSGI Django reads a body only as a view asks for it, and only up to its
``Content-Length``. Django's ASGI handler instead reads the whole body into a
temporary buffer before any middleware or view runs, so a limit checked in a
view comes too late there. This wrapper checks it first: the declared length,
and, for a body sent without one (chunked), the bytes as they arrive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from django.conf import settings

from core import errors
from core.exception_handler import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Any: servers and Django type the messages each a little differently.
Application = Callable[[Any, Any, Any], Awaitable[None]]
Headers = Iterable[tuple[bytes, bytes]]

AUTH_PREFIX = "/v1/auth/"
# Multipart framing around an upload's file: boundaries, headers and the small fields.
MULTIPART_OVERHEAD = 64 * 1024
# The only two requests that may carry a file: the API's upload and the admin's.
API_UPLOAD = re.compile(r"/v1/organizations/[^/]+/bulk-tasks/?")
ADMIN_UPLOAD = re.compile(r"/admin/bulktasks/bulktask/upload/")
# Django's own default for DATA_UPLOAD_MAX_MEMORY_SIZE, should it be set to None.
DEFAULT_BODY_LIMIT = 2621440


def body_limit(method: str, path: str, headers: Headers = ()) -> int:
    """The most bytes a ``method`` request body to ``path``, with ``headers``, may hold.

    The upload limit only for an upload that carries credentials (a bearer token
    to the API, a session cookie to the admin): Django's ASGI handler spools a
    whole body to disk before authenticating anyone, so an anonymous upload must
    not get to write 100 MB. The credentials are only looked for here, checked
    by the view; a forged one still gets the large limit, which is why the proxy
    in front caps bodies too (docs/production.md). Anything else is held to the
    size of a form or JSON body.
    """
    if path.startswith(AUTH_PREFIX):
        return int(settings.AUTH_MAX_BODY_SIZE)
    if method == "POST" and _may_upload(path, headers):
        return int(settings.BULK_TASK_MAX_FILE_SIZE) + MULTIPART_OVERHEAD
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return DEFAULT_BODY_LIMIT if limit is None else int(limit)


def _may_upload(path: str, headers: Headers) -> bool:
    if API_UPLOAD.fullmatch(path):
        return any(
            name.lower() == b"authorization" and value[:7].lower() == b"bearer "
            for name, value in headers
        )
    if ADMIN_UPLOAD.fullmatch(path):
        cookie = f"{settings.SESSION_COOKIE_NAME}=".encode("latin-1")
        return any(
            name.lower() == b"cookie"
            and any(part.strip().startswith(cookie) for part in value.split(b";"))
            for name, value in headers
        )
    return False


class BodyLimitMiddleware:
    """Answer 413 to a body over its path's limit, without reading more than the limit."""

    def __init__(self, app: Application) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["method"], scope["path"], scope.get("headers", ()))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        if declared is not None:
            # The server stops at the declared length: nothing more can arrive.
            await self.app(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        if scope["path"].startswith(AUTH_PREFIX):
            # Small enough to hold: read it all first, so that a refusal is a 413.
            messages: list[Message] = []
            try:
                while True:
                    message = await counted_receive()
                    messages.append(message)
                    if message["type"] != "http.request" or not message.get("more_body"):
                        break
            except _TooLarge:
                await _refuse(send, limit)
                return
            await self.app(scope, _replay(messages, receive), send)
            return

        async def cut_receive() -> Message:
            # Django holds a body in memory before its view runs: past the limit,
            # end the request as if the client had gone.
            try:
                return await counted_receive()
            except _TooLarge:
                return {"type": "http.disconnect"}

        await self.app(scope, cut_receive, send)


class _TooLarge(Exception):
    """The body passed its limit."""


def _content_length(scope: Scope) -> int | None:
    """The declared body length, or None without a usable Content-Length."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text = value.decode("latin-1")
            return int(text) if text.isascii() and text.isdigit() else None
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands back the messages already read, then asks the server."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _refuse(send: Send, limit: int) -> None:
    """Send the 413 envelope."""
    body = json.dumps(
        error_body(
            errors.PAYLOAD_TOO_LARGE, f"Payload too large: the body is limited to {limit} bytes"
        ),
        separators=(",", ":"),
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": errors.PAYLOAD_TOO_LARGE.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
