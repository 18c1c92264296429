"""HTTP endpoints for bulk tasks; each validates, calls a selector or service, serializes."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from django.conf import settings
from rest_framework.request import Request
from rest_framework.response import Response

from bulktasks.selectors import bulk_task_get, bulk_task_report_lines_head
from bulktasks.serializers import BulkTaskSerializer
from core.exceptions import EntityNotFound
from core.responses import envelope
from users.endpoints import OBJECT_ID_PARAMETER, OrganizationViewSet
from users.permissions import BulkTaskPermission


class BulkTaskViewSet(OrganizationViewSet):
    """``/v1/organizations/{organizationId}/bulk-tasks/{bulkTaskId}``."""

    permission_classes = [BulkTaskPermission]
    lookup_url_kwarg = "bulk_task_id"
    path_parameters: ClassVar[dict[str, tuple[str, re.Pattern[str], str]]] = {
        **OrganizationViewSet.path_parameters,
        "bulk_task_id": ("bulkTaskId", *OBJECT_ID_PARAMETER),
    }

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Return one task with the first lines of its report."""
        bulk_task = bulk_task_get(
            organization=self.organization, bulk_task_id=kwargs["bulk_task_id"]
        )
        if bulk_task is None:
            raise EntityNotFound()
        report_lines = bulk_task_report_lines_head(
            bulk_task=bulk_task, limit=settings.BULK_TASK_INLINE_LINES_LIMIT
        )
        serializer = BulkTaskSerializer(bulk_task, context={"report_lines": report_lines})
        return envelope(serializer.data)
