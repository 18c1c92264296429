"""Every response carries X-Request-ID and leaves one access log line; unread bodies are drained."""

from __future__ import annotations

import logging
import re

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from core.middleware import DrainRequestBodyMiddleware
from tests.conftest import bearer
from tests.factories import DEFAULT_PASSWORD, BulkTaskFactory, UserFactory

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


def test_a_newline_in_the_path_is_escaped_in_the_access_message(client, json_logs):
    client.get("/v1/no-such-route%0AFAKE INFO line")

    [line] = access_lines(json_logs())
    assert line["message"].startswith("GET /v1/no-such-route\\nFAKE INFO line 404 ")
    assert line["path"] == "/v1/no-such-route\nFAKE INFO line"


@pytest.mark.urls("tests.core.failing_urls")
def test_log_lines_written_while_serving_carry_the_request_id(json_logs):
    # Django logs a 5xx ("django.request") after the last middleware has returned.
    Client(raise_request_exception=False).get("/v1/bug", HTTP_X_REQUEST_ID="rid-django")
    logging.getLogger("tests.after").info("between requests")

    lines = json_logs()
    error = next(line for line in lines if line["logger"] == "django.request")
    after = next(line for line in lines if line["logger"] == "tests.after")
    assert error["request_id"] == "rid-django"
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


BODY = b"email,firstName,lastName\n" + b"person@example.com,Ada,Lovelace\n" * 2000


def unread(request: HttpRequest) -> int:
    """Bytes of the body still waiting in the request's stream."""
    stream = request._stream  # type: ignore[attr-defined]
    return stream.limit - stream._pos


def answer_without_reading(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=503)


def test_a_body_the_view_never_read_is_read_before_the_answer_goes_out(rf: RequestFactory):
    request = rf.post("/v1/anything", data=BODY, content_type="text/csv")
    assert unread(request) == len(BODY)

    response = DrainRequestBodyMiddleware(answer_without_reading)(request)

    assert response.status_code == 503
    assert unread(request) == 0


def test_the_rest_of_a_body_read_half_way_is_read(rf: RequestFactory):
    def read_some(request: HttpRequest) -> HttpResponse:
        request.read(100)
        return HttpResponse(status=413)

    request = rf.post("/v1/anything", data=BODY, content_type="text/csv")

    DrainRequestBodyMiddleware(read_some)(request)

    assert unread(request) == 0


def test_a_body_over_the_drain_limit_is_left_alone(rf: RequestFactory, monkeypatch):
    monkeypatch.setattr("core.middleware.DRAIN_MAX_BYTES", 64 * 1024 + 10)
    request = rf.post("/v1/anything", data=b"x" * (64 * 1024 + 11), content_type="text/csv")

    DrainRequestBodyMiddleware(answer_without_reading)(request)

    assert unread(request) == 64 * 1024 + 11


def test_a_body_the_view_read_whole_costs_nothing_more(rf: RequestFactory):
    def read_all(request: HttpRequest) -> HttpResponse:
        assert request.body == BODY
        return HttpResponse(status=201)

    request = rf.post("/v1/anything", data=BODY, content_type="text/csv")

    assert DrainRequestBodyMiddleware(read_all)(request).status_code == 201


@pytest.mark.django_db
def test_an_upload_refused_before_its_body_is_read_has_its_body_read(client):
    user = UserFactory()  # a member of no organization: refused with 404 before the body is read

    response = client.post(
        "/v1/organizations/acme/bulk-tasks",
        data=BODY,
        content_type="text/csv",
        HTTP_AUTHORIZATION=bearer(user),
    )

    assert response.status_code == 404
    assert unread(response.wsgi_request) == 0


# --- Cache-Control: no-store on the API ------------------------------------------------------


def test_token_responses_are_never_stored(api_client, db):
    UserFactory(email="ada@example.com")
    login = api_client.post(
        "/v1/auth/token",
        {"email": "ada@example.com", "password": DEFAULT_PASSWORD},
        format="json",
    )
    refresh = api_client.post(
        "/v1/auth/token/refresh", {"refresh": login.json()["data"]["refresh"]}, format="json"
    )
    logout = api_client.post(
        "/v1/auth/logout", {"refresh": refresh.json()["data"]["refresh"]}, format="json"
    )

    for response in (login, refresh, logout):
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
        assert response["Pragma"] == "no-cache"


def test_authenticated_api_responses_are_never_stored(reader_client, organization):
    task = BulkTaskFactory(organization=organization)
    base = "/v1/organizations/acme/bulk-tasks"

    responses = [
        reader_client.get(base),
        reader_client.get(f"{base}/{task.id}"),
        reader_client.get(f"{base}/{task.id}/lines"),
        reader_client.get(f"{base}/{'0' * 24}"),
    ]

    assert [response.status_code for response in responses] == [403, 200, 200, 404]
    assert all(response["Cache-Control"] == "no-store" for response in responses)


def test_errors_under_the_api_are_not_stored_either(client, db):
    responses = [client.get("/v1/organizations/acme/bulk-tasks"), client.get("/v1/nowhere")]

    assert [response.status_code for response in responses] == [401, 404]
    assert all(response["Cache-Control"] == "no-store" for response in responses)


@pytest.mark.parametrize("path", ["/v1/schema/", "/v1/docs/", "/healthz"])
def test_public_documents_and_probes_may_be_cached(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
