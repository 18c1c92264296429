"""The probes: /healthz answers while the process lives, /readyz while its services answer.

Failures are real ones: a database URL or a broker URL pointing at a closed
port, a server that accepts and never answers, a broker folder that is gone.
They run in a child process, which reads its configuration from the
environment exactly as a deployed process would.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests import workers
from tests.processes import python_run

READYZ = """
import json, django
django.setup()
from django.test import Client
BEFORE
response = Client().get("/readyz")
print(json.dumps({
    "status": response.status_code,
    "body": response.json(),
    "retryAfter": response.get("Retry-After"),
    "requestId": response.get("X-Request-ID"),
}))
"""


def closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A local port that accepts connections and never says a word, like a hung broker."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def readyz_in_child(before: str = "", **env: str) -> dict:
    """GET /readyz in a fresh process configured by ``env``; its status, body and headers."""
    # Without CELERY_BROKER_URL the child uses the file-system queue of the test settings.
    child_env = {key: value for key, value in os.environ.items() if key != "CELERY_BROKER_URL"}
    child_env.update(DJANGO_SETTINGS_MODULE="config.settings.test", **env)
    result = python_run(["-c", READYZ.replace("BEFORE", before)], child_env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- /healthz ----------------------------------------------------------------------------------


def test_healthz_answers_without_a_database(client):
    # No db fixture: any query would fail the request.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": True, "data": {"status": "ok"}}


def test_healthz_needs_no_token_and_ignores_a_bad_one(client):
    response = client.get("/healthz", HTTP_AUTHORIZATION="Bearer not-a-token")

    assert response.status_code == 200


@pytest.mark.parametrize("accept", ["text/plain", "text/html", "*/*", "application/xml"])
def test_healthz_answers_json_whatever_the_probe_accepts(client, accept: str):
    response = client.get("/healthz", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response.json()["data"]["status"] == "ok"


def test_healthz_answers_head(client):
    assert client.head("/healthz").status_code == 200


# --- /readyz -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_reports_each_check_when_everything_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "ready"
    assert set(data["checks"]) == {"database", "broker"}
    for check in data["checks"].values():
        assert check["status"] == "ok"
        assert check["durationMs"] >= 0


@pytest.mark.django_db
def test_readyz_needs_no_token(client):
    response = client.get("/readyz", HTTP_AUTHORIZATION="Bearer not-a-token")

    assert response.status_code == 200


def test_readyz_is_503_naming_the_database_when_it_cannot_be_reached():
    port = closed_port()

    answer = readyz_in_child(DATABASE_URL=f"postgres://bulktasks@127.0.0.1:{port}/bulktasks")

    assert answer["status"] == 503
    assert answer["body"] == {
        "status": False,
        "error": {"code": 5003, "message": "Not ready; failed checks: database"},
    }
    assert answer["retryAfter"] == "5"
    assert answer["requestId"]


@pytest.mark.django_db
def test_readyz_is_503_naming_the_broker_when_it_cannot_be_reached():
    port = closed_port()

    answer = readyz_in_child(
        DATABASE_URL=workers.test_database_url(), CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0"
    )

    assert answer["status"] == 503
    assert answer["body"]["error"] == {
        "code": 5003,
        "message": "Not ready; failed checks: broker",
    }


@pytest.mark.django_db
def test_readyz_gives_up_on_a_silent_broker_after_the_health_check_timeout(silent_server):
    started = time.monotonic()

    answer = readyz_in_child(
        DATABASE_URL=workers.test_database_url(),
        CELERY_BROKER_URL=f"redis://127.0.0.1:{silent_server}/0",
        HEALTH_CHECK_TIMEOUT="1",
    )

    assert answer["status"] == 503
    assert answer["body"]["error"]["message"] == "Not ready; failed checks: broker"
    # The child's own start-up takes a second or two; a hang would take minutes.
    assert time.monotonic() - started < 20


@pytest.mark.django_db
def test_readyz_is_503_when_the_file_system_queue_folder_is_gone(tmp_path):
    folder = tmp_path / "broker"
    remove = (
        "import shutil; from config.celery import app; "
        f"app.conf.broker_transport_options; shutil.rmtree({str(folder)!r})"
    )

    answer = readyz_in_child(
        remove, DATABASE_URL=workers.test_database_url(), CELERY_BROKER_FOLDER=str(folder)
    )

    assert not folder.exists()
    assert answer["status"] == 503
    assert answer["body"]["error"]["message"] == "Not ready; failed checks: broker"


@pytest.mark.django_db
def test_readyz_is_ready_on_a_file_system_queue_in_a_fresh_folder(tmp_path):
    answer = readyz_in_child(
        DATABASE_URL=workers.test_database_url(), CELERY_BROKER_FOLDER=str(tmp_path / "broker")
    )

    assert answer["status"] == 200
    assert answer["body"]["data"]["checks"]["broker"]["status"] == "ok"
