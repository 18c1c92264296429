"""Reads of bulk tasks and their reports, always within one organization."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections

from bulktasks.models import BulkTask, BulkTaskLine
from core.ids import is_object_id
from core.rows import RowReader
from users.models import Organization, User
from users.selectors import (
    CALLER_COLUMNS,
    Caller,
    caller_from_row,
    caller_key,
    caller_params,
    caller_sql,
)


@dataclass(slots=True)
class ReportLines:
    """The first skipped and errored lines of a report, each list in line order."""

    skipped: list[tuple[int, str]] = field(default_factory=list)
    errored: list[tuple[int, str]] = field(default_factory=list)


# What the API shows of a task and of its creator; the worker's bookkeeping
# (lease, checkpoint, start and end times) stays deferred.
_tasks = RowReader(
    BulkTask,
    "t",
    only=(
        "organization", "status", "action", "override", "dry_run", "file_original_name",
        "file_mimetype", "file_size", "file_bucket", "file_key", "file_location", "file_region",
        "file_checksum",
        "storage_provider", "num_items", "num_inserts", "num_updates", "num_skips", "num_errors",
        "error", "created_by", "created_at", "updated_at", "column_mapping", "file_expired_at",
        "result_format",
    ),
)  # fmt: skip
_creators = RowReader(User, "u", only=("email", "first_name", "last_name", "picture"))


@functools.cache
def _bulk_task_sql(vendor: str) -> str:
    return (
        f"SELECT {_tasks.columns}, {_creators.columns} FROM {_tasks.table} "  # noqa: S608
        f"LEFT JOIN {_creators.table} ON u.id = {_tasks.column('created_by')} "
        f"WHERE {_tasks.column('organization')} = %s AND t.id = %s"
    )


def bulk_task_get(*, organization: Organization, bulk_task_id: str) -> BulkTask | None:
    """Return the organization's task with that id, or None; another tenant's task is None too.

    The creator comes in the same query, as ``select_related("created_by")`` would
    bring it; the SQL is written out because this read runs on every GET.
    """
    with connection.cursor() as cursor:
        cursor.execute(_bulk_task_sql(connection.vendor), [organization.pk, bulk_task_id.lower()])
        row = cursor.fetchone()
    if row is None:
        return None
    bulk_task = _tasks.instance(row[: len(_tasks)])
    creator_row = row[len(_tasks) :]
    creator = (
        _creators.instance(creator_row) if creator_row[_creators.pk_position] is not None else None
    )
    BulkTask._meta.get_field("created_by").set_cached_value(bulk_task, creator)  # type: ignore[union-attr]
    return bulk_task


@functools.cache
def _report_lines_head_sql(vendor: str) -> str:
    table = connection.ops.quote_name(BulkTaskLine._meta.db_table)
    side = (
        f"SELECT kind, line, reason FROM {table} "  # noqa: S608 - no value is interpolated
        "WHERE task_id = %s AND kind = %s ORDER BY line LIMIT %s"
    )
    # Each side in a derived table, so that its LIMIT is valid on SQLite too.
    return (
        f"SELECT * FROM ({side}) AS skipped UNION ALL "  # noqa: S608
        f"SELECT * FROM ({side}) AS errored ORDER BY 1, 2"
    )


def bulk_task_report_lines_head(*, bulk_task: BulkTask, limit: int) -> ReportLines:
    """Return up to ``limit`` skipped and ``limit`` errored lines, in one query.

    Each side is an index range scan on (task, kind, line) that stops at ``limit``,
    so the cost does not grow with the size of the report.
    """
    lines = ReportLines()
    if limit <= 0 or not (bulk_task.num_skips or bulk_task.num_errors):
        return lines
    params = (
        *(bulk_task.pk, BulkTaskLine.Kind.SKIPPED.value, limit),
        *(bulk_task.pk, BulkTaskLine.Kind.ERRORED.value, limit),
    )
    with connection.cursor() as cursor:
        cursor.execute(_report_lines_head_sql(connection.vendor), params)
        for kind, line, reason in cursor.fetchall():
            target = lines.skipped if kind == BulkTaskLine.Kind.SKIPPED else lines.errored
            target.append((line, reason))
    return lines


@dataclass(frozen=True, slots=True)
class CallerBulkTask:
    """The caller and their access, with the task they asked for and its report's first lines."""

    caller: Caller
    # None when the task does not exist, is another organization's, or the
    # caller is no active member of the organization the path names.
    bulk_task: BulkTask | None
    report_lines: ReportLines


# Read on every GET: looked up once.
_SKIPPED = int(BulkTaskLine.Kind.SKIPPED)
_ERRORED = int(BulkTaskLine.Kind.ERRORED)
_CREATED_BY: Any = BulkTask._meta.get_field("created_by")

# The creator under an alias of its own: "u" is the caller in the same statement.
_task_creators = RowReader(User, "creator", only=("email", "first_name", "last_name", "picture"))

# The first skipped and errored lines as one JSON array of [kind, line, reason],
# read only when the counters say there are any, as bulk_task_report_lines_head
# does. Each side is an index range scan on (task, kind, line) that stops at
# its LIMIT. The order of an aggregate's input is not guaranteed on either
# engine, so the lines are sorted once read.
_LINES_AGGREGATE = {
    "postgresql": "json_agg(json_build_array(l.kind, l.line, l.reason))::text",
    "sqlite": "json_group_array(json_array(l.kind, l.line, l.reason))",
}


