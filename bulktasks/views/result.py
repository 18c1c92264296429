"""``/bulk-tasks/{bulkTaskId}/result``: download an export's result file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import FileResponse
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request

from bulktasks.exports import FORMATS
from bulktasks.models import BulkTask
from bulktasks.results import bulk_task_result_open
from bulktasks.views.base import attachment_header
from core import errors
from core.openapi import never_raises, raises
from users.endpoints import OrganizationViewSet


class TaskResult(OrganizationViewSet):
    """The ``result`` action of ``BulkTaskViewSet``, and the content negotiation it needs."""

    # Declared for the type checker; ``BulkTaskViewSet`` defines it.
    get_bulk_task: Callable[[], BulkTask]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        """A result is its file whatever ``Accept`` asks (``text/csv``, say); errors stay JSON."""
        if self.action == "result":
            renderer = self.get_renderers()[0]
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        operation_id="getBulkTaskResult",
        summary="Download a bulkTask's result file",
        description=(
            "Required permission: `base.bulk.management.get`. The result file of an export "
            "(e.g. `users.export`) once its task is `completed`, streamed as an attachment "
            "in the format the task was created with: `text/csv; charset=utf-8`, "
            "`application/x-ndjson` or the XLSX media type. `Content-Disposition` names it "
            "`<organization slug>-<title>-<bulkTaskId>.<csv|jsonl|xlsx>`. A task still "
            "`pending` or `inProgress` is 409 (3007): poll the task, then retry; a failed "
            "export is 409 (3008); a task of an action that produces no file (an import) "
            "is 409 (3009). The file is sent whatever the `Accept` header asks (never "
            "406); errors are JSON."
        ),
        parameters=[
            attachment_header(
                "<organization slug>-<title>-<bulkTaskId>.<csv|jsonl|xlsx>",
                example="acme-users-65a0c0ffee0123456789abcd.csv",
            )
        ],
        responses={
            # CSV and JSON Lines are text (UTF-8), an XLSX workbook is binary.
            (200, export.mimetype): OpenApiResponse(
                response=OpenApiTypes.BINARY if export.name == "xlsx" else OpenApiTypes.STR,
                description=(
                    "The result file, as an attachment: for `format=csv` CSV with a header "
                    "row, for `jsonl` one JSON object a line, for `xlsx` a workbook of one "
                    "sheet with a header row; the media type says which."
                ),
            )
            for export in FORMATS.values()
        },
    )
    @never_raises(errors.NOT_ACCEPTABLE)
    @raises(
        errors.FILE_EXPIRED,
        errors.RESULT_NOT_READY,
        errors.RESULT_NOT_PRODUCED,
        errors.NO_RESULT_FILE,
    )
    def result(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Stream a completed export's result file as an attachment."""
        bulk_task = self.get_bulk_task()
        result = bulk_task_result_open(
            bulk_task=bulk_task, organization_slug=self.organization.slug
        )
        response = FileResponse(
            result.stream, as_attachment=True, filename=result.name, content_type=result.mimetype
        )
        if result.size is not None:
            response["Content-Length"] = str(result.size)
        return response
