"""The 500 hook for errors raised outside the API views: a coded 503 when a service is away."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.urls("tests.core.failing_urls")


@pytest.fixture
def client() -> Client:
    """A client that returns the error page instead of re-raising the view's exception."""
    return Client(raise_request_exception=False)


@pytest.mark.parametrize("path", ["/v1/database-away", "/v1/broker-away"])
def test_a_service_away_outside_drf_answers_the_503_envelope(client, path):
    response = client.get(path)

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": False,
        "error": {"code": 5003, "message": "Service temporarily unavailable"},
    }
    assert response["Retry-After"] == "5"


def test_a_bug_outside_drf_still_answers_the_500_envelope(client):
    response = client.get("/v1/bug")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == 5000
    assert "Retry-After" not in response


def test_the_database_away_outside_the_api_answers_a_plain_503_page(client):
    response = client.get("/admin/database-away")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")
    assert b"Service temporarily unavailable" in response.content


def test_a_bug_outside_the_api_keeps_the_stock_500_page(client):
    response = client.get("/admin/bug")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
