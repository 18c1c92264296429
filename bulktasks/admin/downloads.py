"""The audit log of files downloaded from the admin: superusers read it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import (
    HttpRequest,
)
from django.urls import reverse
from django.utils.html import format_html

from bulktasks.admin.base import ReadOnlyAdmin, is_superuser
from bulktasks.models import BulkTaskFileDownload


@admin.register(BulkTaskFileDownload)
class BulkTaskFileDownloadAdmin(ReadOnlyAdmin):
    """The audit log of original files downloaded: superusers read it, nobody writes it here."""

    list_display = [
        "downloaded_at",
        "downloaded_by_email",
        "task",
        "file_original_name",
        "ip_address",
    ]
    list_filter = ["downloaded_at"]
    search_fields = ["=task_reference", "downloaded_by_email", "file_original_name"]
    date_hierarchy = "downloaded_at"
    show_full_result_count = False
    fields = readonly_fields = (
        "downloaded_at",
        "downloaded_by_email",
        "downloaded_by",
        "task",
        "file_original_name",
        "ip_address",
    )

    @admin.display(description="Task", ordering="task_reference")
    def task(self, download: BulkTaskFileDownload) -> str:
        """The task's id, linked to its page while the task exists."""
        if download.bulk_task_id is None:
            return download.task_reference
        url = reverse("admin:bulktasks_bulktask_change", args=[download.bulk_task_id])
        return format_html('<a href="{}">{}</a>', url, download.task_reference)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Who downloaded what is itself sensitive: superusers only, whatever
        # permissions staff were given.
        return is_superuser(request)
