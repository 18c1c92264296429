"""Rate limits through the API: per user and per organization for reads and uploads, per address and failed logins at login."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from rest_framework.settings import api_settings
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt.tokens import RefreshToken

from bulktasks.models import BulkTask
from tests.bulktasks.files import csv_file, people_rows
from tests.conftest import bearer
from tests.factories import (
    DEFAULT_PASSWORD,
    BulkTaskFactory,
    MembershipFactory,
    OrganizationFactory,
    RoleFactory,
    UserFactory,
)
from users import catalog
from users.throttling import LoginFailureThrottle

pytestmark = pytest.mark.django_db

READ = (catalog.BULK_TASK_GET, catalog.BULK_TASK_LIST)
ALL = (*READ, catalog.BULK_TASK_CREATE)
TOKEN_URL = "/v1/auth/token"
REFRESH_URL = "/v1/auth/token/refresh"
LOGOUT_URL = "/v1/auth/logout"
WRONG_PASSWORD = "not-the-password"


def tasks_url(organization_id: str) -> str:
    return f"/v1/organizations/{organization_id}/bulk-tasks"


def get(api_client, user, path: str):
    return api_client.get(path, HTTP_AUTHORIZATION=bearer(user))


def upload(api_client, user, organization_id: str = "acme"):
    return api_client.post(
        tasks_url(organization_id),
        {"action": "users.import", "file": csv_file(people_rows(1))},
        format="multipart",
        HTTP_AUTHORIZATION=bearer(user),
    )


def login(api_client, email: str, password: str = WRONG_PASSWORD, address: str = "10.0.0.1"):
    return api_client.post(
        TOKEN_URL, {"email": email, "password": password}, format="json", REMOTE_ADDR=address
    )


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    assert response.json() == {
        "status": False,
        "error": {"code": 1007, "message": "Too many requests"},
    }
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"].isdigit()
    assert 1 <= int(response["Retry-After"]) <= 3600


# --- Reads ------------------------------------------------------------------------------------


def test_a_user_over_the_read_limit_gets_429_with_retry_after(
    api_client, throttle_rates, organization, make_member
):
    throttle_rates(**{"reads.user": "2/min"})
    user = make_member(organization, READ)
    task = BulkTaskFactory(organization=organization)

    first = get(api_client, user, tasks_url("acme"))
    second = get(api_client, user, f"{tasks_url('acme')}/{task.id}")
    third = get(api_client, user, f"{tasks_url('acme')}/{task.id}/lines")

    assert (first.status_code, second.status_code) == (200, 200)
    assert_throttled(third)
    assert int(third["Retry-After"]) <= 60


def test_a_user_budget_is_the_same_in_every_organization(
    api_client, throttle_rates, organization, make_member
):
    throttle_rates(**{"reads.user": "2/min"})
    user = make_member(organization, READ)
    globex = OrganizationFactory(slug="globex")
    role = RoleFactory(organization=globex, permissions=list(READ))
    MembershipFactory(user=user, organization=globex, roles=[role])

    assert get(api_client, user, tasks_url("acme")).status_code == 200
    assert get(api_client, user, tasks_url("globex")).status_code == 200
    assert_throttled(get(api_client, user, tasks_url("globex")))


def test_members_of_one_organization_share_its_budget(
    api_client, throttle_rates, organization, make_member
):
    throttle_rates(**{"reads.user": "100/min", "reads.organization": "3/min"})
    ada, grace = make_member(organization, READ), make_member(organization, READ)

    statuses = [get(api_client, user, tasks_url("acme")).status_code for user in (ada, ada, grace)]

    assert statuses == [200, 200, 200]
    assert_throttled(get(api_client, grace, tasks_url("acme")))


def test_slug_and_id_spend_the_same_organization_budget(
    api_client, throttle_rates, organization, make_member
):
    throttle_rates(**{"reads.organization": "2/min"})
    user = make_member(organization, READ)

    by_slug = get(api_client, user, tasks_url("acme"))
    by_id = get(api_client, user, tasks_url(organization.id))

    assert (by_slug.status_code, by_id.status_code) == (200, 200)
    assert_throttled(get(api_client, user, tasks_url(organization.id.upper())))


def test_one_organization_spending_its_budget_leaves_others_alone(
    api_client, throttle_rates, organization, make_member
):
    throttle_rates(**{"reads.organization": "1/min"})
    acme_member = make_member(organization, READ)
    globex_member = make_member(OrganizationFactory(slug="globex"), READ)

    assert get(api_client, acme_member, tasks_url("acme")).status_code == 200
    assert_throttled(get(api_client, acme_member, tasks_url("acme")))
    assert get(api_client, globex_member, tasks_url("globex")).status_code == 200


def test_outsiders_cannot_spend_an_organization_budget(
    api_client, throttle_rates, organization, make_member
):
    throttle_rates(**{"reads.organization": "1/min"})
    member = make_member(organization, READ)
    outsiders = [UserFactory() for _ in range(3)]
    no_permission = make_member(organization, [])

    answers = [get(api_client, user, tasks_url("acme")).status_code for user in outsiders]
    denied = get(api_client, no_permission, tasks_url("acme"))

    assert answers == [404, 404, 404]
    assert denied.status_code == 403
    assert get(api_client, member, tasks_url("acme")).status_code == 200


def test_probing_organizations_spends_the_callers_own_budget(
    api_client, throttle_rates, organization
):
    throttle_rates(**{"reads.user": "2/min"})
    prober = UserFactory()

    answers = [get(api_client, prober, tasks_url(f"org-{n}")).status_code for n in range(2)]

    assert answers == [404, 404]
    assert_throttled(get(api_client, prober, tasks_url("acme")))


def test_requests_without_a_token_are_401_not_counted(
    api_client, throttle_rates, organization, make_member
):
    throttle_rates(**{"reads.user": "1/min", "reads.organization": "1/min"})
    user = make_member(organization, READ)

    statuses = [api_client.get(tasks_url("acme")).status_code for _ in range(3)]

    assert statuses == [401, 401, 401]
    # The organization's budget of one is still whole.
    assert get(api_client, user, tasks_url("acme")).status_code == 200


def test_a_deactivated_users_token_is_401_however_often_it_comes(
    api_client, throttle_rates, organization, make_member
):
    throttle_rates(**{"reads.user": "1/min", "reads.organization": "100/min"})
    user = make_member(organization, READ)
    assert get(api_client, user, tasks_url("acme")).status_code == 200
    user.is_active = False
    user.save()

    statuses = [get(api_client, user, tasks_url("acme")).status_code for _ in range(3)]

    assert statuses == [401, 401, 401]


def test_an_empty_rate_turns_a_limit_off(api_client, throttle_rates, organization, make_member):
    throttle_rates(**{"reads.user": None, "reads.organization": None})
    user = make_member(organization, READ)

    statuses = {get(api_client, user, tasks_url("acme")).status_code for _ in range(20)}

    assert statuses == {200}


def test_a_check_costs_no_query(
    api_client, throttle_rates, organization, make_member, django_assert_num_queries
):
    throttle_rates(**{"reads.user": "100/min", "reads.organization": "100/min"})
    user = make_member(organization, READ)
    header = bearer(user)

    # the user with their membership and roles; the page of tasks.
    with django_assert_num_queries(2):
        response = api_client.get(tasks_url("acme"), HTTP_AUTHORIZATION=header)

    assert response.status_code == 200


# --- Uploads ----------------------------------------------------------------------------------


def test_uploads_have_their_own_budget_apart_from_reads(
    api_client, throttle_rates, organization, make_member
):
    throttle_rates(**{"uploads.user": "1/min", "reads.user": "100/min"})
    user = make_member(organization, ALL)

    assert upload(api_client, user).status_code == 201
    refused = upload(api_client, user)

    assert_throttled(refused)
    assert BulkTask.objects.count() == 1
    assert get(api_client, user, tasks_url("acme")).status_code == 200


def test_reads_do_not_spend_the_upload_budget(
    api_client, throttle_rates, organization, make_member
):
    throttle_rates(**{"uploads.user": "1/min", "reads.user": "2/min"})
    user = make_member(organization, ALL)

    get(api_client, user, tasks_url("acme"))
    get(api_client, user, tasks_url("acme"))

    assert upload(api_client, user).status_code == 201


def test_an_organization_upload_budget_is_shared_by_its_members(
    api_client, throttle_rates, organization, make_member
):
    throttle_rates(**{"uploads.organization": "1/hour"})
    ada, grace = make_member(organization, ALL), make_member(organization, ALL)

    assert upload(api_client, ada).status_code == 201
    refused = upload(api_client, grace)

    assert_throttled(refused)
    assert int(refused["Retry-After"]) <= 3600


# --- Tokens -----------------------------------------------------------------------------------


def login_failure_rates(throttle_rates, *, per_address: str | None, per_email: str | None) -> None:
    """Set the two failed-login limits; the address budget stays out of reach."""
    throttle_rates(
        **{
            "token.ip": "1000/min",
            "login_failures.email_ip": per_address,
            "login_failures.email": per_email,
        }
    )


def test_wrong_passwords_from_one_address_lock_out_that_address_not_the_owner(
    api_client, throttle_rates
):
    login_failure_rates(throttle_rates, per_address="3/15min", per_email="100/hour")
    UserFactory(email="ada@example.com")

    guesses = [login(api_client, "ada@example.com", address="10.0.0.1").status_code for _ in "abc"]
    attacker = login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="10.0.0.1")
    owner = login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="10.0.0.2")

    assert guesses == [401, 401, 401]
    assert_throttled(attacker)
    assert int(attacker["Retry-After"]) <= 15 * 60
    assert owner.status_code == 200
    assert set(owner.json()["data"]) == {"access", "refresh"}


def test_successful_logins_never_count(api_client, throttle_rates):
    login_failure_rates(throttle_rates, per_address="2/15min", per_email="2/hour")
    UserFactory(email="ada@example.com")

    logins = [
        login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="10.0.0.1").status_code
        for _ in range(5)
    ]
    failures = [login(api_client, "ada@example.com", address="10.0.0.1").status_code for _ in "ab"]

    assert logins == [200] * 5
    assert failures == [401, 401]
    assert_throttled(login(api_client, "ada@example.com", address="10.0.0.1"))


def test_a_successful_login_forgets_the_failures_of_its_address(api_client, throttle_rates):
    login_failure_rates(throttle_rates, per_address="3/15min", per_email="100/hour")
    UserFactory(email="ada@example.com")

    before = [login(api_client, "ada@example.com").status_code for _ in "ab"]
    success = login(api_client, "ada@example.com", DEFAULT_PASSWORD)
    after = [login(api_client, "ada@example.com").status_code for _ in "abc"]

    assert (before, success.status_code, after) == ([401, 401], 200, [401, 401, 401])
    assert_throttled(login(api_client, "ada@example.com"))


def test_failures_count_per_email_matched_case_insensitively_and_per_address(
    api_client, throttle_rates
):
    login_failure_rates(throttle_rates, per_address="2/15min", per_email="100/hour")
    UserFactory(email="ada@example.com")

    failures = [
        login(api_client, "ada@example.com").status_code,
        login(api_client, " ADA@Example.com").status_code,
    ]

    assert failures == [401, 401]
    assert_throttled(login(api_client, "Ada@example.COM", DEFAULT_PASSWORD))
    # Another e-mail from the same address, or an unknown one, has its own budget.
    assert login(api_client, "grace@example.com").status_code == 401
    assert login(api_client, "nobody@example.com").status_code == 401


def test_an_unknown_email_is_limited_like_a_known_one(api_client, throttle_rates):
    login_failure_rates(throttle_rates, per_address="2/15min", per_email="100/hour")

    failures = [login(api_client, "nobody@example.com").status_code for _ in "ab"]

    assert failures == [401, 401]
    assert_throttled(login(api_client, "nobody@example.com"))


def test_over_the_email_ceiling_only_addresses_that_logged_in_before_pass(
    api_client, throttle_rates
):
    login_failure_rates(throttle_rates, per_address="3/15min", per_email="4/hour")
    UserFactory(email="ada@example.com")
    assert (
        login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="10.0.0.9").status_code
        == 200
    )
    for address in ("10.0.0.1", "10.0.0.2"):
        for _ in "ab":
            assert login(api_client, "ada@example.com", address=address).status_code == 401

    # The ceiling (4) is reached: an address that already failed gets no more tries,
    refused = login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="10.0.0.1")
    # nor does a fresh one, even with the right password...
    fresh = login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="10.0.0.3")
    # ...but the owner, from the address they logged in from before, gets in.
    owner = login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="10.0.0.9")

    assert_throttled(refused)
    assert_throttled(fresh)
    assert owner.status_code == 200


def test_guesses_from_many_addresses_stop_at_the_email_ceiling(api_client, throttle_rates):
    login_failure_rates(throttle_rates, per_address="10/15min", per_email="100/hour")
    UserFactory(email="ada@example.com")
    owners_address = "198.51.100.7"
    assert (
        login(api_client, "ada@example.com", DEFAULT_PASSWORD, address=owners_address).status_code
        == 200
    )

    # A botnet: one wrong password from each of 130 addresses never seen before.
    guesses = [
        login(api_client, "ada@example.com", address=f"10.0.{n // 250}.{n % 250 + 1}").status_code
        for n in range(130)
    ]
    # The right password from yet another fresh address is refused with the rest...
    fresh = login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="203.0.113.1")
    # ...and the owner, from an address that logged in before, still gets in.
    owner = login(api_client, "ada@example.com", DEFAULT_PASSWORD, address=owners_address)

    assert guesses == [401] * 100 + [429] * 30
    assert_throttled(fresh)
    assert int(fresh["Retry-After"]) <= 3600
    assert owner.status_code == 200


def test_addresses_in_one_ipv6_64_share_their_failed_logins(api_client, throttle_rates):
    login_failure_rates(throttle_rates, per_address="2/15min", per_email="100/hour")
    UserFactory(email="ada@example.com")

    failures = [
        login(api_client, "ada@example.com", address=f"2001:db8:1:2::{n}").status_code
        for n in (1, 2)
    ]
    same_64 = login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="2001:db8:1:2::ffff")
    next_64 = login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="2001:db8:1:3::1")

    assert failures == [401, 401]
    assert_throttled(same_64)
    assert next_64.status_code == 200


def test_a_known_address_is_known_across_its_ipv6_64(api_client, throttle_rates):
    login_failure_rates(throttle_rates, per_address="10/15min", per_email="1/hour")
    UserFactory(email="ada@example.com")
    assert (
        login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="2001:db8::1").status_code
        == 200
    )
    assert login(api_client, "ada@example.com", address="10.0.0.1").status_code == 401

    # Over the ceiling; the owner's device has since moved to a new privacy address.
    owner = login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="2001:db8::abcd")

    assert owner.status_code == 200


def test_hammering_from_one_address_does_not_spend_the_email_ceiling(api_client, throttle_rates):
    login_failure_rates(throttle_rates, per_address="3/15min", per_email="5/hour")
    UserFactory(email="ada@example.com")

    hammering = [login(api_client, "ada@example.com", address="10.0.0.1") for _ in range(20)]
    # Refused attempts checked no password: only the first 3 failures count, so
    # another address still has 2 failures before the ceiling (5) is passed.
    other = [login(api_client, "ada@example.com", address="10.0.0.2") for _ in range(3)]

    assert [response.status_code for response in hammering[:3]] == [401, 401, 401]
    assert {response.status_code for response in hammering[3:]} == {429}
    assert [response.status_code for response in other[:2]] == [401, 401]
    assert_throttled(other[2])


def test_without_the_per_address_limit_the_ceiling_still_lets_known_pairs_in(
    api_client, throttle_rates
):
    login_failure_rates(throttle_rates, per_address=None, per_email="2/hour")
    UserFactory(email="ada@example.com")
    assert (
        login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="10.0.0.9").status_code
        == 200
    )

    failures = [
        login(api_client, "ada@example.com", address=f"10.0.0.{n}").status_code for n in (1, 2)
    ]

    assert failures == [401, 401]
    assert_throttled(login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="10.0.0.3"))
    assert (
        login(api_client, "ada@example.com", DEFAULT_PASSWORD, address="10.0.0.9").status_code
        == 200
    )


def test_a_login_that_could_not_check_the_password_is_not_a_failure(
    api_client, throttle_rates, monkeypatch
):
    login_failure_rates(throttle_rates, per_address="1/15min", per_email="1/hour")
    UserFactory(email="ada@example.com")

    def database_away(**credentials):
        raise OperationalError("connection refused")

    with monkeypatch.context() as patch:
        patch.setattr("users.views.auth_token_obtain", database_away)
        outages = [login(api_client, "ada@example.com").status_code for _ in "abc"]

    assert outages == [503, 503, 503]
    assert login(api_client, "ada@example.com").status_code == 401
    assert_throttled(login(api_client, "ada@example.com", DEFAULT_PASSWORD))


def test_parallel_guesses_cannot_pass_the_limit_before_their_failures_are_known(throttle_rates):
    login_failure_rates(throttle_rates, per_address="3/15min", per_email="100/hour")
    request = APIRequestFactory().post(TOKEN_URL, REMOTE_ADDR="10.0.0.1")

    # Four attempts in flight at once: none has had its password checked yet.
    in_flight = [LoginFailureThrottle(email="ada@example.com") for _ in range(4)]
    allowed = [throttle.allow_request(request, view=None) for throttle in in_flight]

    assert allowed == [True, True, True, False]


def test_behind_a_proxy_the_forwarded_address_is_the_one_counted(
    api_client, throttle_rates, settings
):
    login_failure_rates(throttle_rates, per_address="1/15min", per_email="100/hour")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    UserFactory(email="ada@example.com")

    def login_via_proxy(client_address: str, password: str = WRONG_PASSWORD):
        return api_client.post(
            TOKEN_URL,
            {"email": "ada@example.com", "password": password},
            format="json",
            REMOTE_ADDR="10.9.9.9",
            HTTP_X_FORWARDED_FOR=f"6.6.6.6, {client_address}",
        )

    assert login_via_proxy("1.1.1.1").status_code == 401
    assert_throttled(login_via_proxy("1.1.1.1"))
    assert login_via_proxy("2.2.2.2", DEFAULT_PASSWORD).status_code == 200


def test_one_address_trying_many_accounts_is_limited(api_client, throttle_rates):
    throttle_rates(**{"token.ip": "2/min"})

    tries = [login(api_client, f"user{n}@example.com").status_code for n in range(2)]
    refused = login(api_client, "user9@example.com")

    assert tries == [401, 401]
    assert_throttled(refused)
    assert login(api_client, "user9@example.com", address="10.0.0.2").status_code == 401


def test_one_ipv6_64_trying_many_accounts_is_limited_as_one_address(api_client, throttle_rates):
    throttle_rates(**{"token.ip": "2/min"})

    tries = [
        login(api_client, f"user{n}@example.com", address=f"2001:db8:1:2::{n + 1}").status_code
        for n in range(2)
    ]
    refused = login(api_client, "user9@example.com", address="2001:db8:1:2:ffff::9")

    assert tries == [401, 401]
    assert_throttled(refused)


def test_refresh_and_logout_spend_the_address_budget_too(api_client, throttle_rates):
    throttle_rates(**{"token.ip": "2/min"})
    user = UserFactory()

    refreshed = api_client.post(
        REFRESH_URL, {"refresh": str(RefreshToken.for_user(user))}, format="json"
    )
    logged_out = api_client.post(
        LOGOUT_URL, {"refresh": str(RefreshToken.for_user(user))}, format="json"
    )

    assert (refreshed.status_code, logged_out.status_code) == (200, 200)
    assert_throttled(
        api_client.post(REFRESH_URL, {"refresh": str(RefreshToken.for_user(user))}, format="json")
    )


def test_a_malformed_login_body_is_still_400(api_client, throttle_rates):
    login_failure_rates(throttle_rates, per_address="1/15min", per_email="1/hour")

    response = api_client.post(TOKEN_URL, data="[1, 2]", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 1002


# --- What is never limited --------------------------------------------------------------------


def test_no_throttle_applies_unless_a_view_asks_for_it():
    assert api_settings.DEFAULT_THROTTLE_CLASSES == []


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/v1/schema/", "/v1/docs/"])
def test_health_and_documentation_paths_are_never_limited(api_client, throttle_rates, path):
    throttle_rates(**dict.fromkeys(api_settings.DEFAULT_THROTTLE_RATES, "1/hour"))

    statuses = [api_client.get(path).status_code for _ in range(5)]

    assert 429 not in statuses
