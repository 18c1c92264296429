"""Staff pages for bulk tasks: browse, filter, and read a task's report."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from bulktasks.models import BulkTask, StorageProvider
from bulktasks.selectors import bulk_task_report_lines_head

# The task page shows this many lines of each kind; the API's lines endpoint has all.
ADMIN_REPORT_LINES = 200


@admin.register(BulkTask)
class BulkTaskAdmin(admin.ModelAdmin):
    """Tasks are produced by processing, so staff can read them but not edit them."""

    list_display = [
        "id",
        "organization",
        "action",
        "status",
        "num_items",
        "num_inserts",
        "num_updates",
        "num_skips",
        "num_errors",
        "file_original_name",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "organization", "action", "created_at"]
    search_fields = ["=id", "file_original_name", "created_by__email"]
    list_select_related = ["organization", "created_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("id", "organization", "action", "status", "override", "error")}),
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
                )
            },
        ),
        (
            "Report",
            {"fields": ("num_items", "num_inserts", "num_updates", "num_skips", "num_errors")},
        ),
        (None, {"fields": ("created_by", "created_at", "updated_at")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in BulkTask._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        *args: Any,
        obj: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Add the first skipped and errored lines to the task page."""
        if obj is not None:
            context["report_lines"] = bulk_task_report_lines_head(
                bulk_task=obj, limit=ADMIN_REPORT_LINES
            )
            context["report_lines_limit"] = ADMIN_REPORT_LINES
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)


@admin.register(StorageProvider)
class StorageProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "bucket", "region", "id"]
    readonly_fields = ["id", "created_at"]
