"""Rate limits through the API: per user and per organization for reads and uploads, per address and e-mail at login."""

from __future__ import annotations

import pytest
from rest_framework.settings import api_settings
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


def test_guessing_one_accounts_password_is_limited_whatever_the_address(api_client, throttle_rates):
    throttle_rates(**{"token.email": "2/hour", "token.ip": "100/min"})
    UserFactory(email="ada@example.com")

    guesses = [
        login(api_client, "ada@example.com", address="10.0.0.1").status_code,
        login(api_client, " ADA@example.com", address="10.0.0.2").status_code,
    ]
    third = login(api_client, "Ada@Example.com", DEFAULT_PASSWORD, address="10.0.0.3")

    assert guesses == [401, 401]
    assert_throttled(third)
    assert login(api_client, "grace@example.com", address="10.0.0.3").status_code == 401


def test_one_address_trying_many_accounts_is_limited(api_client, throttle_rates):
    throttle_rates(**{"token.ip": "2/min", "token.email": "100/hour"})

    tries = [login(api_client, f"user{n}@example.com").status_code for n in range(2)]
    refused = login(api_client, "user9@example.com")

    assert tries == [401, 401]
    assert_throttled(refused)
    assert login(api_client, "user9@example.com", address="10.0.0.2").status_code == 401


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
    throttle_rates(**{"token.email": "1/hour"})

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
