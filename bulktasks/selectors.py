"""Reads of bulk tasks and their reports, always within one organization."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

from bulktasks.models import BulkTask, BulkTaskLine
from users.models import Organization


@dataclass(slots=True)
class ReportLines:
    """The first skipped and errored lines of a report, each list in line order."""

    skipped: list[tuple[int, str]] = field(default_factory=list)
    errored: list[tuple[int, str]] = field(default_factory=list)


def bulk_task_get(*, organization: Organization, bulk_task_id: str) -> BulkTask | None:
    """Return the organization's task with that id, or None; another tenant's task is None too."""
    return (
        BulkTask.objects.select_related("created_by")
        .filter(organization_id=organization.pk, id=bulk_task_id.lower())
        .first()
    )


def bulk_task_report_lines_head(*, bulk_task: BulkTask, limit: int) -> ReportLines:
    """Return up to ``limit`` skipped and ``limit`` errored lines, in one query.

    Each side is an index range scan on (task, kind, line) that stops at ``limit``,
    so the cost does not grow with the size of the report.
    """
    lines = ReportLines()
    if limit <= 0 or not (bulk_task.num_skips or bulk_task.num_errors):
        return lines
    head = BulkTaskLine.objects.filter(task_id=bulk_task.pk).order_by("line")
    skipped = head.filter(kind=BulkTaskLine.Kind.SKIPPED).values_list("kind", "line", "reason")
    errored = head.filter(kind=BulkTaskLine.Kind.ERRORED).values_list("kind", "line", "reason")
    skipped_sql, skipped_params = skipped[:limit].query.sql_with_params()
    errored_sql, errored_params = errored[:limit].query.sql_with_params()
    # The ORM cannot put LIMIT inside a UNION on SQLite; wrapping each side in a
    # derived table is valid SQL on both SQLite and PostgreSQL.
    sql = (
        f"SELECT * FROM ({skipped_sql}) AS skipped "  # noqa: S608 - both parts are ORM-built
        f"UNION ALL SELECT * FROM ({errored_sql}) AS errored ORDER BY 1, 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (*skipped_params, *errored_params))
        for kind, line, reason in cursor.fetchall():
            target = lines.skipped if kind == BulkTaskLine.Kind.SKIPPED else lines.errored
            target.append((line, reason))
    return lines
