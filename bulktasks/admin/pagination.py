"""Pages of the task list that never count the whole task table."""

from __future__ import annotations

import math
from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Beyond this many tasks the list says "more than": a deeper page costs an
# OFFSET as deep, and staff narrow the list with a filter or a search instead.
COUNTED_UP_TO = 10_000


class TaskListPaginator(Paginator):
    """Counts at most COUNTED_UP_TO tasks, or takes PostgreSQL's estimate for the whole table.

    Django's changelist asks its paginator for an exact count on every page; over
    a million tasks that is a scan of the table (or of a large part of it, for a
    filter most tasks match) on each request.
    """

    @property
    def _queryset(self) -> QuerySet[Any]:
        # The changelist always pages a queryset.
        assert isinstance(self.object_list, QuerySet)
        return self.object_list

    @property
    def counted_up_to(self) -> int:
        """How many tasks the list counts at most."""
        return COUNTED_UP_TO

    @cached_property
    def estimated(self) -> bool:
        """Whether ``count`` is the planner's estimate of the whole table, not a count."""
        return self._table_estimate is not None

    @cached_property
    def count(self) -> int:
        """Tasks matched, exactly up to COUNTED_UP_TO, then COUNTED_UP_TO + 1 (or the estimate)."""
        estimate = self._table_estimate
        if estimate is not None:
            return estimate
        # Unordered: a filter's own index then answers, instead of the list's order.
        return self._queryset.order_by()[: COUNTED_UP_TO + 1].count()

    @property
    def more_than_counted(self) -> bool:
        """Whether more tasks match than were counted."""
        return not self.estimated and self.count > COUNTED_UP_TO

    @cached_property
    def num_pages(self) -> int:
        """Pages within the first COUNTED_UP_TO tasks: deeper pages are not offered."""
        return min(super().num_pages, math.ceil(COUNTED_UP_TO / self.per_page))

    @cached_property
    def _table_estimate(self) -> int | None:
        # Only an unfiltered list is the whole table, whose size PostgreSQL keeps
        # (as of the last ANALYZE or autovacuum) in pg_class.reltuples; a small
        # table is counted, as the estimate is then coarse and the count cheap.
        queryset = self._queryset
        if queryset.query.where:
            return None
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
        estimate = int(row[0]) if row else -1
        return estimate if estimate > COUNTED_UP_TO else None
