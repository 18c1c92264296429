"""users.export with the rest of a task's life: retention, cancel, webhooks, dry run, spreadsheets."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from bulktasks.actions import action_get
from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.processing import bulk_task_chunk_process, bulk_task_claim, bulk_task_process
from bulktasks.processing.export import export_assemble, export_snapshot
from bulktasks.retention import bulk_task_files_expire
from bulktasks.services import bulk_task_cancel, bulk_task_export_create
from bulktasks.storage import bulk_task_storage, bulk_task_stored_files, storage_folder_for
from core.exceptions import ValidationFailed
from tests.bulktasks.exports import export_pending, many_members, member, result_bytes
from tests.bulktasks.pipeline import pending
from tests.conftest import bearer
from tests.factories import OrganizationFactory, UserFactory, WebhookEndpointFactory
from users import catalog
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

URL = "/v1/organizations/acme/bulk-tasks"
DAY = timedelta(days=1)


def completed_export(organization, result_format="csv") -> BulkTask:
    task = export_pending(organization, result_format)
    done = bulk_task_process(bulk_task_id=task.pk)
    assert done is not None
    assert done.status == BulkTask.Status.COMPLETED, done.error
    return done


def snapshotted(task: BulkTask) -> list[BulkTaskChunk]:
    """The export's snapshot taken as a worker takes it, without dispatching; its chunks in order."""
    claimed = bulk_task_claim(bulk_task_id=task.pk, owner="scanner")
    assert claimed is not None
    export_snapshot(
        bulk_task=claimed, owner="scanner", action=action_get("users.export"), dispatch=False
    )
    return list(BulkTaskChunk.objects.filter(task=task).order_by("index"))


def all_stored(task: BulkTask) -> list[str]:
    storage = bulk_task_storage()
    return [key for key in bulk_task_stored_files(bulk_task=task) if storage.exists(key)]


def aged(task: BulkTask, days: float = 31) -> None:
    BulkTask.objects.filter(pk=task.pk).update(finished_at=timezone.now() - days * DAY)


@pytest.fixture
def getter(api_client, acme, make_member):
    api_client.credentials(HTTP_AUTHORIZATION=bearer(make_member(acme, [catalog.BULK_TASK_GET])))
    return api_client


# -- Retention --------------------------------------------------------------------


class TestRetention:
    def test_the_stored_files_of_an_export_are_its_result_and_its_recorded_parts(
        self, acme, settings
    ):
        settings.BULK_TASK_CHUNK_SIZE = 2
        many_members(acme, 5)
        task = export_pending(acme)
        first, *_ = snapshotted(task)
        bulk_task_chunk_process(chunk_id=first.pk, dispatch=False)
        first.refresh_from_db()
        task.refresh_from_db()
        folder = storage_folder_for(organization_id=acme.pk, bulk_task_id=task.pk)

        assert first.part_key.startswith(folder + "parts/")
        assert all_stored(task) == [first.part_key]

        done = completed_export(acme)

        assert done.result_key.startswith(
            storage_folder_for(organization_id=acme.pk, bulk_task_id=done.pk) + "result/"
        )
        assert all_stored(done) == [done.result_key]

    def test_retention_deletes_a_result_and_the_parts_a_cancelled_export_left(
        self, acme, settings, staff
    ):
        settings.BULK_TASK_CHUNK_SIZE = 2
        many_members(acme, 5)
        done = completed_export(acme)
        cancelled = export_pending(acme)
        first, *_ = snapshotted(cancelled)
        bulk_task_chunk_process(chunk_id=first.pk, dispatch=False)
        bulk_task_cancel(bulk_task=cancelled, cancelled_by=staff)
        assert len(all_stored(cancelled)) == 1  # the done chunk's part, left for retention
        recent = completed_export(acme)
        for task in (done, cancelled):
            aged(task)

        assert bulk_task_files_expire() == 2

        for task in (done, cancelled):
            task.refresh_from_db()
            assert task.file_expired_at is not None
            assert all_stored(task) == []
        recent.refresh_from_db()
        assert recent.file_expired_at is None
        assert all_stored(recent) == [recent.result_key]

    def test_an_expired_result_answers_410_with_code_3006(self, acme, getter):
        member(acme, "ada@example.com")
        task = completed_export(acme)
        aged(task)
        bulk_task_files_expire()

        response = getter.get(f"{URL}/{task.pk}/result")

        assert response.status_code == 410
        assert response.json()["error"]["code"] == 3006
        # The task and its count stay: Ada and the member asking.
        data = getter.get(f"{URL}/{task.pk}").json()["data"]
        assert (data["status"], data["report"]["numItems"]) == ("completed", 2)

    def test_a_result_missing_from_the_storage_answers_410_too(self, acme, getter):
        task = completed_export(acme)
        bulk_task_storage().delete(task.result_key)

        response = getter.get(f"{URL}/{task.pk}/result")

        assert response.status_code == 410
        assert response.json()["error"]["code"] == 3006

    def test_the_admin_shows_an_expired_result_and_its_link_answers_410(self, acme, staff_client):
        task = completed_export(acme)
        link = reverse("admin:bulktasks_bulktask_result", args=[task.pk])
        page = staff_client.get(reverse("admin:bulktasks_bulktask_change", args=[task.pk]))
        assert link in page.content.decode()
        aged(task)
        bulk_task_files_expire()

        page = staff_client.get(reverse("admin:bulktasks_bulktask_change", args=[task.pk]))
        download = staff_client.get(link)

        assert "Result expired on" in page.content.decode()
        assert link not in page.content.decode()
        assert download.status_code == 410


