"""Bearer tokens: every way a token can be wrong is 4004, a missing token is 4002."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import jwt
import pytest
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from rest_framework_simplejwt.utils import aware_utcnow

from tests.factories import BulkTaskFactory
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def task_url(organization) -> str:
    task = BulkTaskFactory(organization=organization)
    return f"/v1/organizations/{organization.slug}/bulk-tasks/{task.id}"


def get_with(api_client, path: str, token: str):
    return api_client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def assert_invalid_token(response) -> None:
    assert response.status_code == 401
    assert response.json() == {"status": False, "error": {"code": 4004, "message": "Invalid Token"}}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_valid_token_is_accepted(api_client, reader, task_url):
    assert get_with(api_client, task_url, str(AccessToken.for_user(reader))).status_code == 200


def test_the_scheme_is_case_insensitive(api_client, reader, task_url):
    response = api_client.get(task_url, HTTP_AUTHORIZATION=f"bearer {AccessToken.for_user(reader)}")

    assert response.status_code == 200


def test_an_expired_token_is_4004(api_client, reader, task_url):
    token = AccessToken.for_user(reader)
    token.set_exp(lifetime=-timedelta(seconds=1))

    assert_invalid_token(get_with(api_client, task_url, str(token)))


def test_a_tampered_token_is_4004(api_client, reader, task_url, make_member, organization):
    other = make_member(organization)
    header, _payload, signature = str(AccessToken.for_user(reader)).split(".")
    forged_payload = str(AccessToken.for_user(other)).split(".")[1]

    assert_invalid_token(get_with(api_client, task_url, f"{header}.{forged_payload}.{signature}"))


def test_a_token_signed_with_another_key_is_4004(api_client, reader, task_url):
    claims = dict(AccessToken.for_user(reader).payload)
    token = jwt.encode(claims, "some-other-key-entirely-0123456789abcdef", algorithm="HS256")

    assert_invalid_token(get_with(api_client, task_url, token))


def test_an_unsigned_token_is_4004(api_client, reader, task_url):
    claims = dict(AccessToken.for_user(reader).payload)
    token = jwt.encode(claims, None, algorithm="none")

    assert_invalid_token(get_with(api_client, task_url, token))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_a_token_signed_with_the_right_key_but_another_algorithm_is_4004(
    api_client, reader, task_url, algorithm
):
    claims = dict(AccessToken.for_user(reader).payload)
    token = jwt.encode(claims, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm=algorithm)

    assert_invalid_token(get_with(api_client, task_url, token))


def test_a_refresh_token_is_not_an_access_token(api_client, reader, task_url):
    assert_invalid_token(get_with(api_client, task_url, str(RefreshToken.for_user(reader))))


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 5000, "Ünïcode"])
def test_a_malformed_token_is_4004(api_client, reader, task_url, token):
    assert_invalid_token(get_with(api_client, task_url, token))


def test_a_bearer_header_with_extra_parts_is_4004(api_client, reader, task_url):
    response = api_client.get(task_url, HTTP_AUTHORIZATION="Bearer one two")

    assert_invalid_token(response)


def test_the_token_of_a_deleted_user_is_4004(api_client, reader, task_url):
    token = str(AccessToken.for_user(reader))
    reader.delete()

    assert_invalid_token(get_with(api_client, task_url, token))


def test_a_deactivated_user_is_refused_at_once(api_client, reader, task_url):
    token = str(AccessToken.for_user(reader))
    assert get_with(api_client, task_url, token).status_code == 200

    User.objects.filter(pk=reader.pk).update(is_active=False)

    assert_invalid_token(get_with(api_client, task_url, token))


def test_a_token_accepted_before_is_refused_once_it_expires(api_client, reader, task_url):
    token = str(AccessToken.for_user(reader))
    assert get_with(api_client, task_url, token).status_code == 200
    later = aware_utcnow() + settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] + timedelta(seconds=1)

    with mock.patch("users.authentication.aware_utcnow", return_value=later):
        assert_invalid_token(get_with(api_client, task_url, token))


@pytest.mark.parametrize("path", ["/bulk-tasks/not-an-id", "/bulk-tasks/" + "a" * 24])
def test_a_deactivated_user_is_refused_before_the_path_is_judged(
    api_client, reader, organization, path
):
    token = str(AccessToken.for_user(reader))
    User.objects.filter(pk=reader.pk).update(is_active=False)

    assert_invalid_token(
        get_with(api_client, f"/v1/organizations/{organization.slug}{path}", token)
    )


def test_a_deactivated_user_is_refused_in_an_unknown_organization(api_client, reader):
    token = str(AccessToken.for_user(reader))
    User.objects.filter(pk=reader.pk).update(is_active=False)

    assert_invalid_token(get_with(api_client, "/v1/organizations/nowhere/bulk-tasks", token))


def test_tokens_carry_only_ids(reader):
    token = AccessToken.for_user(reader)

    assert token["user_id"] == reader.id
    assert reader.email not in str(token.payload)
    assert settings.SIMPLE_JWT["ALGORITHM"] == "HS256"
