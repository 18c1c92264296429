"""The task list: its columns, filters and the actions on selected tasks."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Q, QuerySet
from django.http import (
    HttpRequest,
)
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import smart_split, unescape_string_literal

from bulktasks.admin import list_cells, pagination
from bulktasks.admin.filters import ActionListFilter
from bulktasks.admin.pagination import TaskListPaginator
from bulktasks.admin.permissions import TaskPermissions
from bulktasks.models import BulkTask
from bulktasks.services import bulk_task_cancel, bulk_task_retry
from core.exceptions import BulkTaskFinished
from core.ids import is_object_id
from users.models import User


class TaskList(TaskPermissions):
    """The columns, filters and bulk actions of the task list."""

    # Fits a 1366-pixel screen: the action over its file, the organization over
    # who started the task, one cell for the four counts, one for progress; long
    # names cut short with their whole text in a tooltip (task_list.css).
    list_display = [
        "id",
        "status_badge",
        "task",
        "progress",
        "counts",
        "organization_creator",
        "created",
    ]
    actions = ["cancel_running", "retry_failed"]
    # No date hierarchy: it reads the first and last creation dates, then every
    # distinct year or month, over the whole table on each page. "created_at"
    # offers fixed ranges instead, answered on the bulktask_created index.
    list_filter = ["status", "dry_run", "organization", ActionListFilter, "created_at"]
    # A task id, a file name, or who created the task (see get_search_results).
    search_fields = ["=id", "file_original_name", "created_by__email"]
    search_help_text = "A task id, or part of a file name or of its creator's e-mail."
    list_select_related = ["organization", "created_by"]
    # Sorting by any other column sorts the whole table; ids sort by creation time.
    sortable_by = ["id", "created"]
    show_full_result_count = False
    # "Show counts" would count the tasks of every filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    paginator = TaskListPaginator

    def action_checkbox(self, bulk_task: BulkTask) -> SafeString:
        """Django's checkbox for the bulk actions, written out rather than rendered as a widget."""
        # The widget's template, rendered for each of a page's rows, took a tenth of the page.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            bulk_task.pk,
            f"Select this object for an action - {bulk_task}",
        )

    @admin.display(description="Status")
    def status_badge(self, bulk_task: BulkTask) -> SafeString:
        """The status as a badge with its name; cancelled tasks and dry runs have their own."""
        return list_cells.status_badge(bulk_task)

    @admin.display(description="Action / file")
    def task(self, bulk_task: BulkTask) -> SafeString:
        """The action, and under it the uploaded file's name, cut short when long."""
        return format_html(
            '<span class="task-action">{}</span>{}',
            bulk_task.action,
            list_cells.truncated(bulk_task.file_original_name, css="task-file"),
        )

    @admin.display(description="Progress")
    def progress(self, bulk_task: BulkTask) -> SafeString:
        """Lines done out of lines known (known once the file has been read through)."""
        return list_cells.progress(bulk_task)

    @admin.display(description="Lines")
    def counts(self, bulk_task: BulkTask) -> SafeString:
        """Inserted, updated, skipped and errored lines in one cell."""
        return list_cells.counts(bulk_task)

    @admin.display(description="Organization / by")
    def organization_creator(self, bulk_task: BulkTask) -> SafeString:
        """The organization's name (its slug in the tooltip), and under it who started the task."""
        organization = bulk_task.organization
        return format_html(
            "{}{}",
            list_cells.truncated(
                organization.name,
                f"{organization.name} ({organization.slug})",
                css="task-organization",
            ),
            list_cells.truncated(
                bulk_task.created_by.email if bulk_task.created_by else "", css="task-creator"
            ),
        )

    @admin.display(description="Created", ordering="id")
    def created(self, bulk_task: BulkTask) -> SafeString:
        """How long ago the task was created, the date and time in its tooltip."""
        return list_cells.relative_time(bulk_task.created_at)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[BulkTask], search_term: str
    ) -> tuple[QuerySet[BulkTask], bool]:
        """A task id is looked up on the primary key alone; other words search names and e-mails."""
        term = search_term.strip()
        if is_object_id(term):
            # Or-ed with the name and e-mail searches, an id would be matched by
            # reading every task: the one lookup is an index probe.
            return queryset.filter(pk=term.lower()), False
        for word in smart_split(term):
            # As Django's own search: only a word quoted at both ends is a literal;
            # unescape_string_literal refuses a lone or unbalanced quote (a 500).
            if len(word) > 1 and word[0] in {'"', "'"} and word[0] == word[-1]:
                word = unescape_string_literal(word)
            # The creators whose e-mail matches, found once in the users table,
            # not joined to each task: a join probes the users table per task.
            creators = User.objects.filter(email__icontains=word).values("pk")
            queryset = queryset.filter(
                Q(file_original_name__icontains=word) | Q(created_by__in=creators)
            )
        return queryset, False

    @admin.action(
        description="Cancel the selected pending or running tasks", permissions=["cancel"]
    )
    def cancel_running(self, request: HttpRequest, queryset: QuerySet[BulkTask]) -> None:
        # Counted before acting: the queryset keeps the list's filters (the
        # dashboard's "Pending" link, say), which the cancelled tasks then leave.
        selected = queryset.count()
        cancelled = 0
        running = queryset.filter(status__in=[BulkTask.Status.PENDING, BulkTask.Status.IN_PROGRESS])
        for bulk_task in running:
            try:
                bulk_task_cancel(bulk_task=bulk_task, cancelled_by=request.user)  # type: ignore[arg-type]
            except BulkTaskFinished:
                continue  # it finished between the list and the click
            cancelled += 1
        left = selected - cancelled
        self.message_user(request, f"{cancelled} task(s) cancelled.", messages.SUCCESS)
        if left:
            self.message_user(
                request, f"{left} task(s) had already finished; left alone.", messages.WARNING
            )

    @admin.action(description="Retry the selected failed tasks", permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[BulkTask]) -> None:
        # Counted before acting, as in cancel_running: a retried task leaves a "Failed" filter.
        selected = queryset.count()
        not_cancelled = queryset.filter(
            status=BulkTask.Status.FAILED, cancelled_at__isnull=False
        ).count()
        retried = 0
        for bulk_task in queryset.filter(status=BulkTask.Status.FAILED, cancelled_at__isnull=True):
            if bulk_task_retry(bulk_task=bulk_task).status == BulkTask.Status.PENDING:
                retried += 1
        skipped = selected - retried - not_cancelled
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

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> Any:
        """Django's action run, refused across pages when more tasks match than the list counts."""
        # The list offers no "Select all" then (actions.html); a form posted anyway
        # would cancel or retry every matching task, one by one, in one request.
        across = request.POST.get("select_across") in {"1", "True", "true", "on"}
        limit = pagination.COUNTED_UP_TO
        if across and queryset.order_by()[: limit + 1].count() > limit:
            self.message_user(
                request,
                f"More than {limit:,} tasks match: narrow the list with a filter or a "
                "search, then select them again. No task was changed.",
                messages.ERROR,
            )
            return None
        return super().response_action(request, queryset, *args, **kwargs)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        extra_context = {**(extra_context or {}), "can_upload": self.has_upload_permission(request)}
        return super().changelist_view(request, extra_context)
