"""GET /bulk-tasks/{id} answers byte for byte what the declared serializer fields write.

The endpoint reads the caller, the task and its report lines in one statement
and writes the body directly; the reference here is the slow, plain way: the
ORM, the serializer's declared fields walked one by one, and DRF's JSON
renderer. Any difference in a key, an order, an omitted value or an escape
fails these tests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.conf import settings
from rest_framework.renderers import JSONRenderer

from bulktasks.models import BulkTask, BulkTaskLine
from bulktasks.selectors import ReportLines
from bulktasks.serializers import BulkTaskSerializer
from core.serializers import OmitEmptyMixin
from tests.factories import BulkTaskFactory, BulkTaskLineFactory, UserFactory
from users.models import Organization, User

pytestmark = pytest.mark.django_db


def declared_body(task_id: str) -> bytes:
    """The envelope as the ORM, the declared serializer fields and DRF's renderer write it."""
    task = BulkTask.objects.select_related("created_by").get(pk=task_id)
    limit = settings.BULK_TASK_INLINE_LINES_LIMIT
    lines = task.lines.order_by("line")
    report_lines = ReportLines(
        skipped=[(x.line, x.reason) for x in lines.filter(kind=BulkTaskLine.Kind.SKIPPED)[:limit]],
        errored=[(x.line, x.reason) for x in lines.filter(kind=BulkTaskLine.Kind.ERRORED)[:limit]],
    )
    serializer = BulkTaskSerializer(task, context={"report_lines": report_lines})
    # The mixin's walk over the declared fields, not the class's direct shortcut.
    data = OmitEmptyMixin.to_representation(serializer, task)  # type: ignore[arg-type]
    return JSONRenderer().render({"status": True, "data": data})


def get_body(client, organization: Organization, task: BulkTask) -> bytes:
    response = client.get(f"/v1/organizations/{organization.slug}/bulk-tasks/{task.pk}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return bytes(response.content)


def with_lines(task: BulkTask, *, skipped: list[int], errored: dict[int, str]) -> BulkTask:
    for line in skipped:
        BulkTaskLineFactory(task=task, kind=BulkTaskLine.Kind.SKIPPED, line=line, reason="exists")
    for line, reason in errored.items():
        BulkTaskLineFactory(task=task, kind=BulkTaskLine.Kind.ERRORED, line=line, reason=reason)
    BulkTask.objects.filter(pk=task.pk).update(
        num_skips=len(skipped), num_errors=len(errored), num_items=len(skipped) + len(errored) + 3
    )
    return task


CREATORS = {
    "full": lambda: UserFactory(first_name="Ada", last_name="Lovelace"),
    "first name only, no picture": lambda: UserFactory(
        first_name="Grace", last_name="", picture=""
    ),
    "no names": lambda: UserFactory(first_name="", last_name="", picture=""),
    "non-ascii and quotes": lambda: UserFactory(first_name='Zoë "Z"', last_name="Ñandú\\"),
    "deleted": lambda: None,
}


@pytest.mark.parametrize("creator", CREATORS, ids=list(CREATORS))
def test_a_pending_task_per_kind_of_creator(reader_client, organization, creator):
    task = BulkTaskFactory(organization=organization, created_by=CREATORS[creator]())

    assert get_body(reader_client, organization, task) == declared_body(task.pk)


def test_an_in_progress_task_with_counters_part_way(reader_client, organization):
    task = BulkTaskFactory(
        organization=organization,
        status=BulkTask.Status.IN_PROGRESS,
        override=True,
        num_items=4000,
        num_inserts=1200,
        num_updates=300,
    )

    assert get_body(reader_client, organization, task) == declared_body(task.pk)


def test_a_completed_task_with_report_lines(reader_client, organization):
    task = BulkTaskFactory(
        organization=organization,
        status=BulkTask.Status.COMPLETED,
        num_inserts=3,
        file_bucket="uploads",
        file_key="acme/people.csv",
        file_location="https://uploads.s3.eu-west-1.amazonaws.com/acme/people.csv",
        file_region="eu-west-1",
    )
    with_lines(
        task,
        skipped=[9, 3, 4],
        errored={
            7: "email: 'not-an-email' is not a valid e-mail address",
            2: 'firstName: "quoted" \\ back\tslash',
            12: "lastName: non-ASCII é 中 and the separators \u2028 \u2029 JSON escapes",
        },
    )

    body = get_body(reader_client, organization, task)

    assert body == declared_body(task.pk)
    assert b'"skippedLines":[{"line":3},{"line":4},{"line":9}]' in body


def test_a_completed_task_whose_lines_pass_the_inline_cap(reader_client, organization, settings):
    settings.BULK_TASK_INLINE_LINES_LIMIT = 4
    task = BulkTaskFactory(organization=organization, status=BulkTask.Status.COMPLETED)
    with_lines(task, skipped=list(range(20, 30)), errored={n: f"bad {n}" for n in range(2, 9)})

    assert get_body(reader_client, organization, task) == declared_body(task.pk)


def test_a_failed_task_with_its_error_and_no_file_details(reader_client, organization):
    task = BulkTaskFactory(
        organization=organization,
        status=BulkTask.Status.FAILED,
        error="header row is missing column email",
        storage_provider=None,
        file_size=None,
        file_mimetype="",
        file_checksum="",
    )

    assert get_body(reader_client, organization, task) == declared_body(task.pk)


def test_the_exact_bytes_of_a_known_task(reader_client, organization):
    creator = User.objects.create(
        id="65a000000000000000000001",
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        picture="https://img.example.com/ada.png",
    )
    task = BulkTaskFactory(
        id="65a0000000000000000000aa",
        organization=organization,
        created_by=creator,
        status=BulkTask.Status.COMPLETED,
        storage_provider=None,
        num_inserts=1,
    )
    with_lines(task, skipped=[3], errored={4: "email: duplicate of line 2"})
    moment = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    BulkTask.objects.filter(pk=task.pk).update(created_at=moment, updated_at=moment)

    assert get_body(reader_client, organization, task) == (
        b'{"status":true,"data":{"id":"65a0000000000000000000aa","status":"completed",'
        b'"config":{"override":false,"dryRun":false},'
        b'"file":{"originalName":"people.csv","mimetype":"text/csv",'
        b'"size":1234,"checksum":"' + b"0" * 64 + b'"},"action":"users.import",'
        b'"report":{"numItems":5,"numInserts":1,"numUpdates":0,"numSkips":1,"numErrors":1,'
        b'"skippedLines":[{"line":3}],"erroredLines":[{"line":4,"reason":"email: duplicate of line 2"}]},'
        b'"createdBy":{"id":"65a000000000000000000001","email":"ada@example.com","firstName":"Ada",'
        b'"lastName":"Lovelace","fullName":"Ada Lovelace","picture":"https://img.example.com/ada.png"},'
        b'"updatedAt":"2024-01-02T03:04:05Z","createdAt":"2024-01-02T03:04:05Z"}}'
    )


@pytest.mark.parametrize("accept", ["application/json; indent=2", "*/*; indent=2"])
def test_a_client_asking_for_indented_json_still_gets_what_drf_writes(
    reader_client, organization, accept
):
    task = BulkTaskFactory(organization=organization)

    response = reader_client.get(
        f"/v1/organizations/{organization.slug}/bulk-tasks/{task.pk}", HTTP_ACCEPT=accept
    )

    assert response.status_code == 200
    assert response.content == JSONRenderer().render(
        json.loads(declared_body(task.pk)), accepted_media_type="application/json; indent=2"
    )
