"""The staff dashboard's figures: what happened to tasks over the last hours, on indexed columns.

Every figure reads the tasks created in the window, found on the bulktask_created
index, except the oldest pending task, found on bulktask_stale (status first).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from bulktasks.models import BulkTask

WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class OrganizationErrors:
    """An organization and its errored lines in the window."""

    organization_id: str
    slug: str
    name: str
    errored_lines: int
    tasks: int


@dataclass(slots=True)
class Dashboard:
    """The figures of one window, as the admin index shows them."""

    since: dt.datetime
    now: dt.datetime
    tasks_by_status: dict[str, int] = field(default_factory=dict)
    cancelled: int = 0
    lines_processed: int = 0
    rows_exported: int = 0
    top_errors: list[OrganizationErrors] = field(default_factory=list)
    oldest_pending: BulkTask | None = None

    @property
    def tasks(self) -> int:
        """Tasks created in the window, whatever their status."""
        return sum(self.tasks_by_status.values())

    @property
    def statuses(self) -> list[tuple[str, str, int]]:
        """(value, label, tasks) for every status, in the order a task goes through them."""
        return [
            (value, str(label), self.tasks_by_status.get(value, 0))
            for value, label in BulkTask.Status.choices
        ]

    @property
    def oldest_pending_age(self) -> dt.timedelta | None:
        """How long the oldest pending task has waited."""
        if self.oldest_pending is None:
            return None
        return self.now - self.oldest_pending.created_at


def bulk_task_status_counts(*, since: dt.datetime) -> tuple[dict[str, int], int, int, int]:
    """Tasks created since ``since`` per status, the cancelled ones, their lines and exported rows.

    Lines are ``num_done``: lines of a file whose outcome (inserted, updated,
    skipped, errored) is recorded, so a running task counts what it did so far.
    An export's rows written are its ``num_items``.
    """
    rows = (
        BulkTask.objects.filter(created_at__gte=since)
        .order_by()
        .values("status")
        .annotate(
            tasks=Count("id"),
            cancelled=Count("id", filter=Q(cancelled_at__isnull=False)),
            outcomes=Sum(F("num_inserts") + F("num_updates") + F("num_skips") + F("num_errors")),
            rows=Sum("num_items", filter=~Q(result_format="")),
        )
    )
    by_status = {status: 0 for status in BulkTask.Status.values}
    cancelled = lines = exported = 0
    for row in rows:
        by_status[row["status"]] = row["tasks"]
        cancelled += row["cancelled"]
        lines += row["outcomes"] or 0
        exported += row["rows"] or 0
    return by_status, cancelled, lines, exported


def bulk_task_top_errors(*, since: dt.datetime, limit: int = 5) -> list[OrganizationErrors]:
    """The organizations with the most errored lines in tasks created since ``since``, most first."""
    rows = (
        BulkTask.objects.filter(created_at__gte=since, num_errors__gt=0)
        .order_by()
        .values("organization_id", "organization__slug", "organization__name")
        .annotate(errored=Sum("num_errors"), tasks=Count("id"))
        .order_by("-errored", "organization__slug")[:limit]
    )
    return [
        OrganizationErrors(
            organization_id=row["organization_id"],
            slug=row["organization__slug"],
            name=row["organization__name"],
            errored_lines=row["errored"],
            tasks=row["tasks"],
        )
        for row in rows
    ]


def bulk_task_oldest_pending() -> BulkTask | None:
    """The pending task that has waited longest, whenever it was created."""
    return (
        BulkTask.objects.filter(status=BulkTask.Status.PENDING)
        .select_related("organization")
        .only("id", "action", "created_at", "organization__slug", "organization__name")
        .order_by("created_at", "id")
        .first()
    )


def dashboard_get(*, now: dt.datetime | None = None, window: dt.timedelta = WINDOW) -> Dashboard:
    """The dashboard's figures for the ``window`` up to ``now``: three queries."""
    now = now or timezone.now()
    since = now - window
    by_status, cancelled, lines, exported = bulk_task_status_counts(since=since)
    return Dashboard(
        since=since,
        now=now,
        tasks_by_status=by_status,
        cancelled=cancelled,
        lines_processed=lines,
        rows_exported=exported,
        top_errors=bulk_task_top_errors(since=since),
        oldest_pending=bulk_task_oldest_pending(),
    )
