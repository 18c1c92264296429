"""HTTP endpoints for bulk tasks; each validates, calls a selector or service, serializes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from bulktasks.actions import action_get
from bulktasks.columns import column_mapping_parse
from bulktasks.errorfile.stream import ErrorsCsv, bulk_task_errors_csv
from bulktasks.exports import FORMATS
from bulktasks.models import BulkTask, BulkTaskLine
from bulktasks.results import bulk_task_result_open
from bulktasks.selectors import (
    CallerBulkTask,
    ReportLines,
    bulk_task_get,
    bulk_task_get_with_caller,
    bulk_task_lines,
    bulk_task_list,
    bulk_task_report_lines_head,
)
from bulktasks.serializers import (
    BulkTaskCreateSerializer,
    BulkTaskLinePageSerializer,
    BulkTaskLineSerializer,
    BulkTaskLinesQuerySerializer,
    BulkTaskListQuerySerializer,
    BulkTaskPageSerializer,
    BulkTaskSerializer,
)
from bulktasks.services import bulk_task_cancel, bulk_task_submit
from bulktasks.uploads import (
    file_part_refused,
    file_parts_refuse,
    max_file_size,
    too_large_message,
    upload_handlers_install,
)
from core import errors
from core.bodies import body_length_require
from core.exceptions import (
    EntityNotFound,
    InvalidParameter,
    PayloadTooLarge,
    PermissionDenied,
    ValidationFailed,
)
from core.openapi import never_raises, raises
from core.params import query_params_validate
from core.responses import envelope, envelope_rendered
from users import catalog
from users.endpoints import OBJECT_ID_PARAMETER, OrganizationViewSet
from users.models import Organization
from users.permissions import (
    BulkTaskCancelPermission,
    BulkTaskCollectionPermission,
    BulkTaskPermission,
)
from users.selectors import Caller

# Multipart framing around the file: boundaries, headers and the small fields.
MULTIPART_OVERHEAD = 64 * 1024
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    pattern=IDEMPOTENCY_KEY_RE.pattern,
    description=(
        "1 to 255 printable ASCII characters. A repeat from the same user in the same "
        "organization within 24 hours returns the first task and creates nothing; the "
        "same key with another action, override, dryRun, column mapping, file or format is "
        "refused (409, 3004)."
    ),
)
CREATED_HEADERS = [
    OpenApiParameter(
        "Location",
        str,
        OpenApiParameter.HEADER,
        required=True,
        response=[201],
        description="The URL of the task.",
    ),
    OpenApiParameter(
        "Idempotent-Replayed",
        str,
        OpenApiParameter.HEADER,
        enum=["true"],
        response=[201],
        description="Sent when an earlier request with the same Idempotency-Key made the task.",
    ),
]


def bulk_task_or_404(*, organization: Organization, bulk_task_id: str) -> BulkTask:
    """The organization's task, or the 404 that never says whether another tenant has it."""
    bulk_task = bulk_task_get(organization=organization, bulk_task_id=bulk_task_id)
    if bulk_task is None:
        raise EntityNotFound()
    return bulk_task


def page(items: Any, has_more: bool, next_cursor: str | None) -> dict[str, Any]:
    """The shape of every paged list: items (a serialized list), whether more follow, and the cursor for them."""
    body: dict[str, Any] = {"items": items, "hasMore": has_more}
    if has_more and next_cursor is not None:
        body["nextCursor"] = next_cursor
    return body


@extend_schema(tags=["Bulk tasks"])
class BulkTaskCollectionViewSet(OrganizationViewSet):
    """``/v1/organizations/{organizationId}/bulk-tasks``: list, and upload to create."""

    permission_classes = [BulkTaskCollectionPermission]
    throttle_scopes = {**OrganizationViewSet.throttle_scopes, "POST": "uploads"}
    # The one endpoint that takes multipart: a file and its form fields.
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="listBulkTasks",
        summary="List bulkTasks",
        description=(
            "Required permission: `base.bulk.management.list`. The organization's tasks, "
            "newest first, a page at a time; items leave out the report's line lists "
            "(see `/lines`). A bad query parameter is 400 (1001), naming it."
        ),
        parameters=[BulkTaskListQuerySerializer],
        responses={200: BulkTaskPageSerializer},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The organization's tasks, newest first, a cursor page at a time."""
        params = query_params_validate(BulkTaskListQuerySerializer, request)
        tasks, has_more = bulk_task_list(
            organization=self.organization,
            status=params.get("status"),
            action=params.get("action"),
            created_by_id=params.get("createdBy"),
            before_id=params.get("cursor"),
            limit=params["limit"],
        )
        items = BulkTaskSerializer(tasks, many=True).data
        return envelope(page(items, has_more, tasks[-1].pk if tasks else None))

    @extend_schema(
        operation_id="createBulkTask",
        summary="Create a bulkTask by uploading a file, or start an export",
        description=(
            "**An upload** (an action that reads a file, e.g. `users.import`): required "
            "permission `base.bulk.management.create`. Stores the file (CSV with a header "
            "row, or JSON Lines, in UTF-8; or an Excel workbook, .xlsx, whose first sheet is "
            "read with its header row) and answers 201 at once with the pending task; a "
            "worker processes it in the background. The type comes from the file's bytes. A "
            "password-protected, macro-enabled (.xlsm) or legacy (.xls) workbook is 415 "
            "(1011); a corrupt one, or one that would unpack past the limits (a zip bomb), "
            "400 (1012). `columns` maps the file's headers to the action's columns. With "
            "`dryRun=true` every line is decided and reported as a real run would, and "
            "nothing is written.\n\n"
            "**An export** (an action that produces a file, e.g. `users.export`): required "
            "permission `base.bulk.management.export`. The form has `action` and an "
            "optional `format` (`csv`, the default, `jsonl` or `xlsx`) and no file part; "
            "once the task is `completed`, `GET .../bulk-tasks/{bulkTaskId}/result` "
            "downloads the file. An `xlsx` export holds one sheet of at most 1,048,575 rows "
            "(all an import reads): an organization with more members to export is 400 "
            "(1014); ask for `csv` or `jsonl`.\n\n"
            "A file part for an export, `format` for an upload, or no file for an upload "
            "is 400 (1002), naming the field; so are `dryRun=true`, `columns` or "
            "`override=true` for an export."
        ),
        request={"multipart/form-data": BulkTaskCreateSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER, *CREATED_HEADERS],
        responses={201: BulkTaskSerializer},
    )
    @raises(
        errors.VALIDATION_FAILED,
        errors.UNKNOWN_ACTION,
        errors.UNSUPPORTED_FILE_TYPE,
        errors.UNSUPPORTED_WORKBOOK,
        errors.UNREADABLE_WORKBOOK,
        errors.INVALID_COLUMN_MAPPING,
        errors.EXPORT_TOO_LARGE,
        errors.IDEMPOTENCY_KEY_REUSED,
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Store the uploaded file and return the pending task at once; a worker processes it."""
        body_length_require(request._request)
        # Refuse an oversized upload from its declared length, before reading a byte of it.
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if (
            declared.isascii()
            and declared.isdigit()
            and int(declared) > max_file_size() + MULTIPART_OVERHEAD
        ):
            raise PayloadTooLarge(too_large_message())
        if self.organization_access.allows(catalog.BULK_TASK_CREATE):
            # The caller may upload (authenticated, permitted): only now may the file reach the disk.
            upload_handlers_install(request._request)
        else:
            # Only exports for this caller: a file part is noted, never stored.
            file_parts_refuse(request._request)
        idempotency_key = request.headers.get("Idempotency-Key")
        if idempotency_key is not None and not IDEMPOTENCY_KEY_RE.fullmatch(idempotency_key):
            raise InvalidParameter("Idempotency-Key", "1 to 255 printable ASCII characters")
        repeated = [
            name
            for name in BulkTaskCreateSerializer().fields
            if hasattr(request.data, "getlist") and len(request.data.getlist(name)) > 1
        ]
        if repeated:
            # A form reads the last of repeated fields: "dryRun=true&dryRun=false"
            # would run for real. Ambiguity is refused, not guessed.
            raise ValidationFailed(f"{repeated[0]}: given more than once; send it once")
        serializer = BulkTaskCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        action = serializer.validated_data["action"]
        handler = action_get(action)
        if handler is not None and not self.organization_access.allows(handler.permission):
            raise PermissionDenied(f"Permission denied: {handler.permission} is required")
        if file_part_refused(request._request):
            raise ValidationFailed(f"file: {action[:100]} reads no file; send the form without one")
        upload = serializer.validated_data.get("file")
        columns = column_mapping_parse(serializer.validated_data.get("columns"))
        bulk_task, created = bulk_task_submit(
            organization=self.organization,
            created_by=self.member,
            action=action,
            override=serializer.validated_data["override"],
            dry_run=serializer.validated_data["dryRun"],
            file=upload,
            original_name=(upload.name or "") if upload is not None else "",
            result_format=serializer.validated_data.get("format"),
            idempotency_key=idempotency_key,
            columns=columns,
        )
        if not created:
            # A replay answers the task as it stands now, report included.
            bulk_task = bulk_task_or_404(organization=self.organization, bulk_task_id=bulk_task.pk)
        body = BulkTaskSerializer(bulk_task, context={"report_lines": ReportLines()}).data
        headers = {
            "Location": request.build_absolute_uri(f"{request.path.rstrip('/')}/{bulk_task.pk}")
        }
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return envelope(body, status=201, headers=headers)


@extend_schema(tags=["Bulk tasks"])
class BulkTaskViewSet(OrganizationViewSet):
    """``/v1/organizations/{organizationId}/bulk-tasks/{bulkTaskId}`` and its ``/lines``."""

    permission_classes = [BulkTaskPermission]
    lookup_url_kwarg = "bulk_task_id"
    path_parameters: ClassVar[dict[str, tuple[str, re.Pattern[str], str]]] = {
        **OrganizationViewSet.path_parameters,
        "bulk_task_id": ("bulkTaskId", *OBJECT_ID_PARAMETER),
    }

    # What ``get_caller`` read together with the caller, for ``retrieve``.
    caller_bulk_task: CallerBulkTask | None = None

    def get_caller(self, *, user_id: str, organization_key: str) -> Caller:
        """For ``retrieve``, the caller, the task and its first report lines in one round trip."""
        if self.action != "retrieve":
            return super().get_caller(user_id=user_id, organization_key=organization_key)
        self.caller_bulk_task = bulk_task_get_with_caller(
            user_id=user_id,
            organization_id_or_slug=organization_key,
            bulk_task_id=self.kwargs["bulk_task_id"],
            lines_limit=settings.BULK_TASK_INLINE_LINES_LIMIT,
        )
        return self.caller_bulk_task.caller

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        """A result is its file whatever ``Accept`` asks (``text/csv``, say); errors stay JSON."""
        if self.action == "result":
            renderer = self.get_renderers()[0]
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    def get_bulk_task(self) -> BulkTask:
        """The task named in the path, within the resolved organization, or 404."""
        return bulk_task_or_404(
            organization=self.organization, bulk_task_id=self.kwargs["bulk_task_id"]
        )

    @extend_schema(
        operation_id="getBulkTask",
        summary="Get bulkTask by ID",
        description=(
            "Required permission: `base.bulk.management.get`. The task with its report; "
            "the inline line lists hold the first 1,000 lines of each kind, the counters "
            "the true totals. Fields the service has no value for are left out, never null."
        ),
        responses={200: BulkTaskSerializer},
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Return one task with the first lines of its report, read with the caller in ``initial``."""
        found = self.caller_bulk_task
        assert found is not None, "get_caller reads the task for retrieve"
        if found.bulk_task is None:
            raise EntityNotFound()
        serializer = BulkTaskSerializer(
            found.bulk_task, context={"report_lines": found.report_lines}
        )
        return envelope_rendered(request, serializer.data)

    @extend_schema(
        operation_id="listBulkTaskLines",
        summary="List a bulkTask's report lines",
        description=(
            "Required permission: `base.bulk.management.get`. Every skipped and errored "
            "line of the report, in line order, a page at a time, each with its reason."
        ),
        parameters=[BulkTaskLinesQuerySerializer],
        responses={200: BulkTaskLinePageSerializer},
    )
    def lines(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Every skipped and errored line of the report, in line order, a page at a time."""
        params = query_params_validate(BulkTaskLinesQuerySerializer, request)
        bulk_task = self.get_bulk_task()
        kind = {"errored": BulkTaskLine.Kind.ERRORED, "skipped": BulkTaskLine.Kind.SKIPPED}.get(
            params.get("kind", "")
        )
        lines, has_more = bulk_task_lines(
            bulk_task=bulk_task,
            kind=kind,
            after_line=params.get("cursor", 0),
            limit=params["limit"],
        )
        items = BulkTaskLineSerializer(lines, many=True).data
        return envelope(page(items, has_more, str(lines[-1].line) if lines else None))

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
            OpenApiParameter(
                "Content-Disposition",
                str,
                OpenApiParameter.HEADER,
                required=True,
                response=[200],
                description=(
                    '`attachment; filename="<organization slug>-<title>-<bulkTaskId>'
                    '.<csv|jsonl|xlsx>"`, e.g. `acme-users-65a0c0ffee0123456789abcd.csv`.'
                ),
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


@extend_schema(tags=["Bulk tasks"])
class BulkTaskCancelViewSet(OrganizationViewSet):
    """``/v1/organizations/{organizationId}/bulk-tasks/{bulkTaskId}/cancel``."""

    permission_classes = [BulkTaskCancelPermission]
    path_parameters = BulkTaskViewSet.path_parameters

    @extend_schema(
        operation_id="cancelBulkTask",
        summary="Cancel a bulkTask",
        description=(
            "Required permission: `base.bulk.management.cancel`. No request body. A pending "
            "task ends at once; a task in progress ends at once too, and its workers stop at "
            "their next chunk boundary (within a second or two): it keeps the counts and "
            "report lines of the chunks already committed, and nothing of a chunk that was "
            "half done. Either way the task answered is `failed`, with `error` "
            '"Cancelled by <e-mail of the caller>". Cancelling a cancelled task again '
            "answers it unchanged. A task that completed, or failed on its own, is 409 (3005)."
        ),
        request=None,
        responses={200: BulkTaskSerializer},
    )
    @raises(errors.BULK_TASK_FINISHED)
    def cancel(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Cancel the task and return it as GET does, report lines included."""
        bulk_task = bulk_task_or_404(
            organization=self.organization, bulk_task_id=self.kwargs["bulk_task_id"]
        )
        bulk_task_cancel(bulk_task=bulk_task, cancelled_by=self.member)
        # Read again as GET reads it: the creator with it, then the report's first lines.
        bulk_task = bulk_task_or_404(organization=self.organization, bulk_task_id=bulk_task.pk)
        lines = bulk_task_report_lines_head(
            bulk_task=bulk_task, limit=settings.BULK_TASK_INLINE_LINES_LIMIT
        )
        return envelope(BulkTaskSerializer(bulk_task, context={"report_lines": lines}).data)


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
        parameters=[
            OpenApiParameter(
                "Content-Disposition",
                str,
                OpenApiParameter.HEADER,
                required=True,
                response=[200],
                description='`attachment; filename="<uploaded name>-errors.csv"`.',
            )
        ],
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
