"""The task page: its report first (status, progress, counts, lines a page at a time), then the
task's fields folded away, and the small JSON document its script polls while the task runs."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse, QueryDict
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from bulktasks.admin.base import expiry_date
from bulktasks.admin.permissions import TaskPermissions
from bulktasks.models import BulkTask, BulkTaskLine
from bulktasks.selectors import LinesPage, bulk_task_lines_page

# Lines of each kind on one page of the report; the API's lines endpoint pages through all.
ADMIN_REPORT_LINES = 50

# The report's two line tables: the query parameters of their cursors, and their kind.
_LINE_KINDS = (("errored", BulkTaskLine.Kind.ERRORED), ("skipped", BulkTaskLine.Kind.SKIPPED))


def _cursor(query: QueryDict, name: str) -> int | None:
    """A line-number cursor from the query string; anything but a positive integer is none."""
    value = query.get(name, "")
    # isascii: str.isdigit() also accepts digits such as "²" that int() refuses.
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 2**31 else None


def _without(query: QueryDict, prefix: str) -> QueryDict:
    """The query string without one table's cursor: that table's first page."""
    params = query.copy()
    params.pop(f"{prefix}_after", None)
    params.pop(f"{prefix}_before", None)
    return params


def _page_link(query: QueryDict, prefix: str, key: str, line: int) -> str:
    """The query string of another page of one table, the other table's page kept."""
    params = _without(query, prefix)
    params[f"{prefix}_{key}"] = str(line)
    return "?" + params.urlencode()


def task_progress(bulk_task: BulkTask) -> dict[str, Any]:
    """Where the task stands: the report's head, as the page shows it and its script reads it."""
    # An import knows its total once the file has been read through; an
    # export counts the rows it writes and knows no total before it is done.
    known = bulk_task.scanned_at is not None and not bulk_task.is_export
    return {
        "id": bulk_task.pk,
        "status": bulk_task.status,
        "status_display": bulk_task.get_status_display(),
        "is_finished": bulk_task.is_finished,
        "processed": bulk_task.num_items if bulk_task.is_export else bulk_task.num_done,
        "total": bulk_task.num_items if known else None,
        "counts": {
            "items": bulk_task.num_items,
            "inserted": bulk_task.num_inserts,
            "updated": bulk_task.num_updates,
            "skipped": bulk_task.num_skips,
            "errored": bulk_task.num_errors,
        },
        "error": bulk_task.error,
    }


class TaskPage(TaskPermissions):
    """The report, fields and file links of one task's page."""

    # The report above these says how the task went; the details are for
    # whoever digs further, so all but the first set start folded.
    fieldsets = (
        (
            "Task",
            {
                "fields": (
                    "id",
                    "organization",
                    "action",
                    "override",
                    "dry_run",
                    "created_by",
                    "created_at",
                    "updated_at",
                )
            },
        ),
        ("Column mapping", {"classes": ("collapse",), "fields": ("columns",)}),
        (
            "File",
            {
                "classes": ("collapse",),
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
                ),
            },
        ),
        (
            "Processing",
            {
                "classes": ("collapse",),
                "fields": (
                    "attempts",
                    "scanned_at",
                    "started_at",
                    "finished_at",
                    "cancelled_at",
                    "cancelled_by",
                    "lease_owner",
                    "lease_expires_at",
                ),
            },
        ),
        (
            "Result",
            {"classes": ("collapse",), "fields": ("result_format", "result_size", "result_key")},
        ),
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

    def download(self, bulk_task: BulkTask) -> str:
        """A link to the original file, or why there is none."""
        if bulk_task.file_expired_at is not None:
            return f"Original file expired on {expiry_date(bulk_task)}: no longer stored."
        if not bulk_task.file_key:
            return ""
        url = reverse("admin:bulktasks_bulktask_download", args=[bulk_task.pk])
        return format_html('<a href="{}">Download {}</a>', url, bulk_task.file_original_name)

    def errors_csv(self, bulk_task: BulkTask) -> str:
        """A link to the errored lines as a CSV file to fix and upload again (the API's errors.csv)."""
        if bulk_task.file_expired_at is not None or not bulk_task.file_key:
            return ""
        if not bulk_task.num_errors:
            return ""
        url = reverse("admin:bulktasks_bulktask_errors_csv", args=[bulk_task.pk])
        return format_html(
            '<a href="{}">Download the {} errored lines (errors.csv)</a>', url, bulk_task.num_errors
        )

    def result_download(self, bulk_task: BulkTask) -> str:
        """A link to an export's result once it is completed; why not, otherwise."""
        if not bulk_task.is_export:
            return ""
        if bulk_task.file_expired_at is not None:
            return f"Result expired on {expiry_date(bulk_task)}: no longer stored."
        if bulk_task.status != BulkTask.Status.COMPLETED or not bulk_task.result_key:
            return "Not ready: the export is not completed"
        url = reverse("admin:bulktasks_bulktask_result", args=[bulk_task.pk])
        return format_html(
            '<a href="{}">Download the result ({})</a>', url, bulk_task.result_format
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in BulkTask._meta.fields] + ["columns"]

    def report_lines(self, request: HttpRequest, bulk_task: BulkTask) -> list[dict[str, Any]]:
        """The page of errored and of skipped lines the query string asks for, with their links."""
        tables = []
        for prefix, kind in _LINE_KINDS:
            after = _cursor(request.GET, f"{prefix}_after")
            before = _cursor(request.GET, f"{prefix}_before")
            total = (
                bulk_task.num_errors if kind == BulkTaskLine.Kind.ERRORED else bulk_task.num_skips
            )
            if after is None and before is None and not total:
                # The counters say there is none: no query, as the API's head does.
                page = LinesPage(lines=[], previous_before=None, next_after=None)
            else:
                page = bulk_task_lines_page(
                    bulk_task=bulk_task,
                    kind=kind,
                    limit=ADMIN_REPORT_LINES,
                    after_line=after or 0,
                    before_line=before if after is None else None,
                )
            first = "?" + _without(request.GET, prefix).urlencode()
            tables.append(
                {
                    "prefix": prefix,
                    "title": f"{prefix.capitalize()} lines",
                    "total": total,
                    "lines": page.lines,
                    "paged": bool(after or before),
                    "first": first if (after or before) else None,
                    "previous": _page_link(request.GET, prefix, "before", page.previous_before)
                    if page.previous_before is not None
                    else None,
                    "next": _page_link(request.GET, prefix, "after", page.next_after)
                    if page.next_after is not None
                    else None,
                }
            )
        return tables

    def progress_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        """Where the task stands, as JSON: what the task page's script polls while the task runs."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        bulk_task = self.get_object(request, object_id)
        if bulk_task is None:
            raise Http404("No such task.")
        return JsonResponse(task_progress(bulk_task))

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        """Put the report above the fields: status, progress, counts, links and the lines' pages."""
        if obj is not None:
            links = []
            if self.has_download_permission(request):
                links = [
                    link
                    for link in (
                        self.download(obj),
                        self.errors_csv(obj),
                        self.result_download(obj),
                    )
                    if link
                ]
            context.update(
                {
                    "can_cancel": not obj.is_finished and self.has_cancel_permission(request),
                    "progress": task_progress(obj),
                    "progress_url": reverse("admin:bulktasks_bulktask_progress", args=[obj.pk]),
                    "report_tables": self.report_lines(request, obj),
                    "report_lines_limit": ADMIN_REPORT_LINES,
                    "file_links": links,
                }
            )
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )
