"""``/bulk-tasks/{bulkTaskId}``: one task with its report; its ``/lines`` and ``/result`` are mixed in."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from django.conf import settings
from django.http.response import HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request

from bulktasks.models import BulkTask
from bulktasks.selectors import CallerBulkTask, bulk_task_get_with_caller
from bulktasks.serializers import BulkTaskSerializer
from bulktasks.views.base import bulk_task_or_404
from bulktasks.views.lines import TaskLines
from bulktasks.views.result import TaskResult
from core.exceptions import EntityNotFound
from core.responses import envelope_rendered
from users.endpoints import OBJECT_ID_PARAMETER, OrganizationViewSet
from users.permissions import BulkTaskPermission
from users.selectors import Caller


@extend_schema(tags=["Bulk tasks"])
class BulkTaskViewSet(TaskLines, TaskResult, OrganizationViewSet):
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
