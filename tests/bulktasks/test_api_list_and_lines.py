"""GET /bulk-tasks (list) and GET /bulk-tasks/{id}/lines (the whole report, paged)."""

from __future__ import annotations

import pytest

from bulktasks.models import BulkTask, BulkTaskLine
from tests.conftest import bearer
from tests.factories import BulkTaskFactory, OrganizationFactory, UserFactory
from users import catalog

pytestmark = pytest.mark.django_db

LIST_URL = "/v1/organizations/acme/bulk-tasks"


@pytest.fixture
def lister_client(api_client, organization, make_member):
    user = make_member(organization, [catalog.BULK_TASK_LIST, catalog.BULK_TASK_GET])
    api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
    return api_client


def ids(response) -> list[str]:
    return [item["id"] for item in response.json()["data"]["items"]]


class TestList:
    def test_tasks_come_newest_first_in_the_get_shape_without_line_lists(
        self, lister_client, organization
    ):
        tasks = [BulkTaskFactory(organization=organization) for _ in range(3)]

        response = lister_client.get(LIST_URL)

        assert response.status_code == 200
        body = response.json()
        assert body["status"] is True
        assert ids(response) == [task.id for task in reversed(tasks)]
        assert body["data"]["hasMore"] is False
        assert "nextCursor" not in body["data"]
        item = body["data"]["items"][0]
        assert set(item) >= {
            "id",
            "status",
            "config",
            "file",
            "action",
            "report",
            "createdAt",
            "updatedAt",
        }
        assert "erroredLines" not in item["report"]
        assert "numErrors" in item["report"]

    def test_the_cursor_walks_every_task_once(self, lister_client, organization):
        tasks = [BulkTaskFactory(organization=organization) for _ in range(7)]
        seen: list[str] = []
        url = f"{LIST_URL}?limit=3"

        while True:
            data = lister_client.get(url).json()["data"]
            seen += [item["id"] for item in data["items"]]
            if not data["hasMore"]:
                break
            url = f"{LIST_URL}?limit=3&cursor={data['nextCursor']}"

        assert seen == [task.id for task in reversed(tasks)]

    def test_filters_by_status_action_and_creator(self, lister_client, organization):
        creator = UserFactory()
        failed = BulkTaskFactory(
            organization=organization, status=BulkTask.Status.FAILED, created_by=creator
        )
        BulkTaskFactory(
            organization=organization, status=BulkTask.Status.COMPLETED, action="other.action"
        )

        assert ids(lister_client.get(f"{LIST_URL}?status=failed")) == [failed.id]
        assert len(ids(lister_client.get(f"{LIST_URL}?action=other.action"))) == 1
        assert ids(lister_client.get(f"{LIST_URL}?createdBy={creator.id}")) == [failed.id]

    def test_only_the_organizations_tasks_are_listed(self, lister_client, organization):
        mine = BulkTaskFactory(organization=organization)
        BulkTaskFactory(organization=OrganizationFactory())

        assert ids(lister_client.get(LIST_URL)) == [mine.id]

    @pytest.mark.parametrize(
        ("query", "parameter"),
        [
            ("status=done", "status"),
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("cursor=xyz", "cursor"),
            ("createdBy=1", "createdBy"),
            # No action can have such a name, and 1,000 of them overflow a request line.
            ("action=%F0%9F%98%8D", "action"),
            ("action=" + "a" * 1001, "action"),
            # Python's ``$`` matches before a final newline; int() reads any script's digits.
            ("cursor=" + "a" * 24 + "%0A", "cursor"),
            ("createdBy=" + "a" * 24 + "%0A", "createdBy"),
            ("action=users.import%0A", "action"),
            ("limit=%EF%BC%91", "limit"),
            ("limit=5%0A", "limit"),
            ("limit=%205", "limit"),
            ("limit=5.0", "limit"),
        ],
    )
    def test_a_bad_query_parameter_is_400_naming_it(
        self, lister_client, organization, query, parameter
    ):
        response = lister_client.get(f"{LIST_URL}?{query}")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == 1001
        assert parameter in response.json()["error"]["message"]

    def test_listing_needs_the_list_permission(self, api_client, organization, make_member):
        getter = make_member(organization, [catalog.BULK_TASK_GET])

        response = api_client.get(LIST_URL, HTTP_AUTHORIZATION=bearer(getter))

        assert response.status_code == 403
        assert catalog.BULK_TASK_LIST in response.json()["error"]["message"]

    def test_an_outsider_gets_404(self, api_client, organization, make_member):
        outsider = make_member(OrganizationFactory(), [catalog.BULK_TASK_LIST])

        response = api_client.get(LIST_URL, HTTP_AUTHORIZATION=bearer(outsider))

        assert response.status_code == 404

    def test_a_list_costs_a_constant_number_of_queries(
        self, lister_client, organization, django_assert_max_num_queries
    ):
        for _ in range(30):
            BulkTaskFactory(organization=organization)

        with django_assert_max_num_queries(3):
            response = lister_client.get(f"{LIST_URL}?limit=100")

        assert len(ids(response)) == 30


