"""Starting a task from the admin by uploading a file, through the API's service."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from bulktasks.admin.permissions import TaskPermissions
from bulktasks.forms import BulkTaskUploadForm
from bulktasks.services import bulk_task_create
from bulktasks.uploads import upload_handlers_install
from core.exceptions import ServiceError


class TaskUpload(TaskPermissions):
    """The upload page and the file handler it installs."""

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