@functools.cache
def _bulk_task_with_caller_sql(vendor: str, *, by_id: bool) -> str:
    lines_table = connection.ops.quote_name(BulkTaskLine._meta.db_table)
    side = (
        f"SELECT kind, line, reason FROM {lines_table} "  # noqa: S608 - no value is interpolated
        "WHERE task_id = t.id AND kind = {kind:d} ORDER BY line LIMIT %s"
    )
    skipped = side.format(kind=_SKIPPED)
    errored = side.format(kind=_ERRORED)
    report_lines = (
        f"CASE WHEN {_tasks.column('num_skips')} > 0 OR {_tasks.column('num_errors')} > 0 "  # noqa: S608
        f"THEN (SELECT {_LINES_AGGREGATE[vendor]} FROM ("
        f"SELECT * FROM ({skipped}) AS skipped UNION ALL SELECT * FROM ({errored}) AS errored"
        ") AS l) END"
    )
    return caller_sql(
        vendor,
        by_id=by_id,
        columns=f"{_tasks.columns}, {_task_creators.columns}, {report_lines}",
        # The task only within the caller's active membership ("m"): nobody
        # else's request reads a byte of it.
        joins=(
            f"LEFT JOIN {_tasks.table} ON {_tasks.column('organization')} = m.organization_id "
            f"AND t.id = %s LEFT JOIN {_task_creators.table} "
            f"ON creator.id = {_tasks.column('created_by')}"
        ),
    )


def bulk_task_get_with_caller(
    *, user_id: str, organization_id_or_slug: str, bulk_task_id: str, lines_limit: int
) -> CallerBulkTask:
    """The caller's access to the organization, the task and its first report lines, in one query.

    What ``organization_access_get``, ``bulk_task_get`` and
    ``bulk_task_report_lines_head`` read in turn, in a single round trip: the
    caller is read afresh on every request, so a deactivation or a change of
    roles still takes effect at once. A malformed task id finds no task.
    """
    by_id, organization_key = caller_key(organization_id_or_slug)
    limit = max(lines_limit, 0)
    params = caller_params(
        user_id=user_id,
        organization_key=organization_key,
        column_params=(limit, limit),
        join_params=(bulk_task_id.lower() if is_object_id(bulk_task_id) else "",),
    )
    # The connection itself rather than the proxy: each attribute read through
    # the proxy looks the connection up again.
    db = connections[DEFAULT_DB_ALIAS]
    with db.cursor() as cursor:
        cursor.execute(_bulk_task_with_caller_sql(db.vendor, by_id=by_id), params)
        row = cursor.fetchone()
    caller = caller_from_row(row, using=db)
    lines = ReportLines()
    if row is None or caller.access is None or row[CALLER_COLUMNS + _tasks.pk_position] is None:
        return CallerBulkTask(caller=caller, bulk_task=None, report_lines=lines)
    creator_start = CALLER_COLUMNS + len(_tasks)
    bulk_task = _tasks.instance(row[CALLER_COLUMNS:creator_start], using=db)
    creator_row = row[creator_start : creator_start + len(_task_creators)]
    creator = (
        _task_creators.instance(creator_row, using=db)
        if creator_row[_task_creators.pk_position] is not None
        else None
    )
    _CREATED_BY.set_cached_value(bulk_task, creator)
    if row[-1]:
        for kind, line, reason in sorted(json.loads(row[-1])):
            target = lines.skipped if kind == _SKIPPED else lines.errored
            target.append((line, reason))
    return CallerBulkTask(caller=caller, bulk_task=bulk_task, report_lines=lines)


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


@dataclass(frozen=True, slots=True)
class LinesPage:
    """One page of a report's lines of one kind, and the cursors of the pages around it."""

    lines: list[tuple[int, str]]
    # ``before`` for the previous page (its first line), ``after`` for the next
    # (its last line); None where there is no such page.
    previous_before: int | None
    next_after: int | None


def bulk_task_lines_page(
    *,
    bulk_task: BulkTask,
    kind: int,
    limit: int,
    after_line: int = 0,
    before_line: int | None = None,
) -> LinesPage:
    """A page of up to ``limit`` lines of one kind, after or before a line number, in line order.

    A keyset page on the (task, kind, line) index: the page itself is one range
    scan that stops at ``limit + 1`` rows, and whether a page lies the other way
    is one more probe of the same index, asked only when a cursor was given. So
    the last page of a million lines costs what the first does, which an OFFSET
    could not promise.
    """
    lines = BulkTaskLine.objects.filter(task_id=bulk_task.pk, kind=kind)
    if before_line is not None:
        rows = list(
            lines.filter(line__lt=before_line)
            .order_by("-line")
            .values_list("line", "reason")[: limit + 1]
        )
        page = rows[:limit][::-1]
        if not page:
            # Nothing before the cursor: the first page is what there is.
            return bulk_task_lines_page(bulk_task=bulk_task, kind=kind, limit=limit)
        has_previous = len(rows) > limit
        has_next = lines.filter(line__gte=before_line).exists()
    else:
        rows = list(
            lines.filter(line__gt=after_line)
            .order_by("line")
            .values_list("line", "reason")[: limit + 1]
        )
        page = rows[:limit]
        has_next = len(rows) > limit
        has_previous = after_line > 0 and lines.filter(line__lte=after_line).exists()
    return LinesPage(
        lines=page,
        previous_before=(page[0][0] if page else after_line + 1) if has_previous else None,
        next_after=page[-1][0] if has_next and page else None,
    )
