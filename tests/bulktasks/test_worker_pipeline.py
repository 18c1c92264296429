"""The pipeline against real Celery worker processes: lifecycle, fairness, chunks on two
workers, kill -9 and resume, duplicates.

These run on whichever broker the settings name: the file-system queue by
default, Redis or RabbitMQ when CELERY_BROKER_URL says so (CI runs them on Redis).
"""

from __future__ import annotations

import json

import pytest
from django.db import connection

from bulktasks.models import BulkTask, BulkTaskChunk, BulkTaskLine
from bulktasks.processing import bulk_task_enqueue, bulk_task_process, bulk_task_sweep
from tests.bulktasks.files import csv_file, mixed_rows, people_rows
from tests.bulktasks.pipeline import pending, report
from tests.conftest import bearer
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.workers import wait_for
from users import catalog
from users.models import Membership, User

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.usefixtures("empty_queue"),
]


def status_of(task_id: str) -> BulkTask:
    connection.close()  # see the worker's commits, not a stale snapshot
    return BulkTask.objects.get(pk=task_id)


def existing_members(organizations, count: int) -> None:
    for n in range(83, count + 1, 83):
        if n % 97 and n % 89:
            user = UserFactory(email=f"existing{n}@example.com")
            for organization in organizations:
                MembershipFactory(organization=organization, user=user)


def test_an_upload_is_processed_by_a_worker_and_progress_is_visible(
    api_client, workers, settings, throttle_rates
):
    settings.BULK_TASK_CHUNK_SIZE = 50
    # The test polls far faster than any client may.
    throttle_rates(**{"reads.user": None, "reads.organization": None})
    organization = OrganizationFactory(slug="acme")
    member = MembershipFactory(organization=organization).user
    member.memberships.get().roles.create(
        organization=organization,
        name="ops",
        permissions=[catalog.BULK_TASK_CREATE, catalog.BULK_TASK_GET],
    )
    api_client.credentials(HTTP_AUTHORIZATION=bearer(member))
    workers("lifecycle", BULK_TASK_CHUNK_SIZE=50)

    created = api_client.post(
        "/v1/organizations/acme/bulk-tasks",
        {"action": "users.import", "file": csv_file([*people_rows(3000), "broken-email,X,Y"])},
        format="multipart",
    )
    assert created.status_code == 201
    assert created.json()["data"]["status"] == "pending"
    task_id = created.json()["data"]["id"]

    samples = []

    def finished():
        data = api_client.get(f"/v1/organizations/acme/bulk-tasks/{task_id}").json()["data"]
        report = data["report"]
        samples.append(
            (data["status"], report["numInserts"] + report["numErrors"], report["numItems"])
        )
        return data if data["status"] in ("completed", "failed") else None

    data = wait_for(finished, timeout=120, interval=0.01)

    assert data["status"] == "completed"
    assert data["report"]["numItems"] == 3001
    assert data["report"]["numInserts"] == 3000
    assert data["report"]["erroredLines"] == [
        {"line": 3002, "reason": "email: 'broken-email' is not a valid e-mail address"}
    ]
    in_progress = [
        done for status, done, total in samples if status == "inProgress" and 0 < done < total
    ]
    assert in_progress, f"never saw partial progress in {len(samples)} samples"
    assert in_progress == sorted(in_progress)
    assert Membership.objects.filter(organization=organization).count() == 3001


def chunks_of(task_id: str) -> list[BulkTaskChunk]:
    connection.close()
    return list(BulkTaskChunk.objects.filter(task_id=task_id).order_by("index"))


def test_a_worker_killed_with_chunks_in_flight_is_resumed_with_exactly_the_uninterrupted_result(
    workers, settings
):
    settings.BULK_TASK_CHUNK_SIZE = 40
    settings.BULK_TASK_LEASE_SECONDS = 2
    # The sweeper runs here: chunks the dead worker had taken but not started go again soon.
    settings.BULK_TASK_PENDING_GRACE_SECONDS = 1
    rows = mixed_rows(4000)
    reference_org, crashed_org = (
        OrganizationFactory(slug="reference"),
        OrganizationFactory(slug="crashed"),
    )
    existing_members([reference_org, crashed_org], 4000)

    # The reference: the same file, processed without interruption.
    reference = pending(reference_org, rows)
    bulk_task_process(bulk_task_id=reference.pk)

    options = {"BULK_TASK_CHUNK_SIZE": 40, "BULK_TASK_LEASE_SECONDS": 2}
    doomed = workers("doomed", concurrency=2, **options)
    workers("survivor", **options)
    task = pending(crashed_org, rows, enqueue=True)
    wait_for(lambda: 400 < status_of(task.pk).num_done < 3000, timeout=120, interval=0.005)
    doomed.kill()
    killed_at = status_of(task.pk)
    assert killed_at.status == BulkTask.Status.IN_PROGRESS
    in_flight = [
        chunk.pk
        for chunk in chunks_of(task.pk)
        if chunk.status == "running" and chunk.lease_owner.startswith("doomed@")
    ]

    # Once the dead worker's leases run out, the sweeper (beat, here every half
    # second) hands its chunks on; a redelivered message finds them still leased.
    def swept_until_finished() -> bool:
        bulk_task_sweep()
        return status_of(task.pk).is_finished

    # The bound is a safety net, not a speed target: on RabbitMQ the resumption
    # after a kill has been seen to take up to about two minutes (see docs/resilience.md).
    wait_for(swept_until_finished, timeout=300, interval=0.5)

    assert report(task) == report(reference)
    assert task.status == reference.status
    resumed = status_of(task.pk)
    assert resumed.status == BulkTask.Status.COMPLETED
    chunks = chunks_of(task.pk)
    assert {chunk.status for chunk in chunks} == {"done"}
    # The chunks the killed worker held were taken over, and that counted.
    assert all(chunk.attempts == 2 for chunk in chunks if chunk.pk in in_flight)
    assert sum(chunk.num_inserts for chunk in chunks) == resumed.num_inserts
    imported = Membership.objects.filter(organization=crashed_org)
    assert imported.count() == resumed.num_inserts + len(range(83, 4001, 83)) - sum(
        1 for n in range(83, 4001, 83) if not (n % 97 and n % 89)
    )
    assert (
        User.objects.filter(email__startswith="person").count()
        == User.objects.filter(email__startswith="person").values("email").distinct().count()
    )


def test_chunks_of_one_file_run_on_two_workers_and_the_task_completes_once(workers, settings):
    settings.BULK_TASK_CHUNK_SIZE = 100
    organization = OrganizationFactory(slug="acme")
    one = workers("one", BULK_TASK_CHUNK_SIZE=100)
    two = workers("two", BULK_TASK_CHUNK_SIZE=100)

    task = pending(organization, mixed_rows(3000), enqueue=True)
    wait_for(lambda: status_of(task.pk).is_finished, timeout=120, interval=0.1)

    finished = status_of(task.pk)
    assert finished.status == BulkTask.Status.COMPLETED
    chunks = chunks_of(task.pk)
    assert len(chunks) == 30
    hosts = {chunk.lease_owner.partition("@")[0] for chunk in chunks}
    assert hosts == {"one", "two"}
    assert finished.num_done == 3000
    lines = list(
        BulkTaskLine.objects.filter(task_id=task.pk).values_list("line", flat=True).order_by("line")
    )
    assert len(lines) == len(set(lines)) == finished.num_skips + finished.num_errors
    completions = [
        line for worker in (one, two) for line in worker.log().splitlines()
        if "bulk task completed" in line
    ]  # fmt: skip
    assert len(completions) == 1


