"""An export's result file: whether it can be downloaded, its name, and opening it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from bulktasks.actions import ExportAction, action_get
from bulktasks.exports import FORMATS
from bulktasks.models import BulkTask
from bulktasks.services import open_result_file
from bulktasks.storage import storage_is_unavailable
from core.exceptions import (
    FileExpired,
    NoResultFile,
    ResultNotProduced,
    ResultNotReady,
    ServiceError,
    ServiceUnavailable,
)


@dataclass(frozen=True, slots=True)
class ResultFile:
    """An export's result, open for reading, with what its download says about it."""

    stream: IO[bytes]
    name: str
    mimetype: str
    size: int | None


def bulk_task_result_name(*, bulk_task: BulkTask, organization_slug: str) -> str:
    """The name the result is downloaded as, e.g. ``acme-users-65a0...csv``: ASCII, no folder."""
    action = action_get(bulk_task.action)
    title = action.title if isinstance(action, ExportAction) else "export"
    extension = FORMATS[bulk_task.result_format].extension
    return f"{organization_slug}-{title}-{bulk_task.pk}.{extension}"


def bulk_task_result_check(*, bulk_task: BulkTask) -> None:
    """Raise the error a download of this task's result answers, unless it can be downloaded.

    A task of an action that produces no file: 409 (3009). A failed export:
    409 (3008). An export not finished: 409 (3007), poll the task and retry.
    A result deleted at the end of retention: 410 (3006).
    """
    if not bulk_task.is_export:
        raise NoResultFile(f"Bulk task has no result file: {bulk_task.action[:100]} produces none")
    if bulk_task.status == BulkTask.Status.FAILED:
        raise ResultNotProduced()
    if bulk_task.file_expired_at is not None:
        raise result_expired_error()
    if bulk_task.status != BulkTask.Status.COMPLETED or not bulk_task.result_key:
        raise ResultNotReady(
            f"Result not ready: the task is {bulk_task.status}; download it once completed"
        )


def result_expired_error() -> ServiceError:
    """What a download answers once retention deleted the result, or it is no longer stored.

    Retention (``BULK_TASK_FILE_RETENTION_DAYS``) deletes every file of a task
    and records it in ``file_expired_at``: the result answers 410 (3006), as the
    errors file does.
    """
    return FileExpired("File expired: the result file is no longer stored")


def bulk_task_result_open(*, bulk_task: BulkTask, organization_slug: str) -> ResultFile:
    """Open a completed export's result for its download, or raise what the download answers."""
    bulk_task_result_check(bulk_task=bulk_task)
    try:
        stream = open_result_file(bulk_task)
    except FileNotFoundError as exc:
        raise result_expired_error() from exc
    except Exception as exc:
        # As the errors file does: a storage that is away is a 503 to retry, not a 500.
        if storage_is_unavailable(exc):
            raise ServiceUnavailable("File storage is temporarily unavailable") from exc
        raise
    return ResultFile(
        stream=stream,
        name=bulk_task_result_name(bulk_task=bulk_task, organization_slug=organization_slug),
        mimetype=FORMATS[bulk_task.result_format].mimetype,
        size=bulk_task.result_size,
    )
