"""Exports in the admin: the task page links to the result, and each download is audited."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from bulktasks.models import BulkTaskFileDownload
from bulktasks.processing import bulk_task_process
from bulktasks.storage import bulk_task_storage
from tests.bulktasks.exports import export_pending, member, result_bytes
from tests.factories import UserFactory
from users.models import Organization

pytestmark = pytest.mark.django_db


def change_url(task) -> str:
    return reverse("admin:bulktasks_bulktask_change", args=[task.pk])


def result_url(task) -> str:
    return reverse("admin:bulktasks_bulktask_result", args=[task.pk])


def staff_with(*codenames: str):
    staff = UserFactory(is_staff=True, is_superuser=False)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return staff


@pytest.fixture
def completed(acme: Organization):
    member(acme, "ada@example.com", first_name="Ada")
    task = export_pending(acme, "jsonl")
    return bulk_task_process(bulk_task_id=task.pk)


def test_the_page_of_a_completed_export_links_to_its_result_and_the_download_is_audited(
    client: Client, completed
) -> None:
    staff = staff_with("view_bulktask", "download_bulktask_file")
    client.force_login(staff)

    page = client.get(change_url(completed)).content.decode()
    response = client.get(result_url(completed), REMOTE_ADDR="10.1.2.3")

    assert f'<a href="{result_url(completed)}">Download the result (jsonl)</a>' in page
    assert "1 rows written" not in page  # the changelist shows progress, the page the counters
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Disposition"] == (
        f'attachment; filename="acme-users-{completed.pk}.jsonl"'
    )
    assert b"".join(response.streaming_content) == result_bytes(completed)
    entry = BulkTaskFileDownload.objects.get()
    assert (entry.bulk_task_id, entry.file_original_name, entry.downloaded_by_id) == (
        completed.pk,
        f"acme-users-{completed.pk}.jsonl",
        staff.pk,
    )
    assert entry.ip_address == "10.1.2.3"


def test_staff_without_the_download_permission_get_no_link_and_403(
    client: Client, completed
) -> None:
    client.force_login(staff_with("view_bulktask"))

    page = client.get(change_url(completed)).content.decode()
    response = client.get(result_url(completed))

    assert result_url(completed) not in page
    assert response.status_code == 403
    assert not BulkTaskFileDownload.objects.exists()


def test_an_export_not_completed_has_no_link_and_no_download(
    staff_client: Client, acme: Organization
) -> None:
    task = export_pending(acme)

    page = staff_client.get(change_url(task)).content.decode()
    response = staff_client.get(result_url(task))

    assert "Not ready: the export is not completed" in page
    assert result_url(task) not in page
    assert response.status_code == 404
    assert not BulkTaskFileDownload.objects.exists()


def test_the_task_list_shows_an_exports_rows_written(staff_client: Client, completed) -> None:
    html = staff_client.get(reverse("admin:bulktasks_bulktask_changelist")).content.decode()

    assert (
        '<td class="field-progress"><progress max="1" value="1" aria-label="Rows written">'
        '</progress><span class="task-progress-text">1 rows written</span></td>'
    ) in html


def test_a_result_no_longer_stored_answers_410_as_the_api_does(
    staff_client: Client, completed
) -> None:
    bulk_task_storage().delete(completed.result_key)

    response = staff_client.get(result_url(completed))

    assert response.status_code == 410
    assert response.content == b"The result is no longer stored."
    assert not BulkTaskFileDownload.objects.exists()


def test_a_storage_that_fails_the_read_answers_a_404_page_not_a_500(
    staff_client: Client, completed
) -> None:
    refused = PermissionError(13, "Permission denied")
    with mock.patch.object(bulk_task_storage(), "open", side_effect=refused):
        response = staff_client.get(result_url(completed))

    assert response.status_code == 404
    assert b"could not be read from the file storage" in response.content
    assert not BulkTaskFileDownload.objects.exists()
