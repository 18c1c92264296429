"""Retention: finished tasks' stored files are deleted after BULK_TASK_FILE_RETENTION_DAYS; tasks stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from bulktasks import retention
from bulktasks.models import BulkTask, BulkTaskLine
from bulktasks.processing import bulk_task_process
from bulktasks.retention import bulk_task_files_expire
from bulktasks.services import bulk_task_retry
from bulktasks.storage import bulk_task_storage, bulk_task_stored_files, storage_folder_for
from bulktasks.tasks import expire_bulk_task_files
from tests.bulktasks.files import csv_file
from tests.bulktasks.pipeline import pending
from tests.conftest import bearer
from users import catalog

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def finished(organization, *, days_ago: float, status=BulkTask.Status.COMPLETED) -> BulkTask:
    """A processed task with an errored line, made to have finished ``days_ago`` days ago."""
    task = pending(organization, rows=["bad,A,B", "ok@example.com,O,K"])
    bulk_task_process(bulk_task_id=task.pk)
    BulkTask.objects.filter(pk=task.pk).update(
        status=status, finished_at=timezone.now() - days_ago * DAY
    )
    task.refresh_from_db()
    return task


def stored(task: BulkTask) -> bool:
    return bulk_task_storage().exists(task.file_key)


class TestTheSweep:
    def test_files_of_tasks_finished_longer_ago_are_deleted_and_the_task_stays(self, acme):
        old = finished(acme, days_ago=31)
        failed = finished(acme, days_ago=45, status=BulkTask.Status.FAILED)
        recent = finished(acme, days_ago=29)

        assert bulk_task_files_expire() == 2

        for task in (old, failed):
            task.refresh_from_db()
            assert task.file_expired_at is not None
            assert not stored(task)
            # The task and its report stay.
            assert task.status in (BulkTask.Status.COMPLETED, BulkTask.Status.FAILED)
            assert task.lines.filter(kind=BulkTaskLine.Kind.ERRORED).count() == 1
        recent.refresh_from_db()
        assert recent.file_expired_at is None
        assert stored(recent)

    def test_the_retention_period_is_the_setting(self, acme, settings):
        settings.BULK_TASK_FILE_RETENTION_DAYS = 7
        task = finished(acme, days_ago=8)

        assert bulk_task_files_expire() == 1
        assert not stored(task)

    def test_zero_days_keeps_files_forever(self, acme, settings):
        settings.BULK_TASK_FILE_RETENTION_DAYS = 0
        task = finished(acme, days_ago=3650)

        assert bulk_task_files_expire() == 0
        assert stored(task)

    @pytest.mark.parametrize("status", [BulkTask.Status.PENDING, BulkTask.Status.IN_PROGRESS])
    def test_a_task_not_finished_keeps_its_file_however_old(self, acme, status):
        task = pending(acme, rows=["a@example.com,A,B"])
        long_ago = timezone.now() - 400 * DAY
        # A task retried after it failed long ago: its finished_at is cleared, but
        # even a stale one must not count while it runs.
        BulkTask.objects.filter(pk=task.pk).update(
            status=status, created_at=long_ago, finished_at=long_ago
        )

        assert bulk_task_files_expire() == 0
        task.refresh_from_db()
        assert task.file_expired_at is None
        assert stored(task)

    def test_running_it_again_changes_nothing(self, acme):
        task = finished(acme, days_ago=40)
        assert bulk_task_files_expire() == 1
        task.refresh_from_db()
        first = task.file_expired_at

        assert bulk_task_files_expire() == 0
        task.refresh_from_db()
        assert task.file_expired_at == first

    def test_a_sweep_that_died_after_deleting_is_finished_by_the_next(self, acme, monkeypatch):
        task = finished(acme, days_ago=40)
        bulk_task_storage().delete(task.file_key)  # deleted, but never marked

        assert bulk_task_files_expire() == 1
        task.refresh_from_db()
        assert task.file_expired_at is not None

    def test_batches_walk_every_task_once(self, acme):
        tasks = [finished(acme, days_ago=40 + n) for n in range(5)]

        assert bulk_task_files_expire(batch=2) == 5
        assert BulkTask.objects.filter(file_expired_at__isnull=True).count() == 0
        assert not any(stored(task) for task in tasks)

    def test_a_task_whose_files_cannot_be_deleted_stays_unmarked_and_the_rest_go_on(
        self, acme, monkeypatch
    ):
        stuck, other = finished(acme, days_ago=50), finished(acme, days_ago=40)
        real_delete = retention.bulk_task_files_delete

        def delete(*, bulk_task):
            if bulk_task.pk == stuck.pk:
                raise PermissionError("read-only")
            return real_delete(bulk_task=bulk_task)

        monkeypatch.setattr(retention, "bulk_task_files_delete", delete)

        assert bulk_task_files_expire(batch=1) == 1
        stuck.refresh_from_db()
        other.refresh_from_db()
        assert (stuck.file_expired_at, other.file_expired_at is not None) == (None, True)

    def test_the_storage_away_stops_the_sweep_keeping_what_was_done(self, acme, monkeypatch):
        first, second = finished(acme, days_ago=50), finished(acme, days_ago=40)
        real_delete = retention.bulk_task_files_delete

        def delete(*, bulk_task):
            if bulk_task.pk == second.pk:
                raise ConnectionResetError(104, "reset")  # an OSError, but not "away"
            return real_delete(bulk_task=bulk_task)

        monkeypatch.setattr(retention, "bulk_task_files_delete", delete)
        monkeypatch.setattr(
            retention, "storage_is_unavailable", lambda exc: isinstance(exc, ConnectionResetError)
        )

        assert bulk_task_files_expire() == 1
        first.refresh_from_db()
        second.refresh_from_db()
        assert first.file_expired_at is not None
        assert second.file_expired_at is None

    def test_the_beat_schedule_runs_it(self, acme):
        entry = django_settings.CELERY_BEAT_SCHEDULE["bulk-tasks-files-expire"]
        assert entry["task"] == "bulktasks.tasks.expire_bulk_task_files"
        assert entry["schedule"] <= 24 * 3600
        task = finished(acme, days_ago=31)

        assert expire_bulk_task_files.apply().get() == 1
        assert not stored(task)


class TestStoredFiles:
    def test_every_file_in_the_tasks_folder_is_listed_and_deleted(self, acme):
        task = finished(acme, days_ago=31)
        folder = storage_folder_for(organization_id=acme.pk, bulk_task_id=task.pk)
        storage = bulk_task_storage()
        converted = storage.save(folder + "converted.csv", ContentFile(b"a"))
        export = storage.save(folder + "exports/result.csv", ContentFile(b"b"))

        assert sorted(bulk_task_stored_files(bulk_task=task)) == sorted(
            [task.file_key, converted, export]
        )
        bulk_task_files_expire()

        assert not any(storage.exists(key) for key in (task.file_key, converted, export))
        # Only the key the row names is still listed; nothing is left in the folder.
        assert bulk_task_stored_files(bulk_task=task) == [task.file_key]
        assert not storage.exists(folder.rstrip("/"))


class TestAfterExpiry:
    @pytest.fixture
    def expired(self, acme) -> BulkTask:
        task = finished(acme, days_ago=31, status=BulkTask.Status.FAILED)
        bulk_task_files_expire()
        task.refresh_from_db()
        return task

    def test_the_api_shows_when_the_file_expired(self, api_client, acme, make_member, expired):
        api_client.credentials(
            HTTP_AUTHORIZATION=bearer(make_member(acme, [catalog.BULK_TASK_GET]))
        )

        data = api_client.get(f"/v1/organizations/acme/bulk-tasks/{expired.pk}").json()["data"]

        assert data["file"]["expiredAt"] == expired.file_expired_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert data["report"]["numErrors"] == 1

    def test_a_stored_file_has_no_expired_at(self, api_client, acme, make_member):
        task = finished(acme, days_ago=1)
        api_client.credentials(
            HTTP_AUTHORIZATION=bearer(make_member(acme, [catalog.BULK_TASK_GET]))
        )

        data = api_client.get(f"/v1/organizations/acme/bulk-tasks/{task.pk}").json()["data"]

        assert "expiredAt" not in data["file"]

    def test_errors_csv_410(self, api_client, acme, make_member, expired):
        api_client.credentials(
            HTTP_AUTHORIZATION=bearer(make_member(acme, [catalog.BULK_TASK_GET]))
        )

        response = api_client.get(f"/v1/organizations/acme/bulk-tasks/{expired.pk}/errors.csv")

        assert response.status_code == 410
        assert response.json()["error"]["code"] == 3006

    def test_the_admin_download_410(self, staff_client, expired):
        response = staff_client.get(reverse("admin:bulktasks_bulktask_download", args=[expired.pk]))

        assert response.status_code == 410
        assert "expired" in response.content.decode()

    def test_the_admin_task_page_shows_the_expiry_instead_of_a_link(self, staff_client, expired):
        page = staff_client.get(reverse("admin:bulktasks_bulktask_change", args=[expired.pk]))

        html = page.content.decode()
        assert page.status_code == 200
        assert "Original file expired on" in html
        assert str(expired.file_expired_at.year) in html
        assert reverse("admin:bulktasks_bulktask_download", args=[expired.pk]) not in html

    def test_a_failed_task_whose_file_expired_is_not_retried(self, expired):
        retried = bulk_task_retry(bulk_task=expired)

        assert retried.status == BulkTask.Status.FAILED


def test_a_task_retried_meanwhile_keeps_its_file(acme):
    task = finished(acme, days_ago=40, status=BulkTask.Status.FAILED)
    bulk_task_retry(bulk_task=task)

    assert bulk_task_files_expire() == 0
    assert stored(task)


def test_csv_upload_fixture_is_untouched(acme):
    """The upload helper stores under the task's folder, where the sweep looks."""
    task = pending(acme, upload=csv_file(["a@example.com,A,B"]))

    assert task.file_key.startswith(
        storage_folder_for(organization_id=acme.pk, bulk_task_id=task.pk)
    )
