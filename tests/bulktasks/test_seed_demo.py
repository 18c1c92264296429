"""``manage.py seed_demo``: idempotent demo data whose tokens and credentials really work."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from bulktasks import demo
from bulktasks.models import BulkTask, BulkTaskLine, StorageProvider
from bulktasks.processing.claim import bulk_task_claim
from bulktasks.processing.sweep import bulk_task_sweep
from users.models import Membership, Organization, Role, User

pytestmark = pytest.mark.django_db

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
SEEDED_MODELS = (User, Organization, Role, Membership, BulkTask, BulkTaskLine, StorageProvider)


@pytest.fixture
def debug_on(settings: Any) -> None:
    settings.DEBUG = True


def seed_demo(*args: str) -> str:
    """Run the command and return what it printed."""
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def seed_demo_json() -> dict[str, Any]:
    return json.loads(seed_demo("--json"))


def api_get(token: str, path: str) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(path)


def task_url(slug_or_id: str, task_id: str) -> str:
    return f"/v1/organizations/{slug_or_id}/bulk-tasks/{task_id}"


def completed_task_id(demo: dict[str, Any]) -> str:
    return next(task["id"] for task in demo["bulkTasks"] if task["status"] == "completed")


def database_snapshot() -> dict[str, Any]:
    return {
        "counts": {model.__name__: model.objects.count() for model in SEEDED_MODELS},
        "tasks": dict(BulkTask.objects.values_list("id", "updated_at")),
        "users": dict(User.objects.values_list("email", "password")),
    }


# --- Output ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("debug_on")
def test_json_output_is_one_object_with_exactly_the_documented_keys() -> None:
    output = seed_demo("--json")

    demo = json.loads(output)  # fails on anything but exactly one JSON document

    assert isinstance(demo, dict)
    assert set(demo) == {
        "organization",
        "otherOrganization",
        "tokens",
        "bulkTasks",
        "otherBulkTaskId",
        "admin",
    }
    assert set(demo["organization"]) == {"id", "slug"}
    assert set(demo["otherOrganization"]) == {"id", "slug"}
    assert set(demo["tokens"]) == {"reader", "noPermission", "outsider"}
    assert all(set(task) == {"id", "status"} for task in demo["bulkTasks"])
    assert set(demo["admin"]) == {"email", "password"}


@pytest.mark.usefixtures("debug_on")
def test_json_ids_are_object_ids_and_tokens_are_strings() -> None:
    demo = seed_demo_json()

    ids = [
        demo["organization"]["id"],
        demo["otherOrganization"]["id"],
        demo["otherBulkTaskId"],
        *(task["id"] for task in demo["bulkTasks"]),
    ]
    assert all(OBJECT_ID.match(value) for value in ids), ids
    assert len(set(ids)) == len(ids)
    assert all(isinstance(token, str) and token for token in demo["tokens"].values())
    assert demo["organization"]["slug"] != demo["otherOrganization"]["slug"]


@pytest.mark.usefixtures("debug_on")
def test_json_tasks_cover_every_status_in_the_demo_organization() -> None:
    demo = seed_demo_json()

    statuses = [task["status"] for task in demo["bulkTasks"]]
    assert sorted(statuses) == sorted(["pending", "inProgress", "completed", "failed"])
    task_ids = [task["id"] for task in demo["bulkTasks"]]
    stored = dict(BulkTask.objects.filter(id__in=task_ids).values_list("id", "organization_id"))
    assert stored == dict.fromkeys(task_ids, demo["organization"]["id"])
    assert dict(BulkTask.objects.filter(id__in=task_ids).values_list("id", "status")) == {
        task["id"]: task["status"] for task in demo["bulkTasks"]
    }


@pytest.mark.usefixtures("debug_on")
def test_json_other_task_belongs_to_the_other_organization() -> None:
    demo = seed_demo_json()

    other = BulkTask.objects.get(pk=demo["otherBulkTaskId"])
    assert other.organization_id == demo["otherOrganization"]["id"]
    assert (
        Organization.objects.get(pk=demo["otherOrganization"]["id"]).slug
        == (demo["otherOrganization"]["slug"])
    )


@pytest.mark.usefixtures("debug_on")
def test_without_flags_it_prints_curl_commands_and_the_admin_url() -> None:
    output = seed_demo()

    assert "curl" in output
    assert "http://127.0.0.1:8000/admin/" in output
    assert "http://127.0.0.1:8000/v1/organizations/acme/bulk-tasks/" in output


@pytest.mark.usefixtures("debug_on")
def test_base_url_changes_the_printed_urls() -> None:
    output = seed_demo("--base-url", "https://bulk.example.com")

    assert "https://bulk.example.com/admin/" in output
    assert "https://bulk.example.com/v1/organizations/" in output
    assert "127.0.0.1" not in output


# --- Idempotence ----------------------------------------------------------------------------


@pytest.mark.usefixtures("debug_on")
def test_running_twice_changes_nothing() -> None:
    first = seed_demo_json()
    after_first = database_snapshot()

    second = seed_demo_json()
    after_second = database_snapshot()

    assert after_first["counts"]["BulkTask"] == 5
    assert after_first["counts"]["BulkTaskLine"] > 0
    assert after_second == after_first
    assert {key: value for key, value in second.items() if key != "tokens"} == {
        key: value for key, value in first.items() if key != "tokens"
    }


@pytest.mark.usefixtures("debug_on")
def test_seeding_again_gives_the_operator_a_permission_the_catalog_gained_since() -> None:
    seed_demo_json()
    for role in Role.objects.filter(name="Bulk operator"):
        role.permissions = [p for p in role.permissions if p != "base.bulk.management.cancel"]
        role.save()

    seed_demo_json()

    operators = list(Role.objects.filter(name="Bulk operator"))
    assert len(operators) == 2
    for role in operators:
        assert "base.bulk.management.cancel" in role.permissions


# --- The pending and in-progress tasks stay so while the demo runs ---------------------------


@pytest.fixture
def sent_to_the_queue(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids the sweeper sends to the queue, instead of sending them."""
    sent: list[str] = []
    monkeypatch.setattr(
        "bulktasks.processing.sweep.bulk_task_enqueue",
        lambda *, bulk_task_id: sent.append(bulk_task_id) or True,
    )
    return sent


