"""``/bulk-tasks/{bulkTaskId}/cancel``: stop a pending or running task."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from bulktasks.selectors import bulk_task_report_lines_head
from bulktasks.serializers import BulkTaskSerializer
from bulktasks.services import bulk_task_cancel
from bulktasks.views.base import bulk_task_or_404
from bulktasks.views.task_detail import BulkTaskViewSet
from core import errors
from core.openapi import raises
from core.responses import envelope
from users.endpoints import OrganizationViewSet
from users.permissions import BulkTaskCancelPermission


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
