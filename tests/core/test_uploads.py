"""No request stores a file unless its view installs an upload handler for a caller allowed to upload."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files import uploadhandler
from django.test import Client
from django.urls import reverse

from bulktasks.models import BulkTask
from tests.bulktasks.files import csv_file, people_rows, raw_file
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("admin:login")
UPLOAD_URL = reverse("admin:bulktasks_bulktask_upload")
# Well-formed (32 letters), so Django's CSRF check goes on to read the POST body.
CSRF_COOKIE = "abcdefghijklmnopqrstuvwxyzABCDEF"


@pytest.fixture
def temp_files(monkeypatch) -> list[str]:
    """The names of the temporary files upload handlers create during the test."""
    created: list[str] = []
    original = uploadhandler.TemporaryUploadedFile

    def recording(*args: Any, **kwargs: Any) -> Any:
        uploaded = original(*args, **kwargs)
        created.append(uploaded.temporary_file_path())
        return uploaded

    monkeypatch.setattr(uploadhandler, "TemporaryUploadedFile", recording)
    return created


def csrf_client() -> Client:
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = CSRF_COOKIE
    return client


@pytest.mark.parametrize("size", [1000, 5000])
def test_a_file_posted_to_the_admin_login_with_a_csrf_cookie_is_never_stored(
    settings, temp_files, size
):
    # The 5000-byte file is over the upload limit: the old handler's 413 came
    # out of the CSRF middleware as a 500.
    settings.BULK_TASK_MAX_FILE_SIZE = 2000

    response = csrf_client().post(
        LOGIN_URL, {"username": "x", "file": raw_file(b"a" * size, name="big.bin")}
    )

    assert response.status_code == 403
    assert temp_files == []


def test_a_file_posted_to_the_admin_upload_by_someone_not_logged_in_is_never_stored(temp_files):
    response = csrf_client().post(UPLOAD_URL, {"file": csv_file(people_rows(3))})

    assert response.status_code == 403
    assert temp_files == []


def test_the_admin_upload_still_checks_the_csrf_token(temp_files):
    OrganizationFactory(slug="acme")
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(UPLOAD_URL, {"action": "users.import", "file": csv_file(people_rows(3))})

    assert response.status_code == 403
    assert not BulkTask.objects.exists()


def test_the_admin_upload_with_its_csrf_token_stores_the_file(temp_files):
    acme = OrganizationFactory(slug="acme")
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(UPLOAD_URL).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None

    response = client.post(
        UPLOAD_URL,
        {
            "csrfmiddlewaretoken": token.group(1),
            "organization": acme.pk,
            "action": "users.import",
            "file": csv_file(people_rows(3)),
        },
    )

    assert response.status_code == 302
    assert BulkTask.objects.get().organization == acme
    assert len(temp_files) == 1
