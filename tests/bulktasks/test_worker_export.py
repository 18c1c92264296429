"""users.export against real Celery worker processes: kill -9 mid-export, and the result is exact.

These run on whichever broker the settings name: the file-system queue by
default, Redis or RabbitMQ when CELERY_BROKER_URL says so.
"""

from __future__ import annotations

import pytest
from django.db import connection

from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.processing import bulk_task_process, bulk_task_sweep
from bulktasks.storage import bulk_task_storage, export_parts_folder
from config.celery import app as celery_app
from tests.bulktasks.exports import export_pending, many_members, result_bytes
from tests.bulktasks.pipeline import pending
from tests.factories import OrganizationFactory
from tests.workers import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture(autouse=True)
def empty_queue():
    """Start from an empty queue, so no message from an earlier run gets in the way."""
    celery_app.control.purge()
    yield
    celery_app.control.purge()


def status_of(task_id: str) -> BulkTask:
    connection.close()  # see the workers' commits, not a stale snapshot
    return BulkTask.objects.get(pk=task_id)


def chunks_of(task_id: str) -> list[BulkTaskChunk]:
    connection.close()
    return list(BulkTaskChunk.objects.filter(task_id=task_id).order_by("index"))


@pytest.mark.parametrize("result_format", ["csv", "xlsx"])
def test_a_worker_killed_mid_export_is_resumed_with_exactly_the_uninterrupted_file(
    workers, settings, result_format
):
    settings.BULK_TASK_CHUNK_SIZE = 25
    settings.BULK_TASK_LEASE_SECONDS = 2
    settings.BULK_TASK_PENDING_GRACE_SECONDS = 1
    acme = OrganizationFactory(slug="acme")
    many_members(acme, 2500)
    # The reference: the same organization exported without interruption.
    reference = bulk_task_process(bulk_task_id=export_pending(acme, result_format).pk)
    assert reference is not None
    assert reference.status == "completed"
    expected = result_bytes(reference)

    options = {"BULK_TASK_CHUNK_SIZE": 25, "BULK_TASK_LEASE_SECONDS": 2}
    doomed = workers("doomed", concurrency=2, **options)
    workers("survivor", **options)
    task = export_pending(acme, result_format, enqueue=True)
    wait_for(lambda: 250 < status_of(task.pk).num_items < 2000, timeout=120, interval=0.005)
    doomed.kill()
    assert status_of(task.pk).status == BulkTask.Status.IN_PROGRESS
    in_flight = [
        chunk.pk
        for chunk in chunks_of(task.pk)
        if chunk.status == "running" and chunk.lease_owner.startswith("doomed@")
    ]

    def swept_until_finished() -> bool:
        bulk_task_sweep()
        return status_of(task.pk).is_finished

    # A safety net, not a speed target (see the import's kill -9 test).
    wait_for(swept_until_finished, timeout=300, interval=0.5)

    done = status_of(task.pk)
    assert done.status == BulkTask.Status.COMPLETED, done.error
    assert done.num_items == reference.num_items == 2500
    if result_format == "csv":
        assert result_bytes(done) == expected
    else:
        # An XLSX file carries its creation time: compare what it holds.
        assert _sheet(result_bytes(done)) == _sheet(expected)
    chunks = chunks_of(task.pk)
    assert {chunk.status for chunk in chunks} == {"done"}
    assert sum(chunk.num_records for chunk in chunks) == 2500
    assert all(chunk.attempts == 2 for chunk in chunks if chunk.pk in in_flight)
    # Every part, the dead worker's included, is gone; only the result stays.
    folder = export_parts_folder(organization_id=acme.pk, bulk_task_id=task.pk)
    try:
        leftover = bulk_task_storage().listdir(folder)[1]
    except FileNotFoundError:
        leftover = []
    assert leftover == []


def _sheet(content: bytes) -> list[tuple]:
    import io

    from openpyxl import load_workbook

    return list(load_workbook(io.BytesIO(content))["users"].values)


def test_a_small_import_of_another_organization_goes_before_a_big_exports_remaining_chunks(
    workers, settings
):
    settings.BULK_TASK_CHUNK_SIZE = 10
    big = OrganizationFactory(slug="big")
    many_members(big, 1500)
    small = OrganizationFactory(slug="small")
    workers("solo", BULK_TASK_CHUNK_SIZE=10)

    export = export_pending(big, enqueue=True)
    wait_for(lambda: status_of(export.pk).num_items > 0, timeout=60)
    task = pending(small, ["x@example.com,X,Y"], enqueue=True)
    wait_for(lambda: status_of(task.pk).is_finished, timeout=120, interval=0.05)

    assert status_of(task.pk).status == BulkTask.Status.COMPLETED
    # The export still had most of its 150 chunks to go when the small task was done.
    assert status_of(export.pk).num_items < 1000
    wait_for(lambda: status_of(export.pk).is_finished, timeout=300, interval=0.2)
    assert status_of(export.pk).num_items == 1500