# -- Cancel -----------------------------------------------------------------------


class TestCancel:
    @pytest.fixture
    def canceller(self, api_client, acme, make_member):
        user = make_member(acme, [catalog.BULK_TASK_CANCEL, catalog.BULK_TASK_GET])
        api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
        return api_client

    def test_a_pending_export_is_cancelled_and_never_runs(self, acme, canceller):
        member(acme, "ada@example.com")
        task = export_pending(acme)

        response = canceller.post(f"{URL}/{task.pk}/cancel")
        bulk_task_process(bulk_task_id=task.pk)

        assert response.status_code == 200, response.content
        data = response.json()["data"]
        assert data["status"] == "failed"
        assert data["error"].startswith("Cancelled by ")
        task.refresh_from_db()
        assert (task.status, task.result_key, task.scanned_at) == ("failed", "", None)
        result = canceller.get(f"{URL}/{task.pk}/result")
        assert result.status_code == 409
        assert result.json()["error"]["code"] == 3008

    def test_an_export_in_progress_stops_and_its_parts_are_never_joined(
        self, acme, settings, staff
    ):
        settings.BULK_TASK_CHUNK_SIZE = 2
        many_members(acme, 5)
        task = export_pending(acme)
        first, second, third = snapshotted(task)
        bulk_task_chunk_process(chunk_id=first.pk, dispatch=False)

        bulk_task_cancel(bulk_task=task, cancelled_by=staff)
        for chunk in (second, third):
            assert bulk_task_chunk_process(chunk_id=chunk.pk, dispatch=False) is None
        joined = export_assemble(bulk_task_id=task.pk, owner="late")

        assert joined is None
        task.refresh_from_db()
        assert task.status == BulkTask.Status.FAILED
        assert task.is_cancelled
        assert task.result_key == ""
        assert task.num_items == 2  # the committed chunk's rows, nothing more
        parts = bulk_task_storage().listdir(
            storage_folder_for(organization_id=acme.pk, bulk_task_id=task.pk) + "parts/"
        )[1]
        assert len(parts) == 1  # only the committed chunk's part; later chunks wrote none

    def test_a_cancel_after_the_last_chunk_but_before_the_join_leaves_no_result(
        self, acme, settings, staff
    ):
        settings.BULK_TASK_CHUNK_SIZE = 10
        many_members(acme, 3)
        task = export_pending(acme)
        [only] = snapshotted(task)
        # The chunk's commit, without the join its worker would do next.
        with mock.patch("bulktasks.processing.chunks.export_assemble") as join:
            bulk_task_chunk_process(chunk_id=only.pk, dispatch=False)
        assert join.called

        bulk_task_cancel(bulk_task=task, cancelled_by=staff)

        assert export_assemble(bulk_task_id=task.pk, owner="worker") is None
        task.refresh_from_db()
        assert (task.status, task.result_key) == ("failed", "")


# -- Webhooks ---------------------------------------------------------------------


def events_of(task: BulkTask) -> list[dict]:
    return [
        json.loads(body)
        for body in WebhookEvent.objects.filter(bulk_task_id=task.pk)
        .order_by("id")
        .values_list("body", flat=True)
    ]


class TestWebhooks:
    def test_an_export_completing_sends_bulk_task_completed_once(self, acme, settings):
        settings.BULK_TASK_CHUNK_SIZE = 2
        WebhookEndpointFactory(organization=acme)
        many_members(acme, 3)
        task = completed_export(acme)

        bulk_task_process(bulk_task_id=task.pk)  # a duplicate message: nothing more
        export_assemble(bulk_task_id=task.pk, owner="late")

        [event] = events_of(task)
        assert event["type"] == "bulkTask.completed"
        assert event["data"]["id"] == task.pk
        assert event["data"]["status"] == "completed"
        assert event["data"]["report"]["numItems"] == 3
        assert event["data"]["config"]["format"] == "csv"

    def test_an_export_whose_part_is_gone_runs_its_chunk_again_and_completes_once(
        self, acme, settings
    ):
        settings.BULK_TASK_CHUNK_SIZE = 2
        WebhookEndpointFactory(organization=acme)
        many_members(acme, 3)
        task = export_pending(acme)
        chunks = snapshotted(task)
        with mock.patch("bulktasks.processing.chunks.export_assemble"):
            for chunk in chunks:
                bulk_task_chunk_process(chunk_id=chunk.pk, dispatch=False)
        bulk_task_storage().delete(BulkTaskChunk.objects.get(task=task, index=0).part_key)

        assert export_assemble(bulk_task_id=task.pk, owner="worker", dispatch=False) is None
        assert events_of(task) == []
        done = bulk_task_process(bulk_task_id=task.pk)

        assert (done.status, done.num_items) == ("completed", 3)
        [event] = events_of(task)
        assert event["type"] == "bulkTask.completed"
        assert event["data"]["report"]["numItems"] == 3

    def test_a_cancelled_export_sends_bulk_task_failed(self, acme, staff):
        WebhookEndpointFactory(organization=acme)
        task = export_pending(acme)

        bulk_task_cancel(bulk_task=task, cancelled_by=staff)

        assert [event["type"] for event in events_of(task)] == ["bulkTask.failed"]


