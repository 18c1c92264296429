"""``/bulk-tasks/{bulkTaskId}/lines``: every skipped and errored line of a task's report, a page at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from bulktasks.models import BulkTask, BulkTaskLine
from bulktasks.selectors import bulk_task_lines
from bulktasks.serializers import (
    BulkTaskLinePageSerializer,
    BulkTaskLineSerializer,
    BulkTaskLinesQuerySerializer,
)
from bulktasks.views.base import page
from core.params import query_params_validate
from core.responses import envelope
from users.endpoints import OrganizationViewSet


class TaskLines(OrganizationViewSet):
    """The ``lines`` action of ``BulkTaskViewSet``."""

    # Declared for the type checker; ``BulkTaskViewSet`` defines it.
    get_bulk_task: Callable[[], BulkTask]

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
