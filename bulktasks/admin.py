"""Staff pages for bulk tasks: browse, filter, read a task's report, cancel or retry a task;
superusers read the download log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseGone,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt

from bulktasks.actions import action_names
from bulktasks.downloads import (
    bulk_task_file_download,
    bulk_task_file_download_record,
    bulk_task_result_download,
)
from bulktasks.errorfile.stream import bulk_task_errors_csv
from bulktasks.forms import BulkTaskUploadForm
from bulktasks.models import BulkTask, BulkTaskFileDownload, StorageProvider
from bulktasks.selectors import bulk_task_report_lines_head
from bulktasks.services import bulk_task_cancel, bulk_task_create, bulk_task_retry
from bulktasks.uploads import upload_handlers_install
from core.exceptions import BulkTaskFinished, FileExpired, ServiceError
from core.throttling import client_address

# The task page shows this many lines of each kind; the API's lines endpoint has all.
ADMIN_REPORT_LINES = 200


class ActionListFilter(admin.SimpleListFilter):
    """The registered actions, so that listing the choices does not read every task."""

    # Django's default for a plain field is SELECT DISTINCT over the whole
    # table, on every page of the task list; the registry already knows them.
    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        """One choice per registered action."""
        return [(name, name) for name in action_names()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[BulkTask]) -> QuerySet[BulkTask]:
        """The tasks of the chosen action, or all of them."""
        value = self.value()
        return queryset.filter(action=value) if value else queryset


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


@admin.register(BulkTask)
class BulkTaskAdmin(ReadOnlyAdmin):
    """Tasks are produced by processing, so staff can read them but not edit them."""

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

    @admin.display(description="Progress")
    def progress(self, bulk_task: BulkTask) -> str:
        """Lines done out of lines known (known once the file has been read through)."""
        if bulk_task.scanned_at is None:
            return "-"
        if bulk_task.is_export:
            # An export's rows are counted as its chunks write them.
            return f"{bulk_task.num_items} rows written"
        return f"{bulk_task.num_done} / {bulk_task.num_items}"

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
            return f"Expired on {_date(bulk_task)}: the file is no longer stored."
        if not bulk_task.file_key:
            return "-"
        url = reverse("admin:bulktasks_bulktask_download", args=[bulk_task.pk])
        return format_html('<a href="{}">Download {}</a>', url, bulk_task.file_original_name)

    @admin.display(description="Errored lines")
    def errors_csv(self, bulk_task: BulkTask) -> str:
        """A link to the errored lines as a CSV file to fix and upload again (the API's errors.csv)."""
        if bulk_task.file_expired_at is not None:
            return f"Expired on {_date(bulk_task)}: the file is no longer stored."
        if not bulk_task.file_key or not bulk_task.num_errors:
            return "-"
        url = reverse("admin:bulktasks_bulktask_errors_csv", args=[bulk_task.pk])
        return format_html(
            '<a href="{}">Download the {} errored lines (errors.csv)</a>', url, bulk_task.num_errors
        )

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

    @admin.display(description="Result file")
    def result_download(self, bulk_task: BulkTask) -> str:
        """A link to an export's result once it is completed; why not, otherwise."""
        if not bulk_task.is_export:
            return "-"
        if bulk_task.file_expired_at is not None:
            return f"Expired on {_date(bulk_task)}: the result is no longer stored."
        if bulk_task.status != BulkTask.Status.COMPLETED or not bulk_task.result_key:
            return "Not ready: the export is not completed"
        url = reverse("admin:bulktasks_bulktask_result", args=[bulk_task.pk])
        return format_html(
            '<a href="{}">Download the result ({})</a>', url, bulk_task.result_format
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
                "<str:object_id>/result/",
                self.admin_site.admin_view(self.result_view),
                name="bulktasks_bulktask_result",
            ),
        ]
        return custom + super().get_urls()

    def upload_entry(
        self, protected_view: Callable[[HttpRequest], HttpResponse]
    ) -> Callable[[HttpRequest], HttpResponse]:
        """The upload URL's view: the file handler for those who may upload, then ``protected_view``.

        Django's "modifying upload handlers on the fly": the handlers can only
        change before the body is read, and the CSRF middleware reads it. So
        this outer view is exempt from the middleware's check, and
        ``protected_view`` (an admin view, hence ``csrf_protect``) makes it
        after the handler is in place. Anyone else keeps the default handler,
        which stores no file.
        """

        @csrf_exempt
        def upload_entry_view(request: HttpRequest) -> HttpResponse:
            if self.admin_site.has_permission(request) and self.has_upload_permission(request):
                upload_handlers_install(request)
            return protected_view(request)

        return upload_entry_view

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Start a task for an organization by uploading a file, through the same service as the API."""
        if not self.has_upload_permission(request):
            raise PermissionDenied
        form = BulkTaskUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                bulk_task, _ = bulk_task_create(
                    organization=form.cleaned_data["organization"],
                    created_by=request.user,  # type: ignore[arg-type]
                    action=form.cleaned_data["action"],
                    override=form.cleaned_data["override"],
                    dry_run=form.cleaned_data["dry_run"],
                    file=upload,
                    original_name=upload.name or "",
                    columns=form.cleaned_data["columns"],
                )
            except ServiceError as exc:
                form.add_error("file", exc.message)
            else:
                dry_run = " as a dry run (nothing will be written)" if bulk_task.dry_run else ""
                self.message_user(
                    request, f"Task {bulk_task.pk} created{dry_run}; processing starts shortly."
                )
                return HttpResponseRedirect(
                    reverse("admin:bulktasks_bulktask_change", args=[bulk_task.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Start a bulk task",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/bulktasks/bulktask/upload.html", context)

    def download_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        """Stream the task's original file back to staff allowed to download it; audited."""
        if not self.has_download_permission(request):
            raise PermissionDenied
        bulk_task = self.get_object(request, object_id)
        if bulk_task is not None and bulk_task.file_expired_at is not None:
            return HttpResponseGone(
                f"The original file expired on {_date(bulk_task)} and is no longer stored.",
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
        bulk_task_file_download_record(
            bulk_task=bulk_task,
            downloaded_by=request.user,  # type: ignore[arg-type]
            ip_address=client_address(request),
            file_name=errors_file.filename,
        )
        response = StreamingHttpResponse(errors_file, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{errors_file.filename}"'
        return response

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The task page's "Cancel": a confirmation page, then the cancel on POST."""
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        bulk_task = self.get_object(request, object_id)
        if bulk_task is None:
            raise Http404("No such task.")
        change_page = reverse("admin:bulktasks_bulktask_change", args=[bulk_task.pk])
        if request.method == "POST":
            try:
                bulk_task_cancel(bulk_task=bulk_task, cancelled_by=request.user)  # type: ignore[arg-type]
            except BulkTaskFinished as exc:
                self.message_user(request, exc.message, messages.WARNING)
            else:
                self.message_user(request, f"Task {bulk_task.pk} cancelled.", messages.SUCCESS)
            return HttpResponseRedirect(change_page)
        context = {
            **self.admin_site.each_context(request),
            "title": "Cancel the task?",
            "opts": self.model._meta,
            "original": bulk_task,
            "change_page": change_page,
        }
        return TemplateResponse(request, "admin/bulktasks/bulktask/cancel.html", context)

    def result_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        """Stream an export's result to staff allowed to download files; audited like an original."""
        if not self.has_download_permission(request):
            raise PermissionDenied
        bulk_task = self.get_object(request, object_id)
        if bulk_task is None:
            raise Http404("No such task.")
        if bulk_task.file_expired_at is not None:
            return HttpResponseGone(
                f"The result expired on {_date(bulk_task)} and is no longer stored.",
                content_type="text/plain; charset=utf-8",
            )
        try:
            result = bulk_task_result_download(
                bulk_task=bulk_task,
                downloaded_by=request.user,  # type: ignore[arg-type]
                ip_address=client_address(request),
            )
        except ServiceError as exc:
            raise Http404(exc.message) from exc
        return FileResponse(
            result.stream, as_attachment=True, filename=result.name, content_type=result.mimetype
        )

    def has_download_permission(self, request: HttpRequest) -> bool:
        """The original file is personal data: downloading it takes a permission of its own."""
        return request.user.has_perm("bulktasks.download_bulktask_file")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """The task's fields; the download links only for staff who may download."""
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_download_permission(request):
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in _DOWNLOADS]})
            for name, options in fieldsets
        ]

    def has_upload_permission(self, request: HttpRequest) -> bool:
        """Starting a task creates users in an organization: it takes the model's add permission."""
        return request.user.has_perm("bulktasks.add_bulktask")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        """Cancelling stops a task's processing: like a retry, it takes the change permission."""
        return request.user.has_perm("bulktasks.change_bulktask")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        """Retrying sends a task back to processing: it takes the model's change permission."""
        return request.user.has_perm("bulktasks.change_bulktask")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        extra_context = {**(extra_context or {}), "can_upload": self.has_upload_permission(request)}
        return super().changelist_view(request, extra_context)

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


@admin.register(StorageProvider)
class StorageProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "bucket", "region", "id"]
    readonly_fields = ["id", "created_at"]


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
        return _is_superuser(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Who downloaded what is itself sensitive: superusers only, whatever
        # permissions staff were given.
        return _is_superuser(request)


def _date(bulk_task: BulkTask) -> str:
    """When the task's file expired, as the admin shows dates."""
    assert bulk_task.file_expired_at is not None
    return formats.date_format(timezone.localtime(bulk_task.file_expired_at), "DATETIME_FORMAT")


def _is_superuser(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_superuser)


# The fields that link to a task's personal data: shown only with the download permission.
_DOWNLOADS = ("download", "errors_csv", "result_download")
