"""``/bulk-tasks/{bulkTaskId}/errors.csv``: a task's errored lines as a CSV to fix and upload again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from bulktasks.errorfile.stream import ErrorsCsv, bulk_task_errors_csv
from bulktasks.views.base import attachment_header
from bulktasks.views.task_detail import BulkTaskViewSet
from core import errors
from core.openapi import raises


class CsvRenderer(BaseRenderer):
    """Lets ``Accept: text/csv`` through content negotiation; the CSV itself is streamed by the view."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        """Never called for a success; an error's envelope is rendered as JSON (``finalize_response``)."""
        return JSONRenderer().render(data, accepted_media_type, renderer_context)


ERRORS_CSV_DESCRIPTION = """\
Required permission: `base.bulk.management.get`. The task's errored lines as a CSV
file to fix and upload again: the original header's columns (for JSON Lines, the
keys in order of first appearance), then `errorLine` and `errorReason`; one row per
errored line, in line order, with the original cells as uploaded. Every cell is
quoted; a cell starting with `=`, `+`, `-`, `@`, a tab, a carriage return or NUL
gets an apostrophe in front (OWASP's advice on CSV injection), which the import
takes off again when the file comes back. A task without errored lines gives the
header row alone; a task still running gives the lines recorded so far. Accepts
`text/csv` (any `Accept` that allows it); errors are JSON envelopes whatever the
`Accept`. 410 (3006) once the task's file has expired
(`BULK_TASK_FILE_RETENTION_DAYS`). An export reads no file and has no errors
file: 409 (3012); its file is `GET .../result`."""


@extend_schema(tags=["Bulk tasks"])
class BulkTaskErrorsCsvViewSet(BulkTaskViewSet):
    """``/v1/organizations/{organizationId}/bulk-tasks/{bulkTaskId}/errors.csv``."""

    # Only what the success is: a client that accepts no CSV gets 406 (1005).
    renderer_classes = [CsvRenderer]

    def finalize_response(
        self, request: Request, response: Any, *args: Any, **kwargs: Any
    ) -> Response:
        """Errors go out as the JSON envelope, whatever ``Accept`` asked for."""
        if isinstance(response, Response):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        operation_id="getBulkTaskErrorsCsv",
        summary="Download a bulkTask's errored lines as CSV",
        description=ERRORS_CSV_DESCRIPTION,
        parameters=[attachment_header("<uploaded name>-errors.csv")],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The errors file, as an attachment (`Content-Disposition`).",
            )
        },
    )
    @raises(errors.FILE_EXPIRED, errors.NO_ERRORS_FILE)
    def errors_csv(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Stream the task's errored lines with their original cells, as a CSV to fix and upload again."""
        errors_file = bulk_task_errors_csv(bulk_task=self.get_bulk_task())
        content: Any = errors_file
        if isinstance(request._request, ASGIRequest):
            # Under ASGI Django reads a sync iterator whole into memory before sending it.
            content = _async_parts(errors_file)
        response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=errors_file.filename
        )
        return response


async def _async_parts(errors_file: ErrorsCsv) -> AsyncIterator[bytes]:
    """The errors file a part at a time, each made in the thread that serves the request's database."""
    parts = iter(errors_file)

    def step() -> bytes | None:
        return next(parts, None)

    try:
        while (part := await sync_to_async(step, thread_sensitive=True)()) is not None:
            yield part
    finally:
        await sync_to_async(errors_file.close, thread_sensitive=True)()
