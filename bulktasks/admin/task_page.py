"""The task page: its report, the task's fields and the links to its files."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import (
    HttpRequest,
)
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from bulktasks.admin.base import expiry_date
from bulktasks.admin.permissions import TaskPermissions
from bulktasks.models import BulkTask
from bulktasks.selectors import bulk_task_report_lines_head

# The task page shows this many lines of each kind; the API's lines endpoint has all.
ADMIN_REPORT_LINES = 200

# The fields that link to a task's personal data: shown only with the download permission.
_DOWNLOADS = ("download", "errors_csv", "result_download")


class TaskPage(TaskPermissions):
    """The report, fields and file links of one task's page."""

    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "organization",
                    "action",
                    "status",
                    "override",
                    "dry_run",
                    "columns",
                    "error",
                )
            },
        ),
        (
            "File",
            {
                "fields": (
                    "file_original_name",
                    "file_mimetype",
                    "file_size",
                    "file_checksum",
                    "storage_provider",
                    "file_bucket",
                    "file_key",
                    "file_location",
                    "file_region",
                    "rows_key",
                    "file_expired_at",
                )
            },
        ),
        (
            "Report",
            {"fields": ("num_items", "num_inserts", "num_updates", "num_skips", "num_errors")},
        ),
        (
            "Processing",
            {
                "fields": (
                    "attempts",
                    "scanned_at",
                    "started_at",
                    "finished_at",
                    "cancelled_at",
                    "cancelled_by",
                    "lease_owner",
                    "lease_expires_at",
                )
            },
        ),
        (
            "Result",
            {"fields": ("result_format", "result_size", "result_key", "result_download")},
        ),
        (None, {"fields": ("created_by", "created_at", "updated_at", "download", "errors_csv")}),
    )

    @admin.display(description="Column mapping")
    def columns(self, bulk_task: BulkTask) -> str:
        """Each header of the file the upload mapped, and the column it became."""
        if not bulk_task.column_mapping:
            return "-"
        return format_html_join(
            mark_safe("<br>"),
            "{} \u2192 {}",
            sorted(bulk_task.column_mapping.items()),
        )

    @admin.display(description="Original file")
    def download(self, bulk_task: BulkTask) -> str:
        if bulk_task.file_expired_at is not None:
            return f"Expired on {expiry_date(bulk_task)}: the file is no longer stored."
        if not bulk_task.file_key:
            return "-"
        url = reverse("admin:bulktasks_bulktask_download", args=[bulk_task.pk])
        return format_html('<a href="{}">Download {}</a>', url, bulk_task.file_original_name)

    @admin.display(description="Errored lines")
    def errors_csv(self, bulk_task: BulkTask) -> str:
        """A link to the errored lines as a CSV file to fix and upload again (the API's errors.csv)."""
        if bulk_task.file_expired_at is not None:
            return f"Expired on {expiry_date(bulk_task)}: the file is no longer stored."
        if not bulk_task.file_key or not bulk_task.num_errors:
            return "-"
        url = reverse("admin:bulktasks_bulktask_errors_csv", args=[bulk_task.pk])
        return format_html(
            '<a href="{}">Download the {} errored lines (errors.csv)</a>', url, bulk_task.num_errors
        )

    @admin.display(description="Result file")
    def result_download(self, bulk_task: BulkTask) -> str:
        """A link to an export's result once it is completed; why not, otherwise."""
        if not bulk_task.is_export:
            return "-"
        if bulk_task.file_expired_at is not None:
            return f"Expired on {expiry_date(bulk_task)}: the result is no longer stored."
        if bulk_task.status != BulkTask.Status.COMPLETED or not bulk_task.result_key:
            return "Not ready: the export is not completed"
        url = reverse("admin:bulktasks_bulktask_result", args=[bulk_task.pk])
        return format_html(
            '<a href="{}">Download the result ({})</a>', url, bulk_task.result_format
        )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """The task's fields; the download links only for staff who may download."""
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_download_permission(request):
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in _DOWNLOADS]})
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in BulkTask._meta.fields] + [
            "download",
            "errors_csv",
            "columns",
            "result_download",
        ]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        """Add the first skipped and errored lines to the task page; say if it is a dry run."""
        if obj is not None and obj.dry_run:
            self.message_user(
                request,
                "A dry run: its report shows what importing the file would do; "
                "nothing was written.",
                messages.INFO,
            )
        if obj is not None:
            context["can_cancel"] = not obj.is_finished and self.has_cancel_permission(request)
            context["report_lines"] = bulk_task_report_lines_head(
                bulk_task=obj, limit=ADMIN_REPORT_LINES
            )
            context["report_lines_limit"] = ADMIN_REPORT_LINES
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )
