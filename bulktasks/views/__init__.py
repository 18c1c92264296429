"""HTTP endpoints for bulk tasks; each validates, calls a selector or service, serializes.

One module per endpoint: ``tasks`` (list, create), ``task_detail`` (get one, with the
``lines`` and ``result`` mixed into it), ``cancel`` and ``errors_csv``; ``base`` holds what
they share.
"""

from __future__ import annotations

from bulktasks.views.base import bulk_task_or_404, page
from bulktasks.views.cancel import BulkTaskCancelViewSet
from bulktasks.views.errors_csv import ERRORS_CSV_DESCRIPTION, BulkTaskErrorsCsvViewSet, CsvRenderer
from bulktasks.views.task_detail import BulkTaskViewSet
from bulktasks.views.tasks import (
    CREATED_HEADERS,
    IDEMPOTENCY_KEY_PARAMETER,
    IDEMPOTENCY_KEY_RE,
    MULTIPART_OVERHEAD,
    BulkTaskCollectionViewSet,
)

__all__ = [
    "CREATED_HEADERS",
    "ERRORS_CSV_DESCRIPTION",
    "IDEMPOTENCY_KEY_PARAMETER",
    "IDEMPOTENCY_KEY_RE",
    "MULTIPART_OVERHEAD",
    "BulkTaskCancelViewSet",
    "BulkTaskCollectionViewSet",
    "BulkTaskErrorsCsvViewSet",
    "BulkTaskViewSet",
    "CsvRenderer",
    "bulk_task_or_404",
    "page",
]
