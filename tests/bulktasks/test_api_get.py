"""GET /v1/organizations/{organizationId}/bulk-tasks/{bulkTaskId}: the contract's matrix."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

import pytest
from rest_framework.test import APIClient

from bulktasks.models import BulkTask, BulkTaskLine
from tests.conftest import bearer
from tests.factories import (
    BulkTaskFactory,
    BulkTaskLineFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)
from users import catalog
from users.models import Organization, User

pytestmark = pytest.mark.django_db


def url(organization_id: str, bulk_task_id: str) -> str:
    return f"/v1/organizations/{organization_id}/bulk-tasks/{bulk_task_id}"


def assert_error(response, status: int, code: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return body


class TestFound:
    def test_a_reader_gets_the_task_by_organization_slug(self, reader_client, organization, reader):
        task = BulkTaskFactory(organization=organization, created_by=reader, override=True)

        response = reader_client.get(url("acme", task.id))

        assert response.status_code == 200
        body = response.json()
        assert body["status"] is True
        assert body["data"]["id"] == task.id
        assert body["data"]["config"] == {"override": True, "dryRun": False}
        assert body["data"]["createdBy"]["email"] == reader.email

    def test_a_reader_gets_the_task_by_organization_id(self, reader_client, organization):
        task = BulkTaskFactory(organization=organization)

        response = reader_client.get(url(organization.id, task.id))

        assert response.status_code == 200
        assert response.json()["data"]["id"] == task.id

    def test_ids_are_accepted_in_upper_case(self, reader_client, organization):
        task = BulkTaskFactory(organization=organization)

        response = reader_client.get(url(organization.id.upper(), task.id.upper()))

        assert response.status_code == 200
        assert response.json()["data"]["id"] == task.id

    def test_the_body_carries_every_field_with_the_contract_names(
        self, reader_client, organization, reader
    ):
        task = BulkTaskFactory(
            organization=organization,
            created_by=reader,
            status=BulkTask.Status.COMPLETED,
            file_bucket="uploads",
            file_key="acme/people.csv",
            file_location="https://uploads.s3.eu-west-1.amazonaws.com/acme/people.csv",
            file_region="eu-west-1",
            num_items=5,
            num_inserts=2,
            num_updates=1,
            num_skips=1,
            num_errors=1,
            error="",
        )
        BulkTaskLineFactory(task=task, kind=BulkTaskLine.Kind.SKIPPED, line=3, reason="exists")
        BulkTaskLineFactory(task=task, kind=BulkTaskLine.Kind.ERRORED, line=5, reason="email: bad")

        data = reader_client.get(url("acme", task.id)).json()["data"]

        assert set(data) == {
            "id", "status", "config", "file", "action", "report", "createdBy", "updatedAt", "createdAt",
        }  # fmt: skip
        assert data["file"] == {
            "originalName": "people.csv",
            "mimetype": "text/csv",
            "size": 1234,
            "bucket": "uploads",
            "key": "acme/people.csv",
            "location": "https://uploads.s3.eu-west-1.amazonaws.com/acme/people.csv",
            "region": "eu-west-1",
            "storageProviderId": task.storage_provider_id,
            "checksum": "0" * 64,
        }
        assert data["report"] == {
            "numItems": 5,
            "numInserts": 2,
            "numUpdates": 1,
            "numSkips": 1,
            "numErrors": 1,
            "skippedLines": [{"line": 3}],
            "erroredLines": [{"line": 5, "reason": "email: bad"}],
        }
        assert data["createdBy"] == {
            "id": reader.id,
            "email": reader.email,
            "firstName": reader.first_name,
            "lastName": reader.last_name,
            "fullName": f"{reader.first_name} {reader.last_name}",
            "picture": reader.picture,
        }

    def test_timestamps_are_rfc3339_utc_with_z(self, reader_client, organization):
        task = BulkTaskFactory(organization=organization)

        data = reader_client.get(url("acme", task.id)).json()["data"]

        created = task.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert data["createdAt"] == created
        assert data["updatedAt"].endswith("Z")

    def test_values_the_service_does_not_have_are_left_out_not_null(
        self, reader_client, organization
    ):
        task = BulkTaskFactory(
            organization=organization,
            created_by=None,
            storage_provider=None,
            file_size=None,
            file_checksum="",
            file_mimetype="",
        )

        response = reader_client.get(url("acme", task.id))

        data = response.json()["data"]
        assert "null" not in response.content.decode()
        assert "createdBy" not in data
        assert "error" not in data
        assert data["file"] == {"originalName": "people.csv"}

    def test_a_failed_task_carries_its_error(self, reader_client, organization):
        task = BulkTaskFactory(
            organization=organization,
            status=BulkTask.Status.FAILED,
            error="header row is missing column email",
        )

        data = reader_client.get(url("acme", task.id)).json()["data"]

        assert data["status"] == "failed"
        assert data["error"] == "header row is missing column email"

    def test_report_lines_come_in_line_order(self, reader_client, organization):
        task = BulkTaskFactory(organization=organization, num_skips=3, num_errors=3)
        for line in (40, 7, 19):
            BulkTaskLineFactory(task=task, kind=BulkTaskLine.Kind.ERRORED, line=line)
            BulkTaskLineFactory(task=task, kind=BulkTaskLine.Kind.SKIPPED, line=line + 1)

        report = reader_client.get(url("acme", task.id)).json()["data"]["report"]

        assert [item["line"] for item in report["erroredLines"]] == [7, 19, 40]
        assert [item["line"] for item in report["skippedLines"]] == [8, 20, 41]

    def test_inline_lines_stop_at_the_cap_while_counters_keep_the_totals(
        self, reader_client, organization, settings
    ):
        settings.BULK_TASK_INLINE_LINES_LIMIT = 5
        task = BulkTaskFactory(organization=organization, num_skips=8, num_errors=12)
        BulkTaskLine.objects.bulk_create(
            [
                BulkTaskLine(task=task, kind=BulkTaskLine.Kind.ERRORED, line=n)
                for n in range(100, 112)
            ]
            + [
                BulkTaskLine(task=task, kind=BulkTaskLine.Kind.SKIPPED, line=n)
                for n in range(2, 10)
            ]
        )

        report = reader_client.get(url("acme", task.id)).json()["data"]["report"]

        assert [item["line"] for item in report["erroredLines"]] == [100, 101, 102, 103, 104]
        assert [item["line"] for item in report["skippedLines"]] == [2, 3, 4, 5, 6]
        assert report["numErrors"] == 12
        assert report["numSkips"] == 8

    def test_head_is_answered_like_get(self, reader_client, organization):
        task = BulkTaskFactory(organization=organization)

        response = reader_client.head(url("acme", task.id))

        assert response.status_code == 200

    def test_a_trailing_slash_is_tolerated(self, reader_client, organization):
        task = BulkTaskFactory(organization=organization)

        response = reader_client.get(url("acme", task.id) + "/")

        assert response.status_code == 200


class TestQueryCount:
    @pytest.mark.parametrize("lines", [0, 3, 2500])
    def test_a_get_costs_one_query_however_large_the_report(
        self, reader_client, organization, django_assert_num_queries, lines
    ):
        task = BulkTaskFactory(organization=organization, num_errors=lines, num_skips=lines)
        BulkTaskLine.objects.bulk_create(
            BulkTaskLine(task=task, kind=kind, line=2 * n + kind)
            for n in range(lines)
            for kind in (BulkTaskLine.Kind.SKIPPED, BulkTaskLine.Kind.ERRORED)
        )

        # The caller with their membership and roles, the task with its creator
        # and the first report lines: one statement.
        with django_assert_num_queries(1):
            response = reader_client.get(url("acme", task.id))

        assert response.status_code == 200
        assert len(response.json()["data"]["report"]["erroredLines"]) == min(lines, 1000)


class TestAuthentication:
    def test_no_authorization_header_is_4002(self, api_client, organization):
        task = BulkTaskFactory(organization=organization)

        response = api_client.get(url("acme", task.id))

        body = assert_error(response, 401, 4002)
        assert body["error"]["message"] == "No auth token"
        assert response["WWW-Authenticate"].startswith("Bearer")

    @pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "Bearer "])
    def test_a_non_bearer_scheme_or_an_empty_bearer_is_4002(self, api_client, organization, header):
        task = BulkTaskFactory(organization=organization)

        response = api_client.get(url("acme", task.id), HTTP_AUTHORIZATION=header)

        assert_error(response, 401, 4002)
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_an_invalid_token_is_4004(self, api_client, organization):
        task = BulkTaskFactory(organization=organization)

        response = api_client.get(url("acme", task.id), HTTP_AUTHORIZATION="Bearer not.a.jwt")

        body = assert_error(response, 401, 4004)
        assert body["error"]["message"] == "Invalid Token"
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_unauthenticated_requests_never_reveal_whether_a_task_exists(self, api_client):
        response = api_client.get(url("nowhere", "0" * 24))

        assert_error(response, 401, 4002)


class TestNotFound:
    def test_an_unknown_organization_is_3001(self, reader_client):
        assert_error(reader_client.get(url("no-such-org", "a" * 24)), 404, 3001)

    def test_an_unknown_organization_id_is_3001(self, reader_client):
        assert_error(reader_client.get(url("b" * 24, "a" * 24)), 404, 3001)

    def test_an_unknown_task_is_3001(self, reader_client, organization):
        assert_error(reader_client.get(url("acme", "a" * 24)), 404, 3001)

    def test_a_non_member_gets_3001_for_an_existing_organization(self, api_client, organization):
        task = BulkTaskFactory(organization=organization)
        stranger = UserFactory()

        response = api_client.get(url("acme", task.id), HTTP_AUTHORIZATION=bearer(stranger))

        assert_error(response, 404, 3001)

    def test_a_deactivated_membership_gets_3001(self, api_client, organization):
        task = BulkTaskFactory(organization=organization)
        former = MembershipFactory(organization=organization, is_active=False).user

        response = api_client.get(url("acme", task.id), HTTP_AUTHORIZATION=bearer(former))

        assert_error(response, 404, 3001)

    def test_the_404_bodies_are_identical_whatever_the_reason(self, reader_client, organization):
        other = OrganizationFactory()
        foreign_task = BulkTaskFactory(organization=other)

        bodies = {
            reader_client.get(url("acme", foreign_task.id)).content,
            reader_client.get(url(other.slug, foreign_task.id)).content,
            reader_client.get(url("no-such-org", foreign_task.id)).content,
            reader_client.get(url("acme", "c" * 24)).content,
        }

        assert len(bodies) == 1


class TestTenantIsolation:
    def test_a_task_of_another_organization_is_not_found_through_mine(
        self, reader_client, organization
    ):
        foreign_task = BulkTaskFactory(organization=OrganizationFactory(slug="globex"))

        response = reader_client.get(url("acme", foreign_task.id))

        body = assert_error(response, 404, 3001)
        assert foreign_task.id not in response.content.decode()
        assert body["error"]["message"] == "Entity not found"

    def test_a_member_of_one_organization_cannot_read_the_other(
        self, api_client, make_member: Callable[..., User]
    ):
        acme, globex = OrganizationFactory(slug="acme"), OrganizationFactory(slug="globex")
        acme_reader = make_member(acme, [catalog.BULK_TASK_GET])
        globex_reader = make_member(globex, [catalog.BULK_TASK_GET])
        acme_task, globex_task = (
            BulkTaskFactory(organization=acme),
            BulkTaskFactory(organization=globex),
        )

        def get(user: User, organization: Organization, task: BulkTask) -> int:
            return api_client.get(
                url(organization.slug, task.id), HTTP_AUTHORIZATION=bearer(user)
            ).status_code

        assert get(acme_reader, acme, acme_task) == 200
        assert get(globex_reader, globex, globex_task) == 200
        assert get(acme_reader, globex, globex_task) == 404
        assert get(globex_reader, acme, acme_task) == 404
        assert get(acme_reader, acme, globex_task) == 404
        assert get(globex_reader, globex, acme_task) == 404


class TestForbidden:
    def test_a_member_without_the_permission_gets_403_4003(self, api_client, make_member):
        organization = OrganizationFactory(slug="acme")
        task = BulkTaskFactory(organization=organization)
        lister = make_member(organization, [catalog.BULK_TASK_LIST])

        response = api_client.get(url("acme", task.id), HTTP_AUTHORIZATION=bearer(lister))

        body = assert_error(response, 403, 4003)
        assert catalog.BULK_TASK_GET in body["error"]["message"]

    def test_a_member_without_any_role_gets_403(self, api_client):
        organization = OrganizationFactory(slug="acme")
        task = BulkTaskFactory(organization=organization)
        member = MembershipFactory(organization=organization).user

        response = api_client.get(url("acme", task.id), HTTP_AUTHORIZATION=bearer(member))

        assert_error(response, 403, 4003)

    def test_the_permission_may_come_from_any_of_several_roles(self, api_client, make_member):
        from tests.factories import RoleFactory

        organization = OrganizationFactory(slug="acme")
        task = BulkTaskFactory(organization=organization)
        roles = [
            RoleFactory(organization=organization, permissions=[catalog.BULK_TASK_LIST]),
            RoleFactory(organization=organization, permissions=[catalog.BULK_TASK_GET]),
        ]
        member = MembershipFactory(organization=organization, roles=roles).user

        response = api_client.get(url("acme", task.id), HTTP_AUTHORIZATION=bearer(member))

        assert response.status_code == 200


class TestMalformedIds:
    # "%0A": Python's ``$`` also matches before a final newline, so only
    # fullmatch refuses an id followed by one.
    @pytest.mark.parametrize(
        "bulk_task_id", ["123", "g" * 24, "a" * 25, "a" * 23, "%20" * 8, "a" * 24 + "%0A"]
    )
    def test_a_malformed_bulk_task_id_is_400_naming_the_parameter(
        self, reader_client, organization, bulk_task_id
    ):
        body = assert_error(reader_client.get(url("acme", bulk_task_id)), 400, 1001)

        assert "bulkTaskId" in body["error"]["message"]

    @pytest.mark.parametrize(
        "organization_id", ["ab", "a_b_c", "acme.corp", "%C3%A9cole", "acme%0A", "a" * 24 + "%0A"]
    )
    def test_a_malformed_organization_id_is_400_naming_the_parameter(
        self, reader_client, organization_id
    ):
        body = assert_error(reader_client.get(url(organization_id, "a" * 24)), 400, 1001)

        assert "organizationId" in body["error"]["message"]

    def test_an_existing_tasks_id_followed_by_a_newline_is_400_not_404(
        self, reader_client, organization
    ):
        task = BulkTaskFactory(organization=organization)

        body = assert_error(reader_client.get(url("acme", f"{task.id}%0A")), 400, 1001)
        lines = assert_error(reader_client.get(url("acme", f"{task.id}%0A") + "/lines"), 400, 1001)

        assert "bulkTaskId" in body["error"]["message"]
        assert "bulkTaskId" in lines["error"]["message"]


class TestMethodsAndRoutes:
    @pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
    def test_other_methods_get_405_in_the_envelope(self, reader_client, organization, method):
        task = BulkTaskFactory(organization=organization)

        response = getattr(reader_client, method)(url("acme", task.id))

        assert_error(response, 405, 3003)
        assert BulkTask.objects.filter(pk=task.pk).exists()

    @pytest.mark.parametrize(
        "path",
        [
            "/v1/",
            "/v1",
            "/v1/nope",
            "/v1/organizations/acme",
            "/v1/organizations/acme/bulk-tasks/a/b/c",
        ],
    )
    def test_unknown_routes_under_v1_get_a_json_404(self, reader_client, path):
        for method in ("get", "post", "delete"):
            assert_error(getattr(reader_client, method)(path), 404, 3002)


def test_an_unexpected_error_is_a_json_500_not_an_html_page(
    reader_client, organization, monkeypatch
):
    task = BulkTaskFactory(organization=organization)

    def explode(**kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("bulktasks.views.task_detail.bulk_task_get_with_caller", explode)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=reader_client._credentials["HTTP_AUTHORIZATION"])

    response = client.get(url("acme", task.id))

    assert_error(response, 500, 5000)
    assert "boom" not in response.content.decode()
