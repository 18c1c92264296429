"""Every response carries X-Request-ID, and every request leaves one access log line."""

from __future__ import annotations

import logging
import re

import pytest

from tests.factories import BulkTaskFactory

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def access_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "core.access"]


def test_a_sane_incoming_request_id_is_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-6b0b-4d2a")

    assert response["X-Request-ID"] == "lb-6b0b-4d2a"


@pytest.mark.parametrize(
    "incoming",
    ["", "x" * 129, "two words", "<script>", "a\tb"],
    ids=["empty", "too-long", "space", "markup", "control-character"],
)
def test_an_odd_incoming_request_id_is_replaced_by_a_fresh_one(client, incoming: str):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)

    assert HEX_ID.match(response["X-Request-ID"])


def test_without_an_incoming_id_each_request_gets_its_own(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]

    assert HEX_ID.match(first)
    assert HEX_ID.match(second)
    assert first != second


def test_error_responses_carry_the_request_id_too(client, monkeypatch):
    def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("core.views.health_readiness_checks", broken)

    not_found = client.get("/v1/no-such-route", HTTP_X_REQUEST_ID="rid-404")
    no_token = client.get("/v1/organizations/acme/bulk-tasks", HTTP_X_REQUEST_ID="rid-401")
    crashed = client.get("/readyz", HTTP_X_REQUEST_ID="rid-500")
    bad_host = client.get(
        "/v1/no-such-route", HTTP_HOST="evil.example", HTTP_X_REQUEST_ID="rid-400"
    )

    assert [r.status_code for r in (not_found, no_token, crashed, bad_host)] == [404, 401, 500, 400]
    assert [r["X-Request-ID"] for r in (not_found, no_token, crashed, bad_host)] == [
        "rid-404",
        "rid-401",
        "rid-500",
        "rid-400",
    ]
    assert crashed.json() == {
        "status": False,
        "error": {"code": 5000, "message": "Internal server error"},
    }


def test_one_access_line_per_request_with_method_path_status_and_duration(client, json_logs):
    response = client.get("/v1/no-such-route", HTTP_X_REQUEST_ID="rid-access")

    [line] = access_lines(json_logs())
    assert response.status_code == 404
    assert line["request_id"] == "rid-access"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/v1/no-such-route", 404)
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    assert line["user_id"] is None
    assert line["level"] == "INFO"


def test_log_lines_written_while_serving_carry_the_request_id(client, json_logs):
    client.get("/v1/no-such-route", HTTP_X_REQUEST_ID="rid-django")
    logging.getLogger("tests.after").info("between requests")

    lines = json_logs()
    warning = next(line for line in lines if line["logger"] == "django.request")
    after = next(line for line in lines if line["logger"] == "tests.after")
    assert warning["request_id"] == "rid-django"
    assert after["request_id"] is None


def test_the_access_line_names_the_authenticated_user(
    reader_client, reader, organization, json_logs
):
    task = BulkTaskFactory(organization=organization)

    response = reader_client.get(f"/v1/organizations/acme/bulk-tasks/{task.pk}")

    [line] = access_lines(json_logs())
    assert response.status_code == 200
    assert line["user_id"] == str(reader.pk)
    assert line["request_id"] == response["X-Request-ID"]


def test_the_admin_session_user_is_named_once_the_admin_has_loaded_it(
    staff_client, staff, json_logs
):
    response = staff_client.get("/admin/")

    [line] = access_lines(json_logs())
    assert response.status_code == 200
    assert line["user_id"] == str(staff.pk)


def test_no_access_line_when_the_access_logger_is_quiet(client, json_logs):
    access = logging.getLogger("core.access")
    access.setLevel(logging.WARNING)
    try:
        response = client.get("/healthz")
    finally:
        access.setLevel(logging.NOTSET)

    assert response.status_code == 200
    assert access_lines(json_logs()) == []
