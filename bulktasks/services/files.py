"""Open a task's stored files: the uploaded original and an export's result."""

from __future__ import annotations

from typing import IO

from bulktasks.models import BulkTask
from bulktasks.storage import bulk_task_storage


def open_stored_file(bulk_task: BulkTask) -> IO[bytes]:
    """The task's original file, for staff to download."""
    return bulk_task_storage().open(bulk_task.file_key, "rb")


def open_result_file(bulk_task: BulkTask) -> IO[bytes]:
    """An export's result file, for its download."""
    return bulk_task_storage().open(bulk_task.result_key, "rb")