def long_after_seeding() -> None:
    """Age every task well past the sweeper's grace period, as a demo left running does."""
    BulkTask.objects.update(updated_at=timezone.now() - timedelta(days=1))


@pytest.mark.usefixtures("debug_on")
def test_the_sweeper_leaves_the_held_pending_and_in_progress_tasks_alone(
    sent_to_the_queue: list[str],
) -> None:
    seed_demo_json()
    long_after_seeding()

    swept = bulk_task_sweep()

    assert swept == []
    assert sent_to_the_queue == []
    statuses = dict(BulkTask.objects.values_list("id", "status"))
    assert statuses[demo.PENDING_TASK_ID] == BulkTask.Status.PENDING
    assert statuses[demo.IN_PROGRESS_TASK_ID] == BulkTask.Status.IN_PROGRESS
    # The in-progress task keeps its scan: the sweeper did not undo it either.
    assert BulkTask.objects.get(pk=demo.IN_PROGRESS_TASK_ID).scanned_at is not None


@pytest.mark.usefixtures("debug_on")
def test_without_the_demo_lease_the_sweeper_would_send_both_tasks_back(
    sent_to_the_queue: list[str],
) -> None:
    seed_demo_json()
    BulkTask.objects.filter(lease_owner=demo.DEMO_LEASE_OWNER).update(
        lease_owner="", lease_expires_at=None
    )
    long_after_seeding()

    swept = bulk_task_sweep()

    assert sorted(swept) == [demo.PENDING_TASK_ID, demo.IN_PROGRESS_TASK_ID]
    assert sorted(sent_to_the_queue) == sorted(swept)


@pytest.mark.usefixtures("debug_on")
def test_a_worker_cannot_claim_the_held_tasks() -> None:
    seed_demo_json()

    for task_id in (demo.PENDING_TASK_ID, demo.IN_PROGRESS_TASK_ID):
        assert bulk_task_claim(bulk_task_id=task_id, owner="worker-1") is None
    held = BulkTask.objects.filter(lease_owner=demo.DEMO_LEASE_OWNER)
    assert sorted(held.values_list("id", flat=True)) == [
        demo.PENDING_TASK_ID,
        demo.IN_PROGRESS_TASK_ID,
    ]
    assert {task.lease_expires_at for task in held} == {demo.DEMO_LEASE_EXPIRES_AT}


@pytest.mark.usefixtures("debug_on")
def test_the_admin_task_page_shows_who_holds_the_demo_lease(client: Client) -> None:
    admin = seed_demo_json()["admin"]
    client.login(email=admin["email"], password=admin["password"])

    page = client.get(f"/admin/bulktasks/bulktask/{demo.PENDING_TASK_ID}/change/")

    assert page.status_code == 200
    assert demo.DEMO_LEASE_OWNER in page.content.decode()


