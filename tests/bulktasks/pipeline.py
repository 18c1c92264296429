"""Drive the pipeline in tests: a users.import task from rows, its scan, its report."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from bulktasks.actions import action_get
from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.processing import bulk_task_claim, bulk_task_scan
from bulktasks.services import bulk_task_create
from tests.bulktasks.files import csv_file, people_rows
from users.models import Organization

Report = tuple[tuple[int, int, int, int, int], list[tuple[int, int, str]]]


def pending(
    organization: Organization,
    rows: list[str] | None = None,
    *,
    upload: SimpleUploadedFile | None = None,
    enqueue: bool = False,
    **fields: Any,
) -> BulkTask:
    """A users.import task of the rows (or upload; one person by default); queued only if asked."""
    upload = upload or csv_file(rows if rows is not None else people_rows(1))
    task, _ = bulk_task_create(
        organization=organization,
        action="users.import",
        file=upload,
        original_name=upload.name,
        enqueue=enqueue,
        **{"created_by": None, **fields},
    )
    return task


def scanned(task: BulkTask) -> list[BulkTaskChunk]:
    """Scan the task as a worker would, without dispatching; its chunks in file order."""
    claimed = bulk_task_claim(bulk_task_id=task.pk, owner="scanner")
    assert claimed is not None
    bulk_task_scan(
        bulk_task=claimed, owner="scanner", action=action_get("users.import"), dispatch=False
    )
    return list(BulkTaskChunk.objects.filter(task=task).order_by("index"))


def report(task: BulkTask) -> Report:
    """The task's report as it stands in the database: counters, then every line."""
    task.refresh_from_db()
    counters = (task.num_items, task.num_inserts, task.num_updates, task.num_skips, task.num_errors)
    return counters, list(task.lines.order_by("line").values_list("kind", "line", "reason"))
