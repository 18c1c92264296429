"""Cancel a multi-chunk task while real workers run it, on the configured broker.

The task ends failed at once; the chunks in flight commit nothing; its counts
and report lines are exactly those of the chunks committed before the cancel;
nothing of it is written afterwards; the organization's other task completes.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.utils import timezone

from bulktasks.models import BulkTask, BulkTaskChunk, BulkTaskLine
from bulktasks.processing import bulk_task_sweep
from tests.bulktasks.files import mixed_rows, people_rows
from tests.bulktasks.pipeline import pending
from tests.conftest import bearer
from tests.factories import MembershipFactory, OrganizationFactory, RoleFactory, UserFactory
from tests.workers import wait_for
from users import catalog
from users.models import Membership

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.usefixtures("empty_queue"),
]

CHUNK_SIZE = 100
LINES = 6000
DUPLICATE_REASON = "email: duplicate of line"


def fresh(task_id: str) -> BulkTask:
    connection.close()  # see the workers' commits, not a stale snapshot
    return BulkTask.objects.get(pk=task_id)


def snapshot(task_id: str) -> tuple:
    """Everything of the task a write could change: counters, lines, chunks."""
    task = fresh(task_id)
    return (
        task.status,
        task.error,
        (task.num_inserts, task.num_updates, task.num_skips, task.num_errors),
        list(BulkTaskLine.objects.filter(task_id=task_id).values_list("kind", "line", "reason")),
        list(
            BulkTaskChunk.objects.filter(task_id=task_id).values_list(
                "index", "status", "finished_at"
            )
        ),
    )


def test_a_task_cancelled_while_workers_run_it_keeps_exactly_its_committed_chunks(
    api_client, workers, settings, throttle_rates
):
    settings.BULK_TASK_CHUNK_SIZE = CHUNK_SIZE
    throttle_rates(**{"reads.user": None, "reads.organization": None})
    organization = OrganizationFactory(slug="acme")
    member = UserFactory(email="ops@acme.example")
    role = RoleFactory(organization=organization, permissions=[catalog.BULK_TASK_CANCEL])
    MembershipFactory(organization=organization, user=member, roles=[role])
    for n in range(83, LINES + 1, 83):
        if n % 97 and n % 89:
            MembershipFactory(
                organization=organization, user=UserFactory(email=f"existing{n}@example.com")
            )
    members_before = Membership.objects.filter(organization=organization).count()
    api_client.credentials(HTTP_AUTHORIZATION=bearer(member))
    workers("one", BULK_TASK_CHUNK_SIZE=CHUNK_SIZE)
    workers("two", BULK_TASK_CHUNK_SIZE=CHUNK_SIZE)

    task = pending(organization, mixed_rows(LINES), enqueue=True)
    other = pending(organization, people_rows(1500, domain="other.example"), enqueue=True)
    wait_for(lambda: fresh(task.pk).num_done >= 1000, timeout=120, interval=0.01)

    response = api_client.post(f"/v1/organizations/acme/bulk-tasks/{task.pk}/cancel")
    answered_at = timezone.now()

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["status"], data["error"]) == ("failed", "Cancelled by ops@acme.example")
    # Read after the cancel committed: none of these may commit any more.
    in_flight = set(
        BulkTaskChunk.objects.filter(task_id=task.pk, status="running").values_list("pk", flat=True)
    )

    def settled() -> bool:
        connection.close()
        return not BulkTaskChunk.objects.filter(
            task_id=task.pk, status__in=["queued", "running"]
        ).exists()

    wait_for(settled, timeout=60, interval=0.01)
    at_settle = snapshot(task.pk)

    cancelled = fresh(task.pk)
    chunks = list(BulkTaskChunk.objects.filter(task_id=task.pk).order_by("index"))
    done = [chunk for chunk in chunks if chunk.status == "done"]
    assert 0 < len(done) < len(chunks)
    assert not in_flight & {chunk.pk for chunk in done}
    assert all(chunk.finished_at <= answered_at for chunk in done)
    # The counters are the done chunks' own, plus the repeats the scan recorded in them.
    lines = list(BulkTaskLine.objects.filter(task_id=task.pk).order_by("line"))
    repeats = sum(1 for line in lines if line.reason.startswith(DUPLICATE_REASON))
    assert cancelled.num_inserts == sum(chunk.num_inserts for chunk in done)
    assert cancelled.num_updates == sum(chunk.num_updates for chunk in done) == 0
    assert cancelled.num_skips == sum(chunk.num_skips for chunk in done) > 0
    assert cancelled.num_errors == sum(chunk.num_errors for chunk in done) + repeats
    assert len(lines) == cancelled.num_skips + cancelled.num_errors
    # Lines only from done chunks: none from a chunk in flight or never run.
    spans = [(chunk.first_line, chunk.last_line) for chunk in done]
    assert all(any(first <= line.line <= last for first, last in spans) for line in lines)
    # The people imported are exactly the done chunks' inserts: nothing of a half-done chunk.
    imported = Membership.objects.filter(
        organization=organization,
        user__email__startswith="person",
        user__email__endswith="@example.com",
    ).count()
    assert imported == cancelled.num_inserts

    # The organization's other task completes, and meanwhile nothing of the cancelled one moves.
    wait_for(lambda: fresh(other.pk).is_finished, timeout=180, interval=0.05)
    finished_other = fresh(other.pk)
    assert (finished_other.status, finished_other.num_inserts) == ("completed", 1500)
    bulk_task_sweep()
    time.sleep(2)
    assert snapshot(task.pk) == at_settle
    assert (
        Membership.objects.filter(organization=organization).count()
        == members_before + cancelled.num_inserts + 1500
    )
