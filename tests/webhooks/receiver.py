"""A real HTTP receiver on the loopback interface, in a thread, for the webhook tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    """What the receiver answers: a status, headers, a body, after an optional pause."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    # Send the body a byte at a time, this many seconds apart (a trickling receiver).
    trickle: float = 0.0


@dataclass
class Receiver:
    """The receiver's address and what it got; ``answers`` are used in turn, the last one repeats."""

    url: str
    answers: list[Answer]
    received: list[Received] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """The requests once there are at least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.received)


@contextmanager
def receiver(*answers: Answer, path: str = "/hooks") -> Iterator[Receiver]:
    """Serve on 127.0.0.1 (a free port) until the block ends."""
    state = Receiver(url="", answers=list(answers) or [Answer()])
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with lock:
                index = len(state.received)
                state.received.append(
                    Received(
                        path=self.path,
                        headers={key.lower(): value for key, value in self.headers.items()},
                        body=body,
                    )
                )
                answer = state.answers[min(index, len(state.answers) - 1)]
            if answer.delay:
                time.sleep(answer.delay)
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if answer.trickle:
                    for byte in answer.body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(answer.trickle)
                else:
                    self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender stopped reading: what a bounded client does

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
