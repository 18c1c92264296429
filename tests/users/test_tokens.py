"""POST /v1/auth/token, /v1/auth/token/refresh and /v1/auth/logout; the tokens themselves."""

from __future__ import annotations

import json
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.factories import DEFAULT_PASSWORD, UserFactory
from users.services import refresh_token_revoke
from users.tasks import flush_expired_tokens

pytestmark = pytest.mark.django_db

TOKEN_URL = "/v1/auth/token"
REFRESH_URL = "/v1/auth/token/refresh"
LOGOUT_URL = "/v1/auth/logout"


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


@pytest.mark.parametrize("format_", ["multipart", "form"])
def test_a_login_that_is_not_json_is_415(api_client, format_):
    """JSON only: the schema declares one body type, so generated clients send what they label."""
    UserFactory(email="ada@example.com")
    credentials = {"email": "ada@example.com", "password": DEFAULT_PASSWORD}

    if format_ == "form":
        response = api_client.post(
            TOKEN_URL,
            f"email=ada%40example.com&password={DEFAULT_PASSWORD}",
            content_type="application/x-www-form-urlencoded",
        )
    else:
        response = api_client.post(TOKEN_URL, credentials, format=format_)

    assert response.status_code == 415
    assert response.json()["error"]["code"] == 1004


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


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (TOKEN_URL, '{"email": "\\ud800", "password": "x"}', "email"),
        (TOKEN_URL, '{"email": "ada\\udfff@example.com", "password": "x"}', "email"),
        (TOKEN_URL, '{"email": "ada@example.com", "password": "\\ud800"}', "password"),
        (REFRESH_URL, '{"refresh": "\\ud800"}', "refresh"),
        (LOGOUT_URL, '{"refresh": "a.\\ud800.b"}', "refresh"),
    ],
)
def test_a_lone_surrogate_in_a_json_string_is_400_not_500(api_client, url, body, field):
    # Valid JSON, but no UTF-8 can encode it: hashing it or sending it to the
    # database would raise UnicodeEncodeError.
    assert "\\u" in body

    response = api_client.post(url, data=body, content_type="application/json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 1002
    assert error["message"].startswith(f"{field}: ")


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


# --- Claims and algorithm ---------------------------------------------------------------------


def login(api_client, user) -> dict:
    response = api_client.post(
        TOKEN_URL, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_tokens_carry_ids_only_no_email_names_or_permissions(api_client, reader):
    data = login(api_client, reader)

    access = jwt.decode(data["access"], options={"verify_signature": False})
    refresh = jwt.decode(data["refresh"], options={"verify_signature": False})

    assert set(access) == {"token_type", "exp", "iat", "jti", "user_id"}
    assert set(refresh) == {"token_type", "exp", "iat", "jti", "user_id"}
    assert access["user_id"] == refresh["user_id"] == reader.id
    for value in (reader.email, reader.first_name, reader.last_name, "base.bulk"):
        assert value not in json.dumps(access)
        assert value not in json.dumps(refresh)


def test_tokens_are_signed_with_hs256(api_client, reader):
    data = login(api_client, reader)

    assert jwt.get_unverified_header(data["access"])["alg"] == "HS256"
    assert jwt.get_unverified_header(data["refresh"])["alg"] == "HS256"
    assert settings.SIMPLE_JWT["ALGORITHM"] == "HS256"


def resign(token: str, algorithm: str) -> str:
    """The same claims, signed with the service's own key but another algorithm."""
    claims = jwt.decode(token, options={"verify_signature": False})
    key = None if algorithm == "none" else settings.SIMPLE_JWT["SIGNING_KEY"]
    return jwt.encode(claims, key, algorithm=algorithm)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("algorithm", ["none", "HS384", "HS512"])
@pytest.mark.parametrize("url", [REFRESH_URL, LOGOUT_URL])
def test_a_refresh_token_with_another_algorithm_is_4004(api_client, url, algorithm):
    forged = resign(str(RefreshToken.for_user(UserFactory())), algorithm)

    response = api_client.post(url, {"refresh": forged}, format="json")

    assert response.status_code == 401
    assert response.json() == {"status": False, "error": {"code": 4004, "message": "Invalid Token"}}


# --- Rotation ---------------------------------------------------------------------------------


def test_a_refresh_returns_a_new_refresh_token_and_retires_the_old_one(api_client, reader):
    first = login(api_client, reader)["refresh"]

    rotated = api_client.post(REFRESH_URL, {"refresh": first}, format="json")
    replayed = api_client.post(REFRESH_URL, {"refresh": first}, format="json")

    assert rotated.status_code == 200
    data = rotated.json()["data"]
    assert set(data) == {"access", "refresh"}
    assert RefreshToken(data["refresh"])["user_id"] == reader.id
    assert data["refresh"] != first
    assert replayed.status_code == 401
    assert replayed.json()["error"]["code"] == 4004


def test_the_rotated_refresh_token_works_in_turn(api_client, reader):
    token = login(api_client, reader)["refresh"]

    for _ in range(3):
        response = api_client.post(REFRESH_URL, {"refresh": token}, format="json")
        assert response.status_code == 200
        token = response.json()["data"]["refresh"]


def test_without_rotation_a_refresh_gives_an_access_token_only(api_client, reader, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ROTATE_REFRESH_TOKENS": False}
    token = login(api_client, reader)["refresh"]

    first = api_client.post(REFRESH_URL, {"refresh": token}, format="json")
    second = api_client.post(REFRESH_URL, {"refresh": token}, format="json")

    assert set(first.json()["data"]) == {"access"}
    assert second.status_code == 200


def test_a_token_issued_before_revocation_existed_is_rotated_too(api_client, reader):
    token = str(RefreshToken.for_user(reader))
    OutstandingToken.objects.all().delete()

    rotated = api_client.post(REFRESH_URL, {"refresh": token}, format="json")
    replayed = api_client.post(REFRESH_URL, {"refresh": token}, format="json")

    assert rotated.status_code == 200
    assert replayed.status_code == 401


def test_a_refresh_token_is_revoked_once_so_the_second_of_two_refreshes_loses(reader):
    token = RefreshToken.for_user(reader)

    assert refresh_token_revoke(token=token) is True
    assert refresh_token_revoke(token=token) is False


def test_the_database_keeps_token_ids_never_tokens(api_client, reader):
    data = login(api_client, reader)
    api_client.post(REFRESH_URL, {"refresh": data["refresh"]}, format="json")

    rows = list(OutstandingToken.objects.filter(user=reader))

    assert len(rows) == 2
    assert all(row.token == "" and row.jti for row in rows)


# --- Logout -----------------------------------------------------------------------------------


def test_logout_revokes_the_refresh_token(api_client, reader):
    token = login(api_client, reader)["refresh"]

    logged_out = api_client.post(LOGOUT_URL, {"refresh": token}, format="json")
    refreshed = api_client.post(REFRESH_URL, {"refresh": token}, format="json")

    assert logged_out.status_code == 200
    assert logged_out.json() == {"status": True, "data": {}}
    assert refreshed.status_code == 401
    assert refreshed.json() == {
        "status": False,
        "error": {"code": 4004, "message": "Invalid Token"},
    }
    assert refreshed["WWW-Authenticate"].startswith("Bearer")
    assert BlacklistedToken.objects.filter(token__user=reader).count() == 1


def test_logout_leaves_the_users_other_sessions_alone(api_client, reader):
    phone, laptop = login(api_client, reader)["refresh"], login(api_client, reader)["refresh"]

    api_client.post(LOGOUT_URL, {"refresh": phone}, format="json")

    assert api_client.post(REFRESH_URL, {"refresh": laptop}, format="json").status_code == 200


def test_logging_out_twice_is_4004(api_client, reader):
    token = login(api_client, reader)["refresh"]
    api_client.post(LOGOUT_URL, {"refresh": token}, format="json")

    again = api_client.post(LOGOUT_URL, {"refresh": token}, format="json")

    assert again.status_code == 401
    assert again.json()["error"]["code"] == 4004


@pytest.mark.parametrize("body", [{}, {"refresh": ""}])
def test_logout_without_a_refresh_token_is_400(api_client, body):
    response = api_client.post(LOGOUT_URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1002
    assert "refresh" in response.json()["error"]["message"]


@pytest.mark.parametrize("token_class", [AccessToken, RefreshToken])
def test_logout_refuses_access_tokens_and_expired_tokens(api_client, token_class):
    token = token_class.for_user(UserFactory())
    if token_class is RefreshToken:
        token.set_exp(lifetime=-timedelta(seconds=1))

    response = api_client.post(LOGOUT_URL, {"refresh": str(token)}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 4004


def test_logout_of_a_deleted_users_token_is_4004_and_still_revokes_it(api_client):
    user = UserFactory()
    token = str(RefreshToken.for_user(user))
    OutstandingToken.objects.all().delete()
    user.delete()

    response = api_client.post(LOGOUT_URL, {"refresh": token}, format="json")

    assert response.status_code == 401
    assert response.json() == {"status": False, "error": {"code": 4004, "message": "Invalid Token"}}
    assert BlacklistedToken.objects.filter(token__user=None).count() == 1


def test_logout_of_a_deactivated_users_token_is_4004_and_revokes_it(api_client, reader):
    token = login(api_client, reader)["refresh"]
    reader.is_active = False
    reader.save(update_fields=["is_active"])

    response = api_client.post(LOGOUT_URL, {"refresh": token}, format="json")
    reader.is_active = True
    reader.save(update_fields=["is_active"])
    refreshed_once_active_again = api_client.post(REFRESH_URL, {"refresh": token}, format="json")

    assert response.status_code == 401
    assert response.json() == {"status": False, "error": {"code": 4004, "message": "Invalid Token"}}
    assert refreshed_once_active_again.status_code == 401
    assert BlacklistedToken.objects.filter(token__user=reader).count() == 1


def test_get_on_logout_is_405(api_client):
    response = api_client.get(LOGOUT_URL)

    assert response.status_code == 405
    assert response.json()["error"]["code"] == 3003


# --- Cleanup ----------------------------------------------------------------------------------


def test_the_daily_cleanup_forgets_expired_tokens_only(api_client, reader):
    live = login(api_client, reader)["refresh"]
    api_client.post(LOGOUT_URL, {"refresh": login(api_client, reader)["refresh"]}, format="json")
    OutstandingToken.objects.exclude(jti=RefreshToken(live)["jti"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    flush_expired_tokens.apply()

    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == [
        RefreshToken(live)["jti"]
    ]
    assert BlacklistedToken.objects.count() == 0


def test_the_cleanup_runs_on_the_beat_schedule():
    entries = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]

    assert "users.tasks.flush_expired_tokens" in entries
