"""Writes for bulk tasks: create one from an upload, cancel or retry it; processing is in ``processing``.

One module per step: ``create`` (uploads and exports, and queuing them), ``idempotency``
(Idempotency-Keys), ``cancel``, ``retry`` and ``files`` (opening a task's stored files).
"""

from __future__ import annotations

from bulktasks.services.cancel import bulk_task_cancel
from bulktasks.services.create import bulk_task_create, bulk_task_export_create, bulk_task_submit
from bulktasks.services.files import open_result_file, open_stored_file
from bulktasks.services.idempotency import idempotency_keys_flush
from bulktasks.services.retry import bulk_task_retry

__all__ = [
    "bulk_task_cancel",
    "bulk_task_create",
    "bulk_task_export_create",
    "bulk_task_retry",
    "bulk_task_submit",
    "idempotency_keys_flush",
    "open_result_file",
    "open_stored_file",
]
