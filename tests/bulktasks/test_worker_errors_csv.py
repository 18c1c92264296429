"""errors.csv end to end on real Celery workers: upload, download the errors, fix, upload again."""

from __future__ import annotations

import pytest
from django.db import connection

from bulktasks.models import BulkTask
from tests.bulktasks.files import csv_file, people_rows, raw_file
from tests.conftest import bearer
from tests.factories import MembershipFactory, OrganizationFactory
from tests.workers import start_worker, wait_for
from users import catalog
from users.models import Membership

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.usefixtures("empty_queue"),
]

URL = "/v1/organizations/acme/bulk-tasks"


def finished(task_id: str) -> BulkTask | None:
    connection.close()  # see the worker's commits
    task = BulkTask.objects.get(pk=task_id)
    return task if task.is_finished else None


def test_the_fixed_errors_file_uploaded_again_imports_the_rejected_rows(
    api_client, tmp_path, settings
):
    settings.BULK_TASK_CHUNK_SIZE = 100
    organization = OrganizationFactory(slug="acme")
    member = MembershipFactory(organization=organization).user
    member.memberships.get().roles.create(
        organization=organization,
        name="ops",
        permissions=[catalog.BULK_TASK_CREATE, catalog.BULK_TASK_GET],
    )
    api_client.credentials(HTTP_AUTHORIZATION=bearer(member))
    worker = start_worker(tmp_path, "errors", BULK_TASK_CHUNK_SIZE=100)
    try:
        rows = people_rows(450)
        # Rejected rows spread over several chunks, one of them a formula.
        for n in (10, 150, 333):
            rows[n] = f"broken-{n},=First{n},Last{n}"
        created = api_client.post(
            URL, {"action": "users.import", "file": csv_file(rows)}, format="multipart"
        )
        first = wait_for(lambda: finished(created.json()["data"]["id"]), timeout=120)
        assert (first.status, first.num_inserts, first.num_errors) == ("completed", 447, 3)

        response = api_client.get(f"{URL}/{first.pk}/errors.csv")
        assert response.status_code == 200
        errors_file = b"".join(response.streaming_content).decode()
        assert [line.split(",")[3] for line in errors_file.splitlines()[1:]] == [
            '"12"',
            '"152"',
            '"335"',
        ]
        fixed = errors_file
        for n in (10, 150, 333):
            fixed = fixed.replace(f'"broken-{n}"', f'"fixed{n}@example.com"')

        again = api_client.post(
            URL,
            {"action": "users.import", "file": raw_file(fixed.encode(), name="fixed.csv")},
            format="multipart",
        )
        second = wait_for(lambda: finished(again.json()["data"]["id"]), timeout=120)
    finally:
        worker.stop()

    assert (second.status, second.num_items, second.num_inserts, second.num_errors) == (
        "completed",
        3,
        3,
        0,
    )
    names = Membership.objects.filter(
        organization=organization, user__email__startswith="fixed"
    ).values_list("first_name", flat=True)
    assert sorted(names) == ["=First10", "=First150", "=First333"]
