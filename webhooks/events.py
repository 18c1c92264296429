"""The event types a webhook endpoint can subscribe to, and the body each is sent with."""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone

from bulktasks.models import BulkTask
from bulktasks.serializers import BulkTaskSerializer
from core.serializers import timestamp

BULK_TASK_COMPLETED = "bulkTask.completed"
BULK_TASK_FAILED = "bulkTask.failed"

# Event type -> what it means; full-stop delimited, as Standard Webhooks recommends.
EVENT_TYPES: dict[str, str] = {
    BULK_TASK_COMPLETED: "A bulk task completed; its report is final.",
    BULK_TASK_FAILED: "A bulk task failed; its error says why.",
}

# A task's final status -> the event it raises.
FINAL_STATUS_EVENTS: dict[str, str] = {
    BulkTask.Status.COMPLETED: BULK_TASK_COMPLETED,
    BulkTask.Status.FAILED: BULK_TASK_FAILED,
}


def event_body(*, event_type: str, bulk_task: BulkTask) -> str:
    """The JSON body sent for a task's event: exactly the bytes that are signed.

    ``data`` is the task as ``GET /bulk-tasks/{id}`` returns it, without the
    inline ``skippedLines``/``erroredLines`` (``/lines`` has them): a body stays
    small whatever the report. ``timestamp`` is when the task ended.
    """
    payload: dict[str, Any] = {
        "type": event_type,
        "timestamp": timestamp(bulk_task.finished_at or timezone.now()),
        "data": BulkTaskSerializer(bulk_task).data,
    }
    # Compact and in a fixed key order: the body is written once and sent as is.
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
