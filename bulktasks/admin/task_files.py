"""Downloads from the task page: the original file, its errored lines and an export's result; audited."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponseGone,
    HttpResponseNotFound,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase

from bulktasks.admin.base import expiry_date
from bulktasks.admin.permissions import TaskPermissions
from bulktasks.downloads import (
    bulk_task_file_download,
    bulk_task_file_download_record,
    bulk_task_result_download,
)
from bulktasks.errorfile.stream import bulk_task_errors_csv
from core.exceptions import FileExpired, ServiceError
from core.throttling import client_address


class TaskFiles(TaskPermissions):
    """Views that stream a task's files to staff allowed to download them."""

    def download_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        """Stream the task's original file back to staff allowed to download it; audited."""
        if not self.has_download_permission(request):
            raise PermissionDenied
        bulk_task = self.get_object(request, object_id)
        if bulk_task is not None and bulk_task.file_expired_at is not None:
            return HttpResponseGone(
                f"The original file expired on {expiry_date(bulk_task)} and is no longer stored.",
                content_type="text/plain; charset=utf-8",
            )
        if bulk_task is None or not bulk_task.file_key:
            raise Http404("No such task, or it has no stored file.")
        try:
            stored = bulk_task_file_download(
                bulk_task=bulk_task,
                downloaded_by=request.user,  # type: ignore[arg-type]
                ip_address=client_address(request),
            )
        except OSError as exc:
            raise Http404("The original file is no longer stored.") from exc
        return FileResponse(
            stored,
            as_attachment=True,
            filename=bulk_task.file_original_name or "upload",
            content_type=bulk_task.file_mimetype or "application/octet-stream",
        )

    def errors_csv_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        """Stream the task's errored lines with their original cells, as the API does; audited.

        The rows are the uploaded file's personal data: the same permission as
        downloading the file, and a line in the same download log.
        """
        if not self.has_download_permission(request):
            raise PermissionDenied
        bulk_task = self.get_object(request, object_id)
        if bulk_task is None:
            raise Http404("No such task.")
        try:
            errors_file = bulk_task_errors_csv(bulk_task=bulk_task)
        except FileExpired:
            return HttpResponseGone(
                "The original file has expired and is no longer stored.",
                content_type="text/plain; charset=utf-8",
            )
        except ServiceError as exc:
            raise Http404(exc.message) from exc
        bulk_task_file_download_record(
            bulk_task=bulk_task,
            downloaded_by=request.user,  # type: ignore[arg-type]
            ip_address=client_address(request),
            file_name=errors_file.filename,
        )
        response = StreamingHttpResponse(errors_file, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{errors_file.filename}"'
        return response

    def result_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        """Stream an export's result to staff allowed to download files; audited like an original."""
        if not self.has_download_permission(request):
            raise PermissionDenied
        bulk_task = self.get_object(request, object_id)
        if bulk_task is None:
            raise Http404("No such task.")
        if bulk_task.file_expired_at is not None:
            return HttpResponseGone(
                f"The result expired on {expiry_date(bulk_task)} and is no longer stored.",
                content_type="text/plain; charset=utf-8",
            )
        try:
            result = bulk_task_result_download(
                bulk_task=bulk_task,
                downloaded_by=request.user,  # type: ignore[arg-type]
                ip_address=client_address(request),
            )
        except FileExpired:
            # As the API answers (410): the result was made, and is no longer stored.
            return HttpResponseGone(
                "The result is no longer stored.", content_type="text/plain; charset=utf-8"
            )
        except ServiceError as exc:
            raise Http404(exc.message) from exc
        except OSError:
            # The storage refused or failed the read: a page that says so, not a 500.
            return HttpResponseNotFound(
                "The result could not be read from the file storage; try again later.",
                content_type="text/plain; charset=utf-8",
            )
        return FileResponse(
            result.stream, as_attachment=True, filename=result.name, content_type=result.mimetype
        )
