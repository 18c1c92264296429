"""A spreadsheet on real Celery workers: one workbook on every worker, and resumed after kill -9."""

from __future__ import annotations

import pytest

from bulktasks.models import BulkTask
from bulktasks.processing import bulk_task_process, bulk_task_sweep
from tests.bulktasks.files import mixed_rows
from tests.bulktasks.pipeline import pending, report
from tests.bulktasks.test_worker_pipeline import (
    chunks_of,
    existing_members,
    status_of,
)
from tests.bulktasks.workbooks import xlsx_file
from tests.factories import OrganizationFactory
from tests.workers import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.usefixtures("empty_queue"),
]


def sheet(count: int) -> list[list[object]]:
    """The mixed rows of the CSV tests as a sheet, with a blank row every 500 rows."""
    rows: list[list[object]] = [["email", "firstName", "lastName"]]
    for n, row in enumerate(mixed_rows(count), start=1):
        rows.append(row.split(","))
        if n % 500 == 0:
            rows.append([])
    return rows


def test_one_workbook_is_spread_over_every_worker_and_completes_once(workers, settings):
    settings.BULK_TASK_CHUNK_SIZE = 100
    reference_org, organization = OrganizationFactory(slug="reference"), OrganizationFactory()
    rows = sheet(3000)
    reference = pending(reference_org, upload=xlsx_file(rows))
    bulk_task_process(bulk_task_id=reference.pk)
    one = workers("one", BULK_TASK_CHUNK_SIZE=100)
    two = workers("two", BULK_TASK_CHUNK_SIZE=100)

    task = pending(organization, upload=xlsx_file(rows), enqueue=True)
    wait_for(lambda: status_of(task.pk).is_finished, timeout=120, interval=0.1)

    finished = status_of(task.pk)
    assert finished.status == BulkTask.Status.COMPLETED
    assert finished.rows_key
    chunks = chunks_of(task.pk)
    assert len(chunks) == 30
    assert {chunk.lease_owner.partition("@")[0] for chunk in chunks} == {"one", "two"}
    # Line numbers are the sheet's rows: the blank rows count.
    assert chunks[-1].last_line == 3000 + 1 + 5
    assert report(task) == report(reference)
    completions = [
        line for worker in (one, two) for line in worker.log().splitlines()
        if "bulk task completed" in line
    ]  # fmt: skip
    assert len(completions) == 1


def test_a_worker_killed_mid_workbook_is_resumed_with_exactly_the_uninterrupted_result(
    workers, settings
):
    settings.BULK_TASK_CHUNK_SIZE = 40
    settings.BULK_TASK_LEASE_SECONDS = 2
    settings.BULK_TASK_PENDING_GRACE_SECONDS = 1
    rows = sheet(3000)
    reference_org, crashed_org = OrganizationFactory(slug="ref"), OrganizationFactory(slug="crash")
    existing_members([reference_org, crashed_org], 3000)
    reference = pending(reference_org, upload=xlsx_file(rows))
    bulk_task_process(bulk_task_id=reference.pk)

    options = {"BULK_TASK_CHUNK_SIZE": 40, "BULK_TASK_LEASE_SECONDS": 2}
    doomed = workers("doomed", concurrency=2, **options)
    workers("survivor", **options)
    task = pending(crashed_org, upload=xlsx_file(rows), enqueue=True)
    wait_for(lambda: 300 < status_of(task.pk).num_done < 2200, timeout=120, interval=0.005)
    doomed.kill()
    assert status_of(task.pk).status == BulkTask.Status.IN_PROGRESS

    def swept_until_finished() -> bool:
        bulk_task_sweep()
        return status_of(task.pk).is_finished

    wait_for(swept_until_finished, timeout=300, interval=0.5)

    assert report(task) == report(reference)
    resumed = status_of(task.pk)
    assert resumed.status == BulkTask.Status.COMPLETED
    chunks = chunks_of(task.pk)
    assert {chunk.status for chunk in chunks} == {"done"}
    assert sum(chunk.num_inserts for chunk in chunks) == resumed.num_inserts