@pytest.mark.usefixtures("debug_on")
def test_cancelling_a_held_task_ends_it_and_frees_its_lease() -> None:
    token = seed_demo_json()["tokens"]["reader"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = client.post(f"{task_url('acme', demo.PENDING_TASK_ID)}/cancel")

    assert response.status_code == 200, response.content
    task = BulkTask.objects.get(pk=demo.PENDING_TASK_ID)
    assert task.status == BulkTask.Status.FAILED
    assert task.lease_owner == ""
    assert task.lease_expires_at is None


# --- Refusal with DEBUG off ------------------------------------------------------------------


def test_refuses_to_run_with_debug_off(settings: Any) -> None:
    settings.DEBUG = False

    with pytest.raises(CommandError, match="--allow-production"):
        seed_demo("--json")

    assert not User.objects.exists()
    assert not BulkTask.objects.exists()


def test_allow_production_seeds_even_with_debug_off(settings: Any) -> None:
    settings.DEBUG = False

    demo = json.loads(seed_demo("--json", "--allow-production"))

    assert BulkTask.objects.filter(organization_id=demo["organization"]["id"]).count() == 4


@pytest.mark.parametrize("slug", [demo.ORGANIZATION_SLUG, demo.OTHER_ORGANIZATION_SLUG])
def test_refuses_to_add_demo_members_to_an_organization_it_did_not_make(
    settings: Any, slug: str
) -> None:
    settings.DEBUG = False
    real = Organization.objects.create(slug=slug, name="A real tenant")
    before = database_snapshot()

    with pytest.raises(CommandError, match=f"slug '{slug}' exists and was not made by the demo"):
        seed_demo("--json", "--allow-production")

    # Nothing at all was written: not the members, not the demo's admin account.
    assert database_snapshot() == before
    assert not Membership.objects.filter(organization=real).exists()
    assert not User.objects.filter(email=demo.ADMIN_EMAIL).exists()


@pytest.mark.usefixtures("debug_on")
def test_seeding_again_recognises_the_organizations_it_made() -> None:
    first = seed_demo_json()

    again = seed_demo_json()

    assert again["organization"]["id"] == first["organization"]["id"]


# --- The tokens and credentials work --------------------------------------------------------


@pytest.mark.usefixtures("debug_on")
def test_reader_token_reads_the_completed_task_with_its_report_lines() -> None:
    demo = seed_demo_json()
    slug = demo["organization"]["slug"]

    response = api_get(demo["tokens"]["reader"], task_url(slug, completed_task_id(demo)))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] is True
    assert body["data"]["id"] == completed_task_id(demo)
    assert body["data"]["status"] == "completed"
    assert body["data"]["report"]["skippedLines"]
    assert body["data"]["report"]["erroredLines"]
    assert all(line["reason"] for line in body["data"]["report"]["erroredLines"])


@pytest.mark.usefixtures("debug_on")
def test_reader_token_reads_every_demo_task_by_slug_and_by_id() -> None:
    demo = seed_demo_json()
    token = demo["tokens"]["reader"]

    for organization in (demo["organization"]["slug"], demo["organization"]["id"]):
        for task in demo["bulkTasks"]:
            response = api_get(token, task_url(organization, task["id"]))
            assert response.status_code == 200, (organization, task, response.content)
            assert response.json()["data"]["status"] == task["status"]


@pytest.mark.usefixtures("debug_on")
def test_no_permission_token_is_denied_with_4003() -> None:
    demo = seed_demo_json()
    slug = demo["organization"]["slug"]

    response = api_get(demo["tokens"]["noPermission"], task_url(slug, completed_task_id(demo)))

    assert response.status_code == 403
    assert response.json()["status"] is False
    assert response.json()["error"]["code"] == 4003


@pytest.mark.usefixtures("debug_on")
def test_outsider_token_gets_404_with_3001() -> None:
    demo = seed_demo_json()
    slug = demo["organization"]["slug"]

    response = api_get(demo["tokens"]["outsider"], task_url(slug, completed_task_id(demo)))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == 3001


@pytest.mark.usefixtures("debug_on")
def test_reader_cannot_reach_the_other_organizations_task_through_the_demo_organization() -> None:
    demo = seed_demo_json()
    slug = demo["organization"]["slug"]

    response = api_get(demo["tokens"]["reader"], task_url(slug, demo["otherBulkTaskId"]))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == 3001


@pytest.mark.usefixtures("debug_on")
def test_admin_credentials_log_in_to_the_admin(client: Client) -> None:
    admin = seed_demo_json()["admin"]

    login = client.post(
        "/admin/login/?next=/admin/",
        {"username": admin["email"], "password": admin["password"]},
    )
    index = client.get("/admin/")

    assert login.status_code == 302
    assert login["Location"] == "/admin/"
    assert index.status_code == 200
    assert index.context["user"].email == admin["email"]


@pytest.mark.usefixtures("debug_on")
def test_admin_credentials_work_with_client_login(client: Client) -> None:
    admin = seed_demo_json()["admin"]

    assert client.login(email=admin["email"], password=admin["password"])
    assert client.get("/admin/bulktasks/bulktask/").status_code == 200
