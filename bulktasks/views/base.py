"""What the bulk task endpoints share: a task found within the organization, and the shape of a page."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter

from bulktasks.models import BulkTask
from bulktasks.selectors import bulk_task_get
from core.exceptions import EntityNotFound
from users.models import Organization


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


def attachment_header(filename: str, *, example: str = "") -> OpenApiParameter:
    """The OpenAPI description of a download's ``Content-Disposition: attachment`` header."""
    example = f", e.g. `{example}`" if example else ""
    return OpenApiParameter(
        "Content-Disposition",
        str,
        OpenApiParameter.HEADER,
        required=True,
        response=[200],
        description=f'`attachment; filename="{filename}"`{example}.',
    )