# -- Dry run, override, column mapping --------------------------------------------


class TestCreation:
    @pytest.fixture
    def exporter(self, api_client, acme, make_member):
        user = make_member(acme, [catalog.BULK_TASK_EXPORT, catalog.BULK_TASK_GET])
        api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
        return api_client

    def test_an_export_shows_dry_run_false_in_its_config(self, exporter):
        response = exporter.post(URL, {"action": "users.export"}, format="multipart")

        assert response.status_code == 201, response.content
        assert response.json()["data"]["config"] == {
            "override": False,
            "dryRun": False,
            "format": "csv",
        }

    @pytest.mark.parametrize(
        ("field", "value", "named"),
        [
            ("dryRun", "true", "dryRun: users.export writes nothing to preview"),
            ("override", "true", "override: users.export has nothing to override"),
            ("columns", '{"Mail": "email"}', "columns: users.export reads no file to map"),
        ],
    )
    def test_what_an_export_cannot_mean_is_400_1002_and_creates_nothing(
        self, exporter, field, value, named
    ):
        response = exporter.post(URL, {"action": "users.export", field: value}, format="multipart")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == 1002
        assert named in response.json()["error"]["message"]
        assert not BulkTask.objects.exists()

    def test_a_dry_run_false_export_is_an_ordinary_export(self, exporter):
        response = exporter.post(
            URL, {"action": "users.export", "dryRun": "false"}, format="multipart"
        )

        assert response.status_code == 201, response.content
        assert BulkTask.objects.get().dry_run is False

    def test_the_service_refuses_a_dry_run_export(self, acme):
        with pytest.raises(ValidationFailed, match="dryRun"):
            bulk_task_export_create(
                organization=acme, created_by=None, action="users.export", dry_run=True
            )

    def test_a_dry_run_import_of_an_export_previews_it_and_writes_nothing(self, acme):
        member(acme, "ada@example.com", first_name="Ada", roles=("ops",))
        content = result_bytes(completed_export(acme))
        globex = OrganizationFactory(slug="globex")

        task = pending(globex, upload=ContentFile(content, name="acme.csv"), dry_run=True)
        done = bulk_task_process(bulk_task_id=task.pk)

        assert (done.status, done.num_inserts, done.num_errors) == ("completed", 1, 0), done.error
        assert globex.memberships.count() == 0

    def test_the_admin_upload_form_offers_only_actions_that_read_a_file(self, staff_client):
        page = staff_client.get(reverse("admin:bulktasks_bulktask_upload"))

        html = page.content.decode()
        assert 'value="users.import"' in html
        assert 'value="users.export"' not in html


# -- A spreadsheet export read back ----------------------------------------------


def test_an_xlsx_export_imports_into_another_organization_with_its_cells_restored(acme):
    member(acme, "ada@example.com", first_name="=SUM(A1)", last_name="-x", roles=("ops",))
    member(acme, "bob@example.com", first_name="'+q", last_name="Plain")
    workbook = result_bytes(completed_export(acme, "xlsx"))
    globex = OrganizationFactory(slug="globex")

    imported = pending(globex, upload=ContentFile(workbook, name="acme.xlsx"))
    done = bulk_task_process(bulk_task_id=imported.pk)

    assert done.status == "completed", done.error
    assert (done.num_items, done.num_inserts, done.num_errors) == (2, 2, 0)
    profiles = {
        m.user.email: (m.first_name, m.last_name) for m in globex.memberships.select_related("user")
    }
    assert profiles == {"ada@example.com": ("=SUM(A1)", "-x"), "bob@example.com": ("'+q", "Plain")}
    assert not globex.memberships.filter(roles__isnull=False).exists()


def test_an_xlsx_export_imported_back_with_override_changes_nothing(acme):
    many_members(acme, 3)
    UserFactory(email="not-a-member@example.com")
    workbook = result_bytes(completed_export(acme, "xlsx"))

    again = pending(acme, upload=ContentFile(workbook, name="acme.xlsx"), override=True)
    done = bulk_task_process(bulk_task_id=again.pk)

    assert (done.num_inserts, done.num_updates, done.num_skips) == (0, 0, 3), done.error
