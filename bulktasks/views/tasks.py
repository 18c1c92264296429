"""``/bulk-tasks``: list the organization's tasks, and create one (upload a file, or start an export)."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from bulktasks.actions import action_get
from bulktasks.columns import column_mapping_parse
from bulktasks.selectors import ReportLines, bulk_task_list
from bulktasks.serializers import (
    BulkTaskCreateSerializer,
    BulkTaskListQuerySerializer,
    BulkTaskPageSerializer,
    BulkTaskSerializer,
)
from bulktasks.services import bulk_task_submit
from bulktasks.uploads import (
    file_part_refused,
    file_parts_refuse,
    max_file_size,
    too_large_message,
    upload_handlers_install,
)
from bulktasks.views.base import bulk_task_or_404, page
from core import errors
from core.bodies import body_length_require
from core.exceptions import (
    InvalidParameter,
    PayloadTooLarge,
    PermissionDenied,
    ValidationFailed,
)
from core.openapi import raises
from core.params import query_params_validate
from core.responses import envelope
from users import catalog
from users.endpoints import OrganizationViewSet
from users.permissions import BulkTaskCollectionPermission

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
