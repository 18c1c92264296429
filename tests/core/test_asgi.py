"""Under ASGI a body over its limit is refused before Django reads it into memory."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from core.asgi import BodyLimitMiddleware

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

    def __init__(self, body: bytes, declared: int | None) -> None:
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

    def scope(self, path: str) -> dict[str, Any]:
        headers = [(b"content-type", b"application/json")]
        if self.declared is not None:
            headers.append((b"content-length", str(self.declared).encode()))
        return {"type": "http", "method": "POST", "path": path, "headers": headers}

    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")


def call(path: str, body: bytes, declared: int | None) -> tuple[Client, Downstream]:
    client, downstream = Client(body, declared), Downstream()
    asyncio.run(BodyLimitMiddleware(downstream)(client.scope(path), client.receive, client.send))
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
        "/v1/organizations/acme/bulk-tasks", b"x" * (200 * CHUNK), declared=None
    )

    # Django's handler sees the client go, as it would on a dropped connection.
    assert downstream.called is True
    assert client.sent == []
    assert client.read * CHUNK <= 10 * CHUNK + 64 * 1024 + CHUNK
