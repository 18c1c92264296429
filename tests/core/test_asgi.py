"""Under ASGI a body over its limit is refused before Django reads it into memory."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.urls import reverse

from core.asgi import BodyLimitMiddleware, body_limit

CHUNK = 1024


class Downstream:
    """Stands for Django's ASGI handler: reads the whole body, then answers 200."""

    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


class Client:
    """A server's side of one request: the body sent in chunks, what came back, what was read."""

    def __init__(self, body: bytes, declared: int | None, headers: list | None = None) -> None:
        self.extra_headers = headers or []
        self.chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)] or [b""]
        self.declared = declared
        self.read = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.read >= len(self.chunks):
            return {"type": "http.disconnect"}
        chunk = self.chunks[self.read]
        self.read += 1
        return {"type": "http.request", "body": chunk, "more_body": self.read < len(self.chunks)}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def scope(self, path: str, method: str = "POST") -> dict[str, Any]:
        headers = [(b"content-type", b"application/json")]
        if self.declared is not None:
            headers.append((b"content-length", str(self.declared).encode()))
        headers += self.extra_headers
        return {"type": "http", "method": method, "path": path, "headers": headers}

    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")


def call(
    path: str,
    body: bytes,
    declared: int | None,
    method: str = "POST",
    headers: list | None = None,
) -> tuple[Client, Downstream]:
    client, downstream = Client(body, declared, headers), Downstream()
    scope = client.scope(path, method)
    asyncio.run(BodyLimitMiddleware(downstream)(scope, client.receive, client.send))
    return client, downstream


def test_a_declared_20_mb_body_to_the_token_endpoint_is_413_unread():
    client, downstream = call(
        "/v1/auth/token", b"x" * (20 * 1024 * 1024), declared=20 * 1024 * 1024
    )

    assert client.status() == 413
    assert client.read == 0
    assert downstream.called is False
    body = json.loads(client.sent[1]["body"])
    assert body == {
        "status": False,
        "error": {"code": 1006, "message": "Payload too large: the body is limited to 4096 bytes"},
    }


def test_a_chunked_body_to_the_token_endpoint_is_read_no_further_than_the_limit():
    client, downstream = call("/v1/auth/token", b"x" * (20 * 1024 * 1024), declared=None)

    assert client.status() == 413
    assert client.read * CHUNK <= 4096 + CHUNK
    assert downstream.called is False


@pytest.mark.parametrize("declared", [None, 100])
def test_a_small_body_reaches_the_application_whole(declared):
    body = b'{"email": "ada@example.com", "password": "secret"}' + b" " * 49

    client, downstream = call("/v1/auth/token", body, declared=declared)

    assert client.status() == 200
    assert downstream.body == body


def test_a_chunked_upload_past_the_file_limit_is_cut_off(settings):
    settings.BULK_TASK_MAX_FILE_SIZE = 10 * CHUNK

    client, downstream = call(
        "/v1/organizations/acme/bulk-tasks",
        b"x" * (200 * CHUNK),
        declared=None,
        headers=[(b"authorization", b"Bearer x.y.z")],
    )

    # Django's handler sees the client go, as it would on a dropped connection.
    assert downstream.called is True
    assert client.sent == []
    assert client.read * CHUNK <= 10 * CHUNK + 64 * 1024 + CHUNK


UPLOAD_LIMIT = 100 * 1024 * 1024 + 64 * 1024
FORM_LIMIT = 2621440


@pytest.mark.parametrize(
    ("method", "path", "limit"),
    [
        ("POST", "/v1/organizations/acme/bulk-tasks", UPLOAD_LIMIT),
        ("POST", "/v1/organizations/acme/bulk-tasks/", UPLOAD_LIMIT),
        ("POST", reverse("admin:bulktasks_bulktask_upload"), UPLOAD_LIMIT),
        # Anything else holds no file: a form or JSON body at most.
        ("GET", "/v1/organizations/acme/bulk-tasks", FORM_LIMIT),
        ("PUT", "/v1/organizations/acme/bulk-tasks", FORM_LIMIT),
        ("POST", "/v1/organizations/acme/bulk-tasks/abc", FORM_LIMIT),
        ("POST", "/v1/organizations/acme/bulk-tasks/abc/lines", FORM_LIMIT),
        ("POST", "/v1/organizations/acme/bulk-tasks\n", FORM_LIMIT),
        ("POST", "/admin/login/", FORM_LIMIT),
        ("POST", "/admin/users/user/1/change/", FORM_LIMIT),
        ("POST", "/v1/nowhere", FORM_LIMIT),
        ("POST", "/healthz", FORM_LIMIT),
        ("POST", "/v1/auth/token", 4096),
    ],
)
def test_only_an_upload_may_send_an_upload_sized_body(method, path, limit):
    credentials = [(b"authorization", b"Bearer x.y.z"), (b"cookie", b"a=1; sessionid=abc")]

    assert body_limit(method, path, credentials) == limit


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/organizations/acme/bulk-tasks", []),
        ("/v1/organizations/acme/bulk-tasks", [(b"authorization", b"Basic eDp5")]),
        ("/v1/organizations/acme/bulk-tasks", [(b"cookie", b"sessionid=abc")]),
        (reverse("admin:bulktasks_bulktask_upload"), []),
        (reverse("admin:bulktasks_bulktask_upload"), [(b"cookie", b"csrftoken=abc")]),
        (reverse("admin:bulktasks_bulktask_upload"), [(b"authorization", b"Bearer x")]),
    ],
)
def test_an_upload_without_credentials_is_held_to_the_form_limit(path, headers):
    # Django's ASGI handler spools the whole body to disk before any view checks
    # who is asking: anonymous, it must not get to write 100 MB.
    assert body_limit("POST", path, headers) == FORM_LIMIT


def test_a_declared_50_mb_anonymous_upload_is_413_unread():
    client, downstream = call(
        "/v1/organizations/acme/bulk-tasks", b"x" * CHUNK, declared=50 * 1024 * 1024
    )

    assert client.status() == 413
    assert client.read == 0
    assert downstream.called is False


def test_a_declared_50_mb_body_anywhere_but_an_upload_is_413_unread():
    size = 50 * 1024 * 1024

    client, downstream = call("/admin/login/", b"x" * CHUNK, declared=size)

    assert client.status() == 413
    assert client.read == 0
    assert downstream.called is False


def test_a_declared_50_mb_upload_with_a_token_reaches_the_application():
    client, downstream = call(
        "/v1/organizations/acme/bulk-tasks",
        b"x" * CHUNK,
        declared=50 * 1024 * 1024,
        headers=[(b"authorization", b"Bearer x.y.z")],
    )

    assert downstream.called is True
    assert client.status() == 200


def test_a_chunked_body_anywhere_but_an_upload_is_cut_off_at_the_form_limit():
    client, downstream = call("/admin/login/", b"x" * (2 * FORM_LIMIT), declared=None)

    # Django's handler sees the client go, as it would on a dropped connection.
    assert downstream.called is True

    assert client.sent == []
    assert client.read * CHUNK <= FORM_LIMIT + CHUNK


def test_djangos_asgi_handler_spools_a_large_body_to_disk_not_memory():
    # FILE_UPLOAD_MAX_MEMORY_SIZE = 0 meant "never roll over": a whole body in memory.
    client = Client(b"x" * (1024 * CHUNK), declared=None)

    body = asyncio.run(ASGIHandler().read_body(client.receive))

    assert body._rolled is True
    body.close()
