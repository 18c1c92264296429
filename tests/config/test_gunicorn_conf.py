"""gunicorn.conf.py: requests gunicorn refuses before Django get the envelope, not HTML."""

from __future__ import annotations

import json
import os
import runpy
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gunicorn import util

ROOT = Path(__file__).resolve().parent.parent.parent


def parse(raw: bytes) -> tuple[str, dict[str, str], dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *header_lines = head.decode("ascii").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return status, headers, json.loads(body)


@pytest.fixture
def conf(monkeypatch):
    """The settings file's globals, its patch of gunicorn undone afterwards."""
    monkeypatch.setattr(util, "write_error", util.write_error)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


@pytest.mark.parametrize(
    ("status_int", "reason", "expected_status", "expected_code"),
    [
        (400, "Bad Request", "HTTP/1.1 400 Bad Request", 1003),
        (431, "Request Header Fields Too Large", "HTTP/1.1 400 Bad Request", 1003),
        (500, "Internal Server Error", "HTTP/1.1 500 Internal Server Error", 5000),
    ],
)
def test_gunicorn_errors_are_written_as_the_envelope(
    conf, status_int, reason, expected_status, expected_code
):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        util.write_error(ours, status_int, reason, "Request Line is too large (5049 > 4094)")
        status, headers, body = parse(theirs.recv(65536))

    assert util.write_error is conf["write_json_error"]
    assert status == expected_status
    assert headers["Content-Type"] == "application/json"
    assert headers["Connection"] == "close"
    assert body["status"] is False
    assert body["error"]["code"] == expected_code


def test_a_long_detail_is_cut(conf):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        util.write_error(ours, 400, "Bad Request", "Invalid Request Line '" + "x" * 5000 + "'")
        _, _, body = parse(theirs.recv(65536))

    assert len(body["error"]["message"]) == conf["MESSAGE_MAX_LENGTH"]


def test_a_running_server_reads_the_file_and_answers_an_oversized_request_line_in_json():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    server = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            f"--bind=127.0.0.1:{port}",
            "--workers=1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        raw = b""
        deadline = time.monotonic() + 30
        while not raw and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                    path = "/v1/organizations/acme/bulk-tasks?action=" + "a" * 5000
                    client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                    raw = client.recv(65536)
            except ConnectionRefusedError:
                time.sleep(0.2)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    status, headers, body = parse(raw)
    assert status == "HTTP/1.1 400 Bad Request"
    assert headers["Content-Type"] == "application/json"
    assert body["error"]["code"] == 1003
    assert "Request Line is too large" in body["error"]["message"]
