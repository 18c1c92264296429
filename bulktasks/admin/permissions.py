"""Who may do what on the task pages, beyond Django's view permission."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest


class TaskPermissions(admin.ModelAdmin):
    """The task admin's own permissions: upload, download, cancel and retry."""

    def has_upload_permission(self, request: HttpRequest) -> bool:
        """Starting a task creates users in an organization: it takes the model's add permission."""
        return request.user.has_perm("bulktasks.add_bulktask")

    def has_download_permission(self, request: HttpRequest) -> bool:
        """The original file is personal data: downloading it takes a permission of its own."""
        return request.user.has_perm("bulktasks.download_bulktask_file")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        """Cancelling stops a task's processing: like a retry, it takes the change permission."""
        return request.user.has_perm("bulktasks.change_bulktask")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        """Retrying sends a task back to processing: it takes the model's change permission."""
        return request.user.has_perm("bulktasks.change_bulktask")