class TestLines:
    @pytest.fixture
    def task(self, organization):
        task = BulkTaskFactory(organization=organization, num_skips=1500, num_errors=2500)
        BulkTaskLine.objects.bulk_create(
            BulkTaskLine(
                task=task,
                kind=BulkTaskLine.Kind.ERRORED if n % 8 < 5 else BulkTaskLine.Kind.SKIPPED,
                line=n,
                reason=f"reason {n}",
            )
            for n in range(2, 4002)
        )
        return task

    def walk(self, client, url: str) -> list[dict]:
        items: list[dict] = []
        cursor = None
        while True:
            joiner = "&" if "?" in url else "?"
            data = client.get(url + (f"{joiner}cursor={cursor}" if cursor else "")).json()["data"]
            items += data["items"]
            if not data["hasMore"]:
                return items
            cursor = data["nextCursor"]

    def test_every_errored_line_comes_in_line_order(self, lister_client, task):
        items = self.walk(lister_client, f"{LIST_URL}/{task.id}/lines?kind=errored&limit=1000")

        assert len(items) == 2500
        assert [item["line"] for item in items] == sorted(item["line"] for item in items)
        assert all(item["kind"] == "errored" for item in items)
        assert items[0] == {"line": 2, "kind": "errored", "reason": "reason 2"}

    def test_every_skipped_line_comes_with_its_reason(self, lister_client, task):
        items = self.walk(lister_client, f"{LIST_URL}/{task.id}/lines?kind=skipped&limit=500")

        assert len(items) == 1500
        assert all(item["kind"] == "skipped" and item["reason"] for item in items)

    def test_without_kind_both_kinds_come_in_line_order(self, lister_client, task):
        items = self.walk(lister_client, f"{LIST_URL}/{task.id}/lines?limit=1000")

        assert [item["line"] for item in items] == list(range(2, 4002))

    def test_bad_parameters_are_400(self, lister_client, task):
        for query, parameter in [
            ("kind=warning", "kind"),
            ("limit=5000", "limit"),
            ("cursor=-1", "cursor"),
        ]:
            response = lister_client.get(f"{LIST_URL}/{task.id}/lines?{query}")
            assert response.status_code == 400
            assert parameter in response.json()["error"]["message"]

    def test_another_organizations_task_is_404(self, lister_client):
        foreign = BulkTaskFactory(organization=OrganizationFactory())

        response = lister_client.get(f"{LIST_URL}/{foreign.id}/lines")

        assert response.status_code == 404
        assert response.json()["error"]["code"] == 3001

    def test_lines_need_the_get_permission(self, api_client, organization, make_member, task):
        lister = make_member(organization, [catalog.BULK_TASK_LIST])

        response = api_client.get(f"{LIST_URL}/{task.id}/lines", HTTP_AUTHORIZATION=bearer(lister))

        assert response.status_code == 403

    def test_no_token_is_401(self, api_client, task):
        assert api_client.get(f"{LIST_URL}/{task.id}/lines").status_code == 401

    def test_a_page_costs_a_constant_number_of_queries(
        self, lister_client, task, django_assert_max_num_queries
    ):
        with django_assert_max_num_queries(4):
            response = lister_client.get(f"{LIST_URL}/{task.id}/lines?limit=1000")

        assert len(response.json()["data"]["items"]) == 1000


class TestLinesQuery:
    @pytest.mark.parametrize(
        ("query", "parameter"),
        [
            ("cursor=10%0A", "cursor"),
            ("cursor=%EF%BC%91", "cursor"),
            ("limit=%EF%BC%91", "limit"),
            ("limit=10%0A", "limit"),
        ],
    )
    def test_a_number_not_in_ascii_digits_is_400_naming_it(
        self, lister_client, organization, query, parameter
    ):
        task = BulkTaskFactory(organization=organization)

        response = lister_client.get(f"{LIST_URL}/{task.id}/lines?{query}")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == 1001
        assert parameter in response.json()["error"]["message"]

    def test_ascii_digits_are_accepted(self, lister_client, organization):
        task = BulkTaskFactory(organization=organization)

        response = lister_client.get(f"{LIST_URL}/{task.id}/lines?cursor=0&limit=1")

        assert response.status_code == 200
