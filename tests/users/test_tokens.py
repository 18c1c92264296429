"""POST /v1/auth/token and /v1/auth/token/refresh."""

from __future__ import annotations

import pytest
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/v1/auth/token"
REFRESH_URL = "/v1/auth/token/refresh"


def test_email_and_password_give_an_access_and_a_refresh_token(api_client):
    user = UserFactory(email="ada@example.com")

    response = api_client.post(
        TOKEN_URL, {"email": "ada@example.com", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200
    data = response.json()["data"]
    assert response.json()["status"] is True
    assert AccessToken(data["access"])["user_id"] == user.id
    assert RefreshToken(data["refresh"])["user_id"] == user.id


def test_the_email_is_matched_case_insensitively(api_client):
    UserFactory(email="ada@example.com")

    response = api_client.post(
        TOKEN_URL, {"email": " Ada@Example.COM", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200


def test_a_form_encoded_login_works_too(api_client):
    UserFactory(email="ada@example.com")

    response = api_client.post(
        TOKEN_URL, {"email": "ada@example.com", "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("email", "password"),
    [("ada@example.com", "wrong"), ("nobody@example.com", DEFAULT_PASSWORD)],
)
def test_bad_credentials_are_401_4001(api_client, email, password):
    UserFactory(email="ada@example.com")

    response = api_client.post(TOKEN_URL, {"email": email, "password": password}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 4001
    assert response.json()["status"] is False


def test_an_inactive_account_cannot_log_in(api_client):
    UserFactory(email="ada@example.com", is_active=False)

    response = api_client.post(
        TOKEN_URL, {"email": "ada@example.com", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 4001


def test_missing_fields_are_400_naming_them(api_client):
    response = api_client.post(TOKEN_URL, {}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 1002
    assert "email" in error["message"]
    assert "password" in error["message"]


def test_a_malformed_json_body_is_400(api_client):
    response = api_client.post(TOKEN_URL, data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1003


def test_an_unsupported_content_type_is_415(api_client):
    response = api_client.post(TOKEN_URL, data="<xml/>", content_type="application/xml")

    assert response.status_code == 415
    assert response.json()["error"]["code"] == 1004


def test_get_on_the_token_endpoint_is_405(api_client):
    response = api_client.get(TOKEN_URL)

    assert response.status_code == 405
    assert response.json()["error"]["code"] == 3003


def test_a_refresh_token_gives_a_new_access_token(api_client):
    user = UserFactory()

    response = api_client.post(
        REFRESH_URL, {"refresh": str(RefreshToken.for_user(user))}, format="json"
    )

    assert response.status_code == 200
    assert AccessToken(response.json()["data"]["access"])["user_id"] == user.id


@pytest.mark.parametrize("refresh", ["garbage", "a.b.c"])
def test_an_invalid_refresh_token_is_4004(api_client, refresh):
    response = api_client.post(REFRESH_URL, {"refresh": refresh}, format="json")

    assert response.status_code == 401
    assert response.json()["error"] == {"code": 4004, "message": "Invalid Token"}


def test_an_access_token_cannot_be_used_to_refresh(api_client):
    user = UserFactory()

    response = api_client.post(
        REFRESH_URL, {"refresh": str(AccessToken.for_user(user))}, format="json"
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 4004


def test_a_deactivated_user_cannot_refresh(api_client):
    user = UserFactory()
    refresh = str(RefreshToken.for_user(user))
    user.is_active = False
    user.save()

    response = api_client.post(REFRESH_URL, {"refresh": refresh}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 4004
