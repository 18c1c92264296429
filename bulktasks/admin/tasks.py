"""The bulk task admin, assembled from its list, page, files, upload and controls."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import path

from bulktasks.admin.base import ReadOnlyAdmin
from bulktasks.admin.task_controls import TaskControls
from bulktasks.admin.task_files import TaskFiles
from bulktasks.admin.task_list import TaskList
from bulktasks.admin.task_page import TaskPage
from bulktasks.admin.task_upload import TaskUpload
from bulktasks.models import BulkTask


@admin.register(BulkTask)
class BulkTaskAdmin(TaskList, TaskPage, TaskFiles, TaskUpload, TaskControls, ReadOnlyAdmin):
    """Tasks are produced by processing, so staff can read them but not edit them."""

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "upload/",
                self.upload_entry(self.admin_site.admin_view(self.upload_view)),
                name="bulktasks_bulktask_upload",
            ),
            path(
                "<str:object_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="bulktasks_bulktask_download",
            ),
            path(
                "<str:object_id>/errors.csv",
                self.admin_site.admin_view(self.errors_csv_view),
                name="bulktasks_bulktask_errors_csv",
            ),
            path(
                "<str:object_id>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name="bulktasks_bulktask_cancel",
            ),
            path(
                "<str:object_id>/progress.json",
                self.admin_site.admin_view(self.progress_view),
                name="bulktasks_bulktask_progress",
            ),
            path(
                "<str:object_id>/result/",
                self.admin_site.admin_view(self.result_view),
                name="bulktasks_bulktask_result",
            ),
        ]
        return custom + super().get_urls()
