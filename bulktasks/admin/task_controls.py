"""Stopping a task from its page, after a confirmation."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import reverse

from bulktasks.admin.permissions import TaskPermissions
from bulktasks.services import bulk_task_cancel
from core.exceptions import BulkTaskFinished


class TaskControls(TaskPermissions):
    """The cancel confirmation page."""

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
