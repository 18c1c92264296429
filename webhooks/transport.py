"""One webhook request, sent to an address the SSRF guard checked, bounded in time and size.

``http.client`` is used directly: it follows no redirect, reads no proxy from
the environment, and lets the connection be opened to the checked address
while the ``Host`` header and the TLS server name (SNI, and the certificate
check) stay the URL's host name.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from webhooks.ssrf import UrlInvalid, UrlRefused, url_check

USER_AGENT = "BulkTasksService-Webhooks/1.0"
EXCERPT_LENGTH = 500


@dataclass(frozen=True)
class Result:
    """How one request went."""

    outcome: str  # a WebhookAttempt.Outcome value
    duration_ms: int
    status_code: int | None = None
    address: str = ""
    error: str = ""
    response_excerpt: str = ""
    retry_after: int | None = None

    @property
    def succeeded(self) -> bool:
        """A 2xx answer, as Standard Webhooks defines success."""
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to a given address; ``Host`` stays the URL's."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to a given address; SNI, the certificate check and ``Host`` stay the URL's host name."""

    def __init__(
        self, host: str, port: int, *, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


# Addresses of one host tried per attempt; the attempt's lease covers this many connects.
MAX_ADDRESSES_TRIED = 2


def post(*, url: str, headers: dict[str, str], body: bytes) -> Result:
    """POST the body to the URL, checked again here, and report how it went; never raises."""
    started = time.monotonic()

    def result(outcome: str, **fields: Any) -> Result:
        elapsed = int((time.monotonic() - started) * 1000)
        return Result(outcome=outcome, duration_ms=elapsed, **fields)

    try:
        target = url_check(url)
    except (UrlInvalid, UrlRefused) as exc:
        return result("refused", error=_trim(f"URL refused: {exc}"))
    connect_timeout = float(settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS)
    connection: http.client.HTTPConnection | None = None
    address = ""
    errors: list[str] = []
    # Every address passed the check; try the first few in the resolver's order.
    # Only a few: a host resolving to many unreachable addresses must not hold a
    # worker (and outlast the attempt's lease, see delivery.lease_seconds) for long.
    for address in target.addresses[:MAX_ADDRESSES_TRIED]:
        connection = _connection(target.scheme, target.host, target.port, address, connect_timeout)
        try:
            connection.connect()
            break
        except TimeoutError:
            errors.append(f"{address}: connect timed out after {connect_timeout:g} s")
        except OSError as exc:
            errors.append(f"{address}: {_describe(exc)}")
        connection.close()
        connection = None
    if connection is None:
        timed_out = all("timed out" in error for error in errors)
        return result("timeout" if timed_out else "connectionError", error=_trim("; ".join(errors)))
    return _exchange(connection, target.path, headers, body, address, result)


def _exchange(
    connection: http.client.HTTPConnection,
    path: str,
    headers: dict[str, str],
    body: bytes,
    address: str,
    result: Any,
) -> Result:
    """Send the request on an open connection and read a bounded answer, within the time limit."""
    limit = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    sock = connection.sock
    assert sock is not None
    sock.settimeout(limit)
    expired = threading.Event()

    def cut_off() -> None:
        # A receiver trickling its answer a byte at a time defeats a per-read
        # timeout; closing the socket under the reader ends the attempt on time.
        expired.set()
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    watchdog = threading.Timer(limit, cut_off)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                **headers,
            },
        )
        response = connection.getresponse()
        maximum = int(settings.WEBHOOK_MAX_RESPONSE_BYTES)
        content = response.read(maximum + 1)
        if expired.is_set():
            # Cut off mid-answer: the read ended early without an error.
            return result("timeout", address=address, error=f"no full answer within {limit:g} s")
        status = response.status
        retry_after = response.getheader("Retry-After")
        cut = len(content) > maximum
        excerpt = content[:EXCERPT_LENGTH].decode("utf-8", "replace")
        error = ""
        if 300 <= status < 400:
            error = f"redirect not followed (Location: {response.getheader('Location', '')})"
        elif not 200 <= status < 300:
            error = f"answered {status} {response.reason}"
        if cut:
            error = f"{error}; answer cut at {maximum} bytes".lstrip("; ")
        return result(
            "succeeded" if 200 <= status < 300 else "httpError",
            status_code=status,
            address=address,
            error=_trim(error),
            response_excerpt=_trim(excerpt),
            retry_after=_seconds(retry_after),
        )
    except TimeoutError:
        return result("timeout", address=address, error=f"no answer within {limit:g} s")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if expired.is_set():
            return result("timeout", address=address, error=f"no full answer within {limit:g} s")
        return result("connectionError", address=address, error=_trim(_describe(exc)))
    finally:
        watchdog.cancel()
        connection.close()


def _connection(
    scheme: str, host: str, port: int, address: str, timeout: float
) -> http.client.HTTPConnection:
    if scheme == "https":
        return _PinnedHTTPSConnection(
            host, port, address=address, timeout=timeout, context=ssl.create_default_context()
        )
    return _PinnedHTTPConnection(host, port, address=address, timeout=timeout)


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}" if text != exc.__class__.__name__ else text


def _seconds(value: str | None) -> int | None:
    """A Retry-After given in seconds; the HTTP-date form is ignored (the backoff applies)."""
    if value and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _trim(text: str) -> str:
    return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1] + "…"
