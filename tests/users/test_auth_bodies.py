"""The token endpoints read a small JSON body, and refuse a large one before reading it."""

from __future__ import annotations

import json

import pytest
from rest_framework.settings import api_settings

from core.parsers import JSONParser
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

AUTH_URLS = ["/v1/auth/token", "/v1/auth/token/refresh", "/v1/auth/logout"]
BOUNDARY = "b0undary"


def multipart_body(size: int) -> bytes:
    """A multipart body with one file part of ``size`` bytes, as a browser would send it."""
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="email"\r\n\r\nada@example.com\r\n'
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + b"x" * size + f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.fixture
def upload_temp_dir(settings, tmp_path):
    """Where Django would stream an uploaded file; the tests check it stays empty."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    return tmp_path


@pytest.mark.parametrize("url", AUTH_URLS)
def test_a_20_mb_multipart_body_is_refused_unread_and_leaves_no_file(
    api_client, upload_temp_dir, url
):
    response = api_client.post(
        url,
        data=multipart_body(20 * 1024 * 1024),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )

    assert response.status_code == 413
    assert response.json() == {
        "status": False,
        "error": {"code": 1006, "message": "Payload too large: the body is limited to 4096 bytes"},
    }
    # Not a byte of the body was read, so nothing could be written anywhere.
    assert response.wsgi_request.META["wsgi.input"].read_started is False
    assert list(upload_temp_dir.iterdir()) == []


def test_a_json_body_over_the_limit_is_413(api_client, settings):
    settings.AUTH_MAX_BODY_SIZE = 100
    body = json.dumps({"email": "ada@example.com", "password": "p" * 100})

    response = api_client.post("/v1/auth/token", data=body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == 1006


def test_a_json_body_within_the_limit_logs_in(api_client):
    UserFactory(email="ada@example.com")
    body = json.dumps({"email": "ada@example.com", "password": DEFAULT_PASSWORD})

    response = api_client.post("/v1/auth/token", data=body, content_type="application/json")

    assert response.status_code == 200


def test_a_small_multipart_body_is_415_and_leaves_no_file(api_client, upload_temp_dir):
    response = api_client.post(
        "/v1/auth/token",
        data=multipart_body(1000),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )

    assert response.status_code == 415
    assert response.json()["error"]["code"] == 1004
    assert list(upload_temp_dir.iterdir()) == []


def test_a_body_without_a_declared_length_is_not_read(api_client, upload_temp_dir):
    # A chunked request reaches Django without CONTENT_LENGTH: it reads nothing of it.
    response = api_client.post(
        "/v1/auth/token",
        data=multipart_body(20 * 1024 * 1024),
        content_type="application/json",
        CONTENT_LENGTH="",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1002
    assert response.wsgi_request.META["wsgi.input"].read_started is False
    assert list(upload_temp_dir.iterdir()) == []


@pytest.mark.parametrize("url", AUTH_URLS)
def test_json_nested_too_deep_is_a_malformed_body_not_a_500(api_client, url, caplog):
    # json.loads raises RecursionError, not ValueError, a few thousand levels down.
    body = "[" * 2000 + "]" * 2000

    response = api_client.post(url, data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1003
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


def test_every_json_endpoint_parses_with_the_parser_that_refuses_deep_nesting():
    assert [JSONParser] == api_settings.DEFAULT_PARSER_CLASSES


@pytest.mark.parametrize("url", AUTH_URLS)
def test_a_chunked_body_is_411_under_wsgi(api_client, url):
    # A WSGI server passes a chunked body on without a length; Django would read it as
    # empty and the client would hear that fields it did send are missing.
    body = json.dumps({"email": "ada@example.com", "password": "x", "refresh": "x"})

    response = api_client.post(
        url,
        data=body,
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
    )

    assert response.status_code == 411
    assert response.json()["error"] == {
        "code": 1010,
        "message": "Length required: send the body with a Content-Length header",
    }
