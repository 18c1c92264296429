"""Gunicorn settings, read by ``gunicorn config.wsgi`` run from the project's folder.

Gunicorn refuses some requests before Django sees them: a request line over
4 KB, too many or too large headers, a malformed request line or header. It
answers those with an HTML page; here they get the API's error envelope
instead, 400 with code 1003 (Malformed request), as any other request that
cannot be parsed. Its own 500 (a crash outside Django) gets code 5000.
"""

from __future__ import annotations

import json

from gunicorn import util

# Mirrors core/errors.py, which cannot be imported before the server has loaded Django.
MALFORMED_REQUEST = (1003, 400, "Bad Request", "Malformed request")
INTERNAL_ERROR = (5000, 500, "Internal Server Error", "Internal server error")
MESSAGE_MAX_LENGTH = 200


def write_json_error(sock: object, status_int: int, reason: str, mesg: str) -> None:
    """Write gunicorn's own error response as the envelope instead of an HTML page."""
    code, status, reason, message = INTERNAL_ERROR if status_int >= 500 else MALFORMED_REQUEST
    if mesg and status < 500:
        message = f"{message}: {mesg}"[:MESSAGE_MAX_LENGTH]
    body = json.dumps(
        {"status": False, "error": {"code": code, "message": message}}, separators=(",", ":")
    ).encode("ascii")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("ascii")
    util.write_nonblock(sock, head + body)


util.write_error = write_json_error
