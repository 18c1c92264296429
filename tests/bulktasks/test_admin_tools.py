"""Staff tools in the admin: upload a file, download it back, retry failed tasks, see progress."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bulktasks.models import BulkTask, BulkTaskFileDownload
from bulktasks.processing import bulk_task_process
from bulktasks.services import bulk_task_create
from bulktasks.storage import bulk_task_storage
from tests.bulktasks.files import csv_file, people_rows, raw_file
from tests.factories import BulkTaskFactory, OrganizationFactory, UserFactory
from users.models import Organization, User

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:bulktasks_bulktask_changelist")
UPLOAD_URL = reverse("admin:bulktasks_bulktask_upload")
LOGIN_URL = reverse("admin:login")


def change_url(task: BulkTask) -> str:
    return reverse("admin:bulktasks_bulktask_change", args=[task.pk])


def download_url(task: BulkTask) -> str:
    return reverse("admin:bulktasks_bulktask_download", args=[task.pk])


def progress_cells(html: str) -> list[str]:
    """The text of every Progress cell on a changelist page, in row order, without its tags."""
    cells = re.findall(r'<td class="field-progress">(.*?)</td>', html, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def create_task(
    organization: Organization, upload: object, *, created_by: User | None = None
) -> BulkTask:
    """A pending task for an upload, created as the API and the command line do."""
    task, created = bulk_task_create(
        organization=organization,
        created_by=created_by,
        action="users.import",
        file=upload,
        original_name=upload.name,  # type: ignore[attr-defined]
        enqueue=False,
    )
    assert created
    return task


def processed_task(organization: Organization, upload: object) -> BulkTask:
    """A task created from an upload and processed to its end, in this process."""
    task = create_task(organization, upload)
    finished = bulk_task_process(bulk_task_id=task.pk)
    assert finished is not None
    return finished


@pytest.fixture
def acme() -> Organization:
    return OrganizationFactory(slug="acme")


# --- Uploading a file ----------------------------------------------------------------------


def test_changelist_links_to_the_upload_page(staff_client: Client) -> None:
    response = staff_client.get(CHANGELIST_URL)

    assert response.status_code == 200
    content = response.content.decode()
    assert re.search(rf'<a href="{re.escape(UPLOAD_URL)}"[^>]*>Upload a file</a>', content)


def test_upload_page_shows_the_organization_action_override_and_file_fields(
    staff_client: Client, acme: Organization
) -> None:
    response = staff_client.get(UPLOAD_URL)

    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.fields) == ["organization", "action", "override", "dry_run", "file", "columns"]
    assert ("users.import", "users.import") in form.fields["action"].choices
    content = response.content.decode()
    for name in ("organization", "action", "override", "dry_run", "file", "columns"):
        assert f'name="{name}"' in content
    assert 'enctype="multipart/form-data"' in content
    assert '<option value="users.import">users.import</option>' in content
    assert f'<option value="{acme.pk}">' in content


def test_uploading_a_csv_creates_one_pending_task_for_the_organization(
    staff_client: Client, staff: User, acme: Organization
) -> None:
    OrganizationFactory(slug="globex")
    upload = csv_file(people_rows(3), name="roster.csv")
    content = upload.read()
    upload.seek(0)

    response = staff_client.post(
        UPLOAD_URL, {"organization": acme.pk, "action": "users.import", "file": upload}
    )

    task = BulkTask.objects.get()
    assert response.status_code == 302
    assert response["Location"] == change_url(task)
    assert task.organization == acme
    assert task.created_by == staff
    assert task.action == "users.import"
    assert task.override is False
    assert task.status == BulkTask.Status.PENDING
    assert task.file_original_name == "roster.csv"
    assert task.file_mimetype == "text/csv"
    assert task.file_size == len(content)
    assert task.file_checksum == hashlib.sha256(content).hexdigest()
    with bulk_task_storage().open(task.file_key, "rb") as stored:
        assert stored.read() == content


def test_uploading_with_override_records_it_on_the_task(
    staff_client: Client, acme: Organization
) -> None:
    response = staff_client.post(
        UPLOAD_URL,
        {
            "organization": acme.pk,
            "action": "users.import",
            "override": "on",
            "file": csv_file(people_rows(1)),
        },
    )

    assert response.status_code == 302
    assert BulkTask.objects.get().override is True


def test_uploading_a_pdf_shows_a_form_error_and_creates_nothing(
    staff_client: Client, acme: Organization
) -> None:
    pdf = raw_file(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", name="people.csv")

    response = staff_client.post(
        UPLOAD_URL, {"organization": acme.pk, "action": "users.import", "file": pdf}
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "Unsupported file type" in " ".join(errors["file"])
    assert "Unsupported file type" in response.content.decode()
    assert not BulkTask.objects.exists()


def test_uploading_without_a_file_shows_a_form_error_and_creates_nothing(
    staff_client: Client, acme: Organization
) -> None:
    response = staff_client.post(UPLOAD_URL, {"organization": acme.pk, "action": "users.import"})

    assert response.status_code == 200
    assert "file" in response.context["form"].errors
    assert not BulkTask.objects.exists()


def test_a_non_staff_user_is_sent_to_login_from_the_upload_page(
    client: Client, acme: Organization
) -> None:
    client.force_login(UserFactory(is_staff=False))

    get = client.get(UPLOAD_URL)
    post = client.post(
        UPLOAD_URL,
        {"organization": acme.pk, "action": "users.import", "file": csv_file(people_rows(1))},
    )

    for response in (get, post):
        assert response.status_code == 302
        assert response["Location"].startswith(f"{LOGIN_URL}?next=")
    assert not BulkTask.objects.exists()


# --- Downloading the original file ---------------------------------------------------------


def test_download_returns_the_original_file_as_an_attachment(
    staff_client: Client, acme: Organization
) -> None:
    upload = csv_file(people_rows(4), name="quarterly-roster.csv")
    content = upload.read()
    upload.seek(0)
    task = create_task(acme, upload)

    response = staff_client.get(download_url(task))

    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    response.close()
    assert body == content
    assert response["Content-Disposition"] == 'attachment; filename="quarterly-roster.csv"'
    assert response["Content-Type"].startswith("text/csv")


def test_task_page_links_to_the_download(staff_client: Client, acme: Organization) -> None:
    task = create_task(acme, csv_file(people_rows(1), name="roster.csv"))

    response = staff_client.get(change_url(task))

    assert response.status_code == 200
    assert f'<a href="{download_url(task)}">Download roster.csv</a>' in response.content.decode()


def test_a_non_staff_user_is_sent_to_login_from_the_download(
    client: Client, acme: Organization
) -> None:
    task = create_task(acme, csv_file(people_rows(1)))
    client.force_login(UserFactory(is_staff=False))

    response = client.get(download_url(task))

    assert response.status_code == 302
    assert response["Location"].startswith(f"{LOGIN_URL}?next=")


def staff_with(*codenames: str) -> User:
    """A staff member who is not a superuser, holding the given permissions."""
    staff = UserFactory(is_staff=True, is_superuser=False)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return staff


def test_staff_without_the_download_permission_get_403_and_no_link(
    client: Client, acme: Organization
) -> None:
    task = create_task(acme, csv_file(people_rows(1), name="roster.csv"))
    client.force_login(staff_with("view_bulktask"))

    page = client.get(change_url(task))
    download = client.get(download_url(task))

    assert page.status_code == 200
    assert download_url(task) not in page.content.decode()
    assert download.status_code == 403
    assert not BulkTaskFileDownload.objects.exists()


def test_staff_with_the_download_permission_download_and_each_download_is_audited(
    client: Client, acme: Organization
) -> None:
    task = create_task(acme, csv_file(people_rows(2), name="roster.csv"))
    staff = staff_with("view_bulktask", "download_bulktask_file")
    client.force_login(staff)

    page = client.get(change_url(task))
    # Without trusted proxies (NUM_PROXIES=0) a forwarded address is ignored.
    responses = [
        client.get(download_url(task), REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="6.6.6.6")
        for _ in range(2)
    ]
    bodies = [b"".join(response.streaming_content) for response in responses]

    assert f'<a href="{download_url(task)}">Download roster.csv</a>' in page.content.decode()
    assert [response.status_code for response in responses] == [200, 200]
    assert bodies[0] == bodies[1] != b""
    logged = list(BulkTaskFileDownload.objects.order_by("id"))
    assert len(logged) == 2
    assert {
        (entry.bulk_task_id, entry.task_reference, entry.file_original_name) for entry in logged
    } == {(task.pk, task.pk, "roster.csv")}
    assert {(entry.downloaded_by_id, entry.downloaded_by_email) for entry in logged} == {
        (staff.pk, staff.email)
    }
    assert {entry.ip_address for entry in logged} == {"10.1.2.3"}
    assert logged[0].downloaded_at <= logged[1].downloaded_at <= timezone.now()


def test_a_file_no_longer_stored_is_not_recorded_as_downloaded(
    staff_client: Client, acme: Organization
) -> None:
    task = create_task(acme, csv_file(people_rows(1)))
    bulk_task_storage().delete(task.file_key)

    assert staff_client.get(download_url(task)).status_code == 404
    assert not BulkTaskFileDownload.objects.exists()


def test_superusers_read_the_download_log_and_nobody_can_edit_it(
    staff_client: Client, acme: Organization
) -> None:
    task = create_task(acme, csv_file(people_rows(1), name="roster.csv"))
    b"".join(staff_client.get(download_url(task)).streaming_content)
    entry = BulkTaskFileDownload.objects.get()
    log_url = reverse("admin:bulktasks_bulktaskfiledownload_changelist")
    entry_url = reverse("admin:bulktasks_bulktaskfiledownload_change", args=[entry.pk])

    log = staff_client.get(log_url)
    page = staff_client.get(entry_url)
    edit = staff_client.post(entry_url, {"downloaded_by_email": "someone@else.example"})
    add = staff_client.get(reverse("admin:bulktasks_bulktaskfiledownload_add"))
    delete = staff_client.post(
        reverse("admin:bulktasks_bulktaskfiledownload_delete", args=[entry.pk]), {"post": "yes"}
    )

    assert log.status_code == 200
    assert {row.pk for row in log.context["cl"].result_list} == {entry.pk}
    assert "roster.csv" in log.content.decode()
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert (edit.status_code, add.status_code, delete.status_code) == (403, 403, 403)
    entry.refresh_from_db()
    assert entry.downloaded_by_email != "someone@else.example"


def test_staff_who_are_not_superusers_cannot_read_the_download_log(client: Client) -> None:
    client.force_login(
        staff_with("view_bulktask", "download_bulktask_file", "view_bulktaskfiledownload")
    )

    log = client.get(reverse("admin:bulktasks_bulktaskfiledownload_changelist"))
    index = client.get(reverse("admin:index"))

    assert log.status_code == 403
    assert "bulktaskfiledownload" not in index.content.decode()


def test_the_download_log_outlives_the_task(staff_client: Client, acme: Organization) -> None:
    task = create_task(acme, csv_file(people_rows(1)))
    b"".join(staff_client.get(download_url(task)).streaming_content)
    task_id = task.pk

    acme.delete()

    entry = BulkTaskFileDownload.objects.get()
    assert (entry.bulk_task_id, entry.task_reference) == (None, task_id)
    log = staff_client.get(reverse("admin:bulktasks_bulktaskfiledownload_changelist"))
    assert task_id in log.content.decode()


# --- Retrying failed tasks -----------------------------------------------------------------


def test_retry_action_sends_failed_tasks_back_and_leaves_others_alone(
    staff_client: Client, acme: Organization
) -> None:
    failed = processed_task(acme, csv_file(people_rows(2), header="mail,firstName,lastName"))
    completed = processed_task(acme, csv_file(people_rows(2)))
    assert failed.status == BulkTask.Status.FAILED
    assert failed.error
    assert completed.status == BulkTask.Status.COMPLETED

    response = staff_client.post(
        CHANGELIST_URL,
        {"action": "retry_failed", "_selected_action": [failed.pk, completed.pk]},
        follow=True,
    )

    assert response.status_code == 200
    failed.refresh_from_db()
    completed.refresh_from_db()
    assert failed.status == BulkTask.Status.PENDING
    assert failed.error == ""
    assert failed.finished_at is None
    assert completed.status == BulkTask.Status.COMPLETED
    messages = [str(message) for message in response.context["messages"]]
    assert "1 task(s) sent back to the queue." in messages
    assert "1 task(s) were not failed, or their file has expired; left alone." in messages


def test_retry_action_counts_every_failed_task_it_retries(
    staff_client: Client, acme: Organization
) -> None:
    failed = [
        processed_task(acme, csv_file(people_rows(1), header="mail,firstName,lastName"))
        for _ in range(2)
    ]

    response = staff_client.post(
        CHANGELIST_URL,
        {"action": "retry_failed", "_selected_action": [task.pk for task in failed]},
        follow=True,
    )

    messages = [str(message) for message in response.context["messages"]]
    assert messages == ["2 task(s) sent back to the queue."]
    statuses = set(BulkTask.objects.values_list("status", flat=True))
    assert statuses == {BulkTask.Status.PENDING}


# --- The progress column -------------------------------------------------------------------


def test_progress_column_shows_lines_done_out_of_lines_known(
    staff_client: Client, acme: Organization
) -> None:
    task = processed_task(acme, csv_file(people_rows(5)))
    assert (task.status, task.num_items) == (BulkTask.Status.COMPLETED, 5)

    response = staff_client.get(CHANGELIST_URL)

    assert response.status_code == 200
    assert progress_cells(response.content.decode()) == ["5 / 5"]


def test_progress_column_says_waiting_for_a_task_never_scanned(staff_client: Client) -> None:
    task = BulkTaskFactory(status=BulkTask.Status.PENDING)
    assert task.scanned_at is None

    response = staff_client.get(CHANGELIST_URL)

    assert response.status_code == 200
    assert progress_cells(response.content.decode()) == ["waiting"]


def test_download_of_an_unknown_task_is_404(staff_client: Client) -> None:
    response = staff_client.get(reverse("admin:bulktasks_bulktask_download", args=["a" * 24]))

    assert response.status_code == 404


def test_download_of_a_file_no_longer_stored_is_404_not_500(
    staff_client: Client, acme: Organization
) -> None:
    task = create_task(acme, csv_file(people_rows(1)))
    bulk_task_storage().delete(task.file_key)

    response = staff_client.get(download_url(task))

    assert response.status_code == 404


def test_staff_without_the_add_permission_cannot_upload(client: Client, acme: Organization) -> None:
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_bulktask"))
    client.force_login(viewer)

    page = client.get(reverse("admin:bulktasks_bulktask_upload"))
    changelist = client.get(reverse("admin:bulktasks_bulktask_changelist"))

    assert page.status_code == 403
    assert changelist.status_code == 200
    assert "Upload a file" not in changelist.content.decode()
    assert 'value="retry_failed"' not in changelist.content.decode()


def errors_csv_url(task: BulkTask) -> str:
    return reverse("admin:bulktasks_bulktask_errors_csv", args=[task.pk])


def test_staff_who_may_download_get_the_errored_lines_as_errors_csv_audited(
    client: Client, acme: Organization
) -> None:
    task = processed_task(acme, csv_file(["not-an-email,Bad,Row", *people_rows(1)]))
    staff = staff_with("view_bulktask", "download_bulktask_file")
    client.force_login(staff)

    page = client.get(change_url(task)).content.decode()
    response = client.get(errors_csv_url(task))

    assert f'href="{errors_csv_url(task)}"' in page
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="people-errors.csv"'
    rows = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert rows == [
        '"email","firstName","lastName","errorLine","errorReason"',
        '"not-an-email","Bad","Row","2","email: \'not-an-email\' is not a valid e-mail address"',
    ]
    [logged] = BulkTaskFileDownload.objects.all()
    assert (logged.task_reference, logged.file_original_name) == (task.pk, "people-errors.csv")


def test_errors_csv_in_the_admin_needs_the_download_permission(
    client: Client, acme: Organization
) -> None:
    task = processed_task(acme, csv_file(["not-an-email,Bad,Row"]))
    client.force_login(staff_with("view_bulktask"))

    page = client.get(change_url(task)).content.decode()
    response = client.get(errors_csv_url(task))

    assert errors_csv_url(task) not in page
    assert response.status_code == 403
    assert not BulkTaskFileDownload.objects.exists()


def test_errors_csv_of_an_expired_file_is_410_in_the_admin(
    client: Client, acme: Organization
) -> None:
    task = processed_task(acme, csv_file(["not-an-email,Bad,Row"]))
    BulkTask.objects.filter(pk=task.pk).update(file_expired_at=timezone.now())
    client.force_login(staff_with("view_bulktask", "download_bulktask_file"))

    response = client.get(errors_csv_url(task))

    assert response.status_code == 410
    assert not BulkTaskFileDownload.objects.exists()
