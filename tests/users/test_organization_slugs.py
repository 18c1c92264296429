"""Organization slugs: unique ignoring case, and looked up ignoring case, on the same index."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bulktasks.models import BulkTask
from tests.bulktasks.files import people_rows
from tests.conftest import bearer
from tests.factories import BulkTaskFactory, OrganizationFactory, UserFactory
from users import catalog
from users.selectors import organization_access_get, organization_get
from users.services import organization_create

pytestmark = pytest.mark.django_db

READ = (catalog.BULK_TASK_GET, catalog.BULK_TASK_LIST)


@pytest.mark.parametrize("spelling", ["acme", "ACME", "Acme", "aCmE"])
def test_the_api_finds_an_organization_by_its_slug_in_any_case(
    api_client, organization, make_member, spelling: str
) -> None:
    user = make_member(organization, READ)
    task = BulkTaskFactory(organization=organization)

    listed = api_client.get(
        f"/v1/organizations/{spelling}/bulk-tasks", HTTP_AUTHORIZATION=bearer(user)
    )
    fetched = api_client.get(
        f"/v1/organizations/{spelling}/bulk-tasks/{task.pk}", HTTP_AUTHORIZATION=bearer(user)
    )

    assert listed.status_code == 200, listed.content
    assert [item["id"] for item in listed.json()["data"]["items"]] == [task.pk]
    assert fetched.status_code == 200, fetched.content
    assert fetched.json()["data"]["id"] == task.pk


def test_a_slug_created_in_mixed_case_is_found_in_lower_case(api_client, make_member) -> None:
    organization = OrganizationFactory(slug="Acme-Corp")
    user = make_member(organization, READ)

    response = api_client.get(
        "/v1/organizations/acme-corp/bulk-tasks", HTTP_AUTHORIZATION=bearer(user)
    )

    assert response.status_code == 200, response.content


def test_another_case_does_not_open_another_organization(api_client, make_member) -> None:
    # Only a member of the organization the slug names gets in, whatever its case.
    outsider = make_member(OrganizationFactory(slug="globex"), READ)
    OrganizationFactory(slug="acme")

    response = api_client.get(
        "/v1/organizations/ACME/bulk-tasks", HTTP_AUTHORIZATION=bearer(outsider)
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == 3001


def test_slugs_are_unique_ignoring_case() -> None:
    organization_create(slug="acme", name="Acme")

    with pytest.raises(ValidationError), transaction.atomic():
        organization_create(slug="ACME", name="Acme again")


@pytest.mark.parametrize("spelling", ["initech", "INITECH", "Initech"])
def test_organization_get_matches_a_slug_ignoring_case_and_an_id_in_any_case(
    spelling: str,
) -> None:
    organization = OrganizationFactory(slug="Initech")
    OrganizationFactory(slug="initech-two")

    assert organization_get(id_or_slug=spelling) == organization
    assert organization_get(id_or_slug=organization.pk.upper()) == organization
    assert organization_get(id_or_slug="initec") is None


def test_the_bulk_import_command_finds_the_organization_in_any_case(tmp_path: Path) -> None:
    organization = OrganizationFactory(slug="acme")
    path = tmp_path / "people.csv"
    path.write_text("email,firstName,lastName\n" + "\n".join(people_rows(2)) + "\n")

    call_command(
        "bulk_import",
        str(path),
        "--organization",
        "ACME",
        "--action",
        "users.import",
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )

    assert BulkTask.objects.get().organization == organization


def query_plan(sql: str) -> str:
    """The database's plan for a query as it was sent (parameters written in), as text."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A handful of rows is cheaper to scan than to look up: forbid the
            # scan, so the plan shows whether an index can serve the query at all.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return "\n".join(" ".join(str(cell) for cell in row) for row in cursor.fetchall())


def test_the_request_path_looks_the_slug_up_on_the_case_insensitive_unique_index() -> None:
    user = UserFactory()
    OrganizationFactory(slug="acme")
    with CaptureQueriesContext(connection) as queries:
        organization_access_get(user_id=user.pk, organization_id_or_slug="ACME")
    (query,) = queries.captured_queries

    plan = query_plan(query["sql"])

    assert "organization_slug_ci_unique" in plan, plan


def test_organization_get_looks_the_slug_up_on_the_case_insensitive_unique_index() -> None:
    OrganizationFactory(slug="acme")
    with CaptureQueriesContext(connection) as queries:
        organization_get(id_or_slug="ACME")
    (query,) = queries.captured_queries

    plan = query_plan(query["sql"])

    assert "organization_slug_ci_unique" in plan, plan


@pytest.mark.parametrize("slug", ["acme\n", "acme\r\n", "\nacme", "ac me"])
def test_a_slug_must_be_letters_digits_and_hyphens_to_its_last_character(slug: str) -> None:
    # Python's ``$`` matches before a final newline: the slug must match as a whole.
    with pytest.raises(ValidationError) as caught:
        organization_create(slug=slug, name="Acme")

    assert "slug" in caught.value.message_dict
