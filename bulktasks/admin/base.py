"""What every admin page of the service shares: read-only rows, and how dates and superusers are told."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import (
    HttpRequest,
)
from django.utils import formats, timezone

from bulktasks.models import BulkTask


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the service only: the admin never adds, changes or deletes one."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Never: the service creates these rows."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Never: the service alone writes these rows."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Never: these rows are a record to keep."""
        return False


def expiry_date(bulk_task: BulkTask) -> str:
    """When the task's file expired, as the admin shows dates."""
    assert bulk_task.file_expired_at is not None
    return formats.date_format(timezone.localtime(bulk_task.file_expired_at), "DATETIME_FORMAT")


def is_superuser(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_superuser)