def test_a_small_task_of_another_organization_goes_before_a_big_ones_remaining_chunks(
    workers, settings
):
    settings.BULK_TASK_CHUNK_SIZE = 100
    big, small = OrganizationFactory(slug="big"), OrganizationFactory(slug="small")
    workers("shared", BULK_TASK_CHUNK_SIZE=100)
    files = [pending(big, people_rows(4000, start=n * 4000 + 1), enqueue=True) for n in range(2)]
    wait_for(lambda: status_of(files[0].pk).num_done >= 200, timeout=120, interval=0.02)

    latecomer = pending(small, people_rows(3, start=100_000), enqueue=True)
    wait_for(lambda: status_of(latecomer.pk).is_finished, timeout=120, interval=0.05)

    done = status_of(latecomer.pk)
    assert done.status == BulkTask.Status.COMPLETED
    assert done.num_inserts == 3
    big_chunks = [chunk for task in files for chunk in chunks_of(task.pk)]
    after = [c for c in big_chunks if c.finished_at is None or c.finished_at > done.finished_at]
    # The big organization's files were far from done when the small task completed:
    # it waited behind a few of their chunks, not behind the files.
    assert len(after) >= len(big_chunks) // 2
    assert all(status_of(task.pk).status != BulkTask.Status.FAILED for task in files)
    wait_for(lambda: all(status_of(task.pk).is_finished for task in files), timeout=300)
    assert [status_of(task.pk).num_inserts for task in files] == [4000, 4000]


def test_the_same_task_delivered_several_times_at_once_is_processed_once(workers, settings):
    settings.BULK_TASK_CHUNK_SIZE = 100
    organization = OrganizationFactory(slug="acme")
    workers("one", concurrency=3, BULK_TASK_CHUNK_SIZE=100)
    workers("two", concurrency=3, BULK_TASK_CHUNK_SIZE=100)
    task = pending(organization, people_rows(2000))

    for _ in range(6):
        assert bulk_task_enqueue(bulk_task_id=task.pk)

    wait_for(lambda: status_of(task.pk).is_finished, timeout=120, interval=0.1)
    finished = status_of(task.pk)

    assert finished.status == BulkTask.Status.COMPLETED
    assert (finished.num_items, finished.num_inserts, finished.num_skips, finished.num_errors) == (
        2000,
        2000,
        0,
        0,
    )
    assert finished.attempts == 1
    assert {chunk.attempts for chunk in chunks_of(task.pk)} == {1}
    assert Membership.objects.filter(organization=organization).count() == 2000
    assert BulkTaskLine.objects.filter(task_id=task.pk).count() == 0


def test_the_worker_logs_an_upload_under_its_request_id_and_its_task_id(api_client, workers):
    organization = OrganizationFactory(slug="acme")
    member = MembershipFactory(organization=organization).user
    member.memberships.get().roles.create(
        organization=organization, name="ops", permissions=[catalog.BULK_TASK_CREATE]
    )
    api_client.credentials(HTTP_AUTHORIZATION=bearer(member))
    # The web process is ready on the broker the workers use.
    ready = api_client.get("/readyz")
    assert ready.status_code == 200, ready.content
    worker = workers("traced", LOG_FORMAT="json")

    created = api_client.post(
        "/v1/organizations/acme/bulk-tasks",
        {"action": "users.import", "file": csv_file([*people_rows(3), "bad-email,X,Y"])},
        format="multipart",
        HTTP_X_REQUEST_ID="upload-trace-42",
    )
    assert created.status_code == 201
    assert created["X-Request-ID"] == "upload-trace-42"
    task_id = created.json()["data"]["id"]
    wait_for(lambda: status_of(task_id).is_finished, timeout=60, interval=0.05)

    def task_lines() -> list[dict]:
        lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("bulk_task_id") == task_id]

    lines = wait_for(lambda: len(task_lines()) >= 2 and task_lines(), timeout=10)
    started, completed = lines[0], lines[-1]
    assert started["message"].startswith("bulk task started")
    assert completed["message"].startswith("bulk task completed")
    for line in (started, completed):
        assert line["request_id"] == "upload-trace-42"
        assert line["task_id"]
        assert line["organization_id"] == organization.pk
        assert line["action"] == "users.import"
    assert started["task_id"] == completed["task_id"]
    assert (completed["inserted"], completed["errored"]) == (3, 1)
