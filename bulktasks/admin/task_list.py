"""The task list: its columns, filters and the actions on selected tasks."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
)

from bulktasks.admin.filters import ActionListFilter
from bulktasks.admin.permissions import TaskPermissions
from bulktasks.models import BulkTask
from bulktasks.services import bulk_task_cancel, bulk_task_retry
from core.exceptions import BulkTaskFinished


class TaskList(TaskPermissions):
    """The columns, filters and bulk actions of the task list."""

    list_display = [
        "id",
        "organization",
        "action",
        "status",
        "dry_run",
        "num_items",
        "num_inserts",
        "num_updates",
        "num_skips",
        "num_errors",
        "progress",
        "file_original_name",
        "created_by",
        "created_at",
    ]
    actions = ["cancel_running", "retry_failed"]
    list_filter = ["status", "dry_run", "organization", ActionListFilter, "created_at"]
    search_fields = ["=id", "file_original_name", "created_by__email"]
    list_select_related = ["organization", "created_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="Progress")
    def progress(self, bulk_task: BulkTask) -> str:
        """Lines done out of lines known (known once the file has been read through)."""
        if bulk_task.scanned_at is None:
            return "-"
        if bulk_task.is_export:
            # An export's rows are counted as its chunks write them.
            return f"{bulk_task.num_items} rows written"
        return f"{bulk_task.num_done} / {bulk_task.num_items}"

    @admin.action(
        description="Cancel the selected pending or running tasks", permissions=["cancel"]
    )
    def cancel_running(self, request: HttpRequest, queryset: QuerySet[BulkTask]) -> None:
        cancelled = 0
        running = queryset.filter(status__in=[BulkTask.Status.PENDING, BulkTask.Status.IN_PROGRESS])
        for bulk_task in running:
            try:
                bulk_task_cancel(bulk_task=bulk_task, cancelled_by=request.user)  # type: ignore[arg-type]
            except BulkTaskFinished:
                continue  # it finished between the list and the click
            cancelled += 1
        left = queryset.count() - cancelled
        self.message_user(request, f"{cancelled} task(s) cancelled.", messages.SUCCESS)
        if left:
            self.message_user(
                request, f"{left} task(s) had already finished; left alone.", messages.WARNING
            )

    @admin.action(description="Retry the selected failed tasks", permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[BulkTask]) -> None:
        retried = 0
        cancelled = queryset.filter(status=BulkTask.Status.FAILED, cancelled_at__isnull=False)
        for bulk_task in queryset.filter(status=BulkTask.Status.FAILED, cancelled_at__isnull=True):
            if bulk_task_retry(bulk_task=bulk_task).status == BulkTask.Status.PENDING:
                retried += 1
        not_cancelled = cancelled.count()
        skipped = queryset.count() - retried - not_cancelled
        self.message_user(request, f"{retried} task(s) sent back to the queue.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} task(s) were not failed, or their file has expired; left alone.",
                messages.WARNING,
            )
        if not_cancelled:
            self.message_user(
                request,
                f"{not_cancelled} task(s) were cancelled; a cancelled task is not run again.",
                messages.WARNING,
            )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        extra_context = {**(extra_context or {}), "can_upload": self.has_upload_permission(request)}
        return super().changelist_view(request, extra_context)
