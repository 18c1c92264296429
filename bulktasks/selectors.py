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


def bulk_task_list(
    *,
    organization: Organization,
    status: str | None = None,
    action: str | None = None,
    created_by_id: str | None = None,
    before_id: str | None = None,
    limit: int = 25,
) -> tuple[list[BulkTask], bool]:
    """The organization's tasks, newest first, after a cursor; and whether more follow.

    Ids are time-ordered ObjectIds, so ``id < cursor`` is a stable keyset page
    on the (organization, -id) index, however many tasks are created meanwhile.
    """
    tasks = BulkTask.objects.select_related("created_by").filter(organization_id=organization.pk)
    if status:
        tasks = tasks.filter(status=status)
    if action:
        tasks = tasks.filter(action=action)
    if created_by_id:
        tasks = tasks.filter(created_by_id=created_by_id.lower())
    if before_id:
        tasks = tasks.filter(id__lt=before_id.lower())
    page = list(tasks.order_by("-id")[: limit + 1])
    return page[:limit], len(page) > limit


def bulk_task_lines(
    *, bulk_task: BulkTask, kind: int | None = None, after_line: int = 0, limit: int = 100
) -> tuple[list[BulkTaskLine], bool]:
    """A page of a task's report lines in line order, after a line number; and whether more follow."""
    lines = BulkTaskLine.objects.filter(task_id=bulk_task.pk, line__gt=after_line)
    if kind is not None:
        lines = lines.filter(kind=kind)
    page = list(lines.order_by("line").only("kind", "line", "reason")[: limit + 1])
    return page[:limit], len(page) > limit
