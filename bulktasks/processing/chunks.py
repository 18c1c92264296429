"""Applying one chunk: its writes, report lines, counters and ``done`` commit together.

Chunks of one task run on different workers at once. Each adds its counters to
the task row last in its transaction; the chunk that then finds no other chunk
left to do (after that row lock, so it sees the others' commits) completes the
task, and exactly one chunk does.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from contextlib import suppress
from typing import Any, ParamSpec

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from bulktasks.actions import Action, ActionContext, BatchResult, ExportAction, action_get
from bulktasks.models import BulkTask, BulkTaskChunk, BulkTaskLine
from bulktasks.processing.claim import chunk_claim
from bulktasks.processing.dispatch import organization_dispatch
from bulktasks.processing.export import export_assemble, export_chunk_apply
from bulktasks.processing.finish import (
    chunk_release,
    log_completed,
    log_context,
    raise_if_outage,
    task_complete,
    task_fail,
)
from bulktasks.processing.leases import (
    LeaseLost,
    TaskNotRunning,
    commit_without_flush_wait,
    lease_duration,
)
from bulktasks.processing.scan import REASON_MAX_LENGTH, chunk_records
from bulktasks.readers import FileFormatError, Position, Record

logger = logging.getLogger("bulktasks.services")

P = ParamSpec("P")


def bulk_task_chunk_process(
    *,
    chunk_id: int,
    owner: str | None = None,
    dispatch: bool = True,
    retry_of: str = "",
    allow_pending: bool = True,
) -> BulkTaskChunk | None:
    """Claim a chunk, apply it exactly once, and queue its organization's next chunks.

    Returns the chunk once done, or None when another worker holds it, it was
    already done, or its task is no longer running. With ``dispatch=False`` (the
    command line, which runs every chunk itself) nothing is queued. ``retry_of``
    names the previous try of the same message; workers pass
    ``allow_pending=False`` (see ``chunk_claim``).
    """
    owner = owner or uuid.uuid4().hex
    chunk = chunk_claim(
        chunk_id=chunk_id, owner=owner, retry_of=retry_of, allow_pending=allow_pending
    )
    if chunk is None:
        return None
    bulk_task = BulkTask.objects.get(pk=chunk.task_id)
    log = {**log_context(bulk_task), "chunk": chunk.index, "attempt": chunk.attempts}
    if bulk_task.status != BulkTask.Status.IN_PROGRESS:
        # Failed meanwhile, or sent back for a retry: give the place to another chunk.
        return _give_back(chunk, owner, dispatch)
    # An export's chunk starts at a row of the result, an import's at a line of the file.
    place = f"{'row' if bulk_task.is_export else 'line'} {chunk.first_line}"
    if chunk.attempts > settings.BULK_TASK_MAX_ATTEMPTS:
        return _fail(
            bulk_task,
            chunk,
            owner,
            dispatch,
            f"processing gave up after {settings.BULK_TASK_MAX_ATTEMPTS} attempts at {place}",
        )
    action = action_get(bulk_task.action)
    if action is None:
        error = f"action {bulk_task.action} is no longer available"
        return _fail(bulk_task, chunk, owner, dispatch, error)
    try:
        if isinstance(action, ExportAction):
            finished = export_chunk_apply(
                bulk_task=bulk_task, chunk=chunk, owner=owner, action=action, dispatch=dispatch
            )
        else:
            records = _read(bulk_task, action, chunk)
            finished = _apply(bulk_task, chunk, owner, action, records, dispatch)
    except LeaseLost:
        logger.warning("bulk task chunk taken over by another worker", extra=log)
        return None
    except TaskNotRunning:
        # Its transaction rolled back: nothing of it counts. It waits for a retry.
        return _give_back(chunk, owner, dispatch)
    except FileNotFoundError:
        error = "the uploaded file is no longer stored"
        return _fail(bulk_task, chunk, owner, dispatch, error)
    except FileFormatError as exc:
        return _fail(bulk_task, chunk, owner, dispatch, str(exc))
    except Exception as exc:
        raise_if_outage(exc, release=lambda: chunk_release(chunk=chunk, owner=owner), log=log)
        logger.exception("bulk task chunk crashed", extra=log)
        return _fail(
            bulk_task,
            chunk,
            owner,
            dispatch,
            f"processing stopped at {place} because of an internal error; staff can retry it",
        )
    if not bulk_task.dry_run:
        # A dry run leaves the tables as they were: nothing to refresh.
        _statistics_refresh(action, chunk.index + 1)
    if finished and isinstance(action, ExportAction):
        # The last chunk of an export: its parts are joined into the result here.
        export_assemble(bulk_task_id=bulk_task.pk, owner=owner, dispatch=dispatch)
    elif finished:
        log_completed(bulk_task)
    chunk.refresh_from_db()
    return chunk


def _fail(
    bulk_task: BulkTask, chunk: BulkTaskChunk, owner: str, dispatch: bool, error: str
) -> BulkTaskChunk | None:
    """Fail the task, and give the chunk's place in its organization to another task's chunk.

    Returns None, what ``bulk_task_chunk_process`` returns for a chunk not done.
    """
    task_fail(bulk_task=bulk_task, error=error)
    return _give_back(chunk, owner, dispatch)


def _give_back(chunk: BulkTaskChunk, owner: str, dispatch: bool) -> BulkTaskChunk | None:
    """Leave the chunk ``pending`` for a retry, and dispatch the organization's next chunks.

    Held ``running`` until its lease ran out, it would keep a place under the
    organization's cap that no one uses.
    """
    chunk_release(chunk=chunk, owner=owner, to=BulkTaskChunk.Status.PENDING)
    if dispatch:
        organization_dispatch(organization_id=chunk.organization_id)
    return None


def _read(bulk_task: BulkTask, action: Action, chunk: BulkTaskChunk) -> list[Record]:
    """The chunk's records, read from its byte offset: nothing before it is read."""
    with chunk_records(
        bulk_task,
        action,
        start=Position(chunk.start_offset, chunk.start_lines),
        end_offset=chunk.end_offset,
        records=chunk.num_records,
        header=bulk_task.file_columns,
    ) as records:
        read = list(records)
    if len(read) != chunk.num_records:
        raise FileFormatError("the stored file changed after it was read")
    return read


def _retried_on_collision(apply: Callable[P, bool]) -> Callable[P, bool]:
    """Apply again when a concurrent import created the same person, once it committed.

    The collision on a unique e-mail rolls the whole chunk back, so applying it
    again starts from nothing; the third collision is raised.
    """

    @functools.wraps(apply)
    def retried(*args: P.args, **kwargs: P.kwargs) -> bool:
        for _ in range(2):
            with suppress(IntegrityError):
                return apply(*args, **kwargs)
        return apply(*args, **kwargs)

    return retried


@_retried_on_collision
@transaction.atomic
def _apply(
    bulk_task: BulkTask,
    chunk: BulkTaskChunk,
    owner: str,
    action: Action,
    records: list[Record],
    dispatch: bool,
) -> bool:
    """One transaction: fence, writes, report lines, ``done``, then the task's counters."""
    commit_without_flush_wait()
    now = timezone.now()
    # Fencing: only the lease's holder writes. On PostgreSQL this also locks the
    # chunk row until commit, so a takeover waits and then finds the chunk done.
    held = BulkTaskChunk.objects.filter(
        pk=chunk.pk, lease_owner=owner, status=BulkTaskChunk.Status.RUNNING
    ).update(lease_expires_at=now + lease_duration())
    if not held:
        raise LeaseLost(chunk.pk)
    # Cancelled while the chunk was read: spare the writes the last statement
    # would roll back anyway (that statement is what guarantees it).
    if not BulkTask.objects.filter(pk=bulk_task.pk, status=BulkTask.Status.IN_PROGRESS).exists():
        raise TaskNotRunning(bulk_task.pk)
    # Lines whose outcome the scan already recorded (repeats of an earlier line).
    recorded = set(
        BulkTaskLine.objects.filter(
            task_id=bulk_task.pk, line__gte=chunk.first_line, line__lte=chunk.last_line
        ).values_list("line", flat=True)
    )
    errored: list[tuple[int, str]] = []
    rows: list[tuple[int, Any]] = []
    for record in records:
        if record.line in recorded:
            continue
        if record.error is not None:
            errored.append((record.line, record.error))
            continue
        cleaned, reason = action.validate(record.values or {})
        if reason is not None:
            errored.append((record.line, reason))
        else:
            rows.append((record.line, cleaned))
    context = ActionContext(
        bulk_task_id=bulk_task.pk,
        organization_id=bulk_task.organization_id,
        override=bulk_task.override,
        dry_run=bulk_task.dry_run,
        created_by_id=bulk_task.created_by_id,
    )
    result = _apply_action(action, context, rows) if rows else None
    skipped = result.skipped if result else []
    errored.extend(result.errored if result else [])
    BulkTaskLine.objects.bulk_create(
        BulkTaskLine(task_id=bulk_task.pk, kind=kind, line=line, reason=reason[:REASON_MAX_LENGTH])
        for kind, outcome in (
            (BulkTaskLine.Kind.SKIPPED, skipped),
            (BulkTaskLine.Kind.ERRORED, errored),
        )
        for line, reason in outcome
    )
    inserts = result.inserts if result else 0
    updates = result.updates if result else 0
    # The owner stays: it tells which worker applied the chunk.
    BulkTaskChunk.objects.filter(pk=chunk.pk).update(
        status=BulkTaskChunk.Status.DONE,
        lease_expires_at=None,
        finished_at=timezone.now(),
        num_inserts=inserts,
        num_updates=updates,
        num_skips=len(skipped),
        num_errors=len(errored),
    )
    # Last, so the task row is locked only for the end of the transaction. Only
    # into a task still running: one that failed meanwhile gets none of this chunk.
    counted = BulkTask.objects.filter(pk=bulk_task.pk, status=BulkTask.Status.IN_PROGRESS).update(
        num_inserts=F("num_inserts") + inserts,
        num_updates=F("num_updates") + updates,
        num_skips=F("num_skips") + len(skipped),
        num_errors=F("num_errors") + len(errored),
        updated_at=timezone.now(),
    )
    if not counted:
        raise TaskNotRunning(bulk_task.pk)
    # After the row lock: a chunk that committed before it is seen here as done,
    # so of two last chunks the second one to commit completes the task.
    finished = False
    if (
        not BulkTaskChunk.objects.filter(task_id=bulk_task.pk)
        .exclude(status=BulkTaskChunk.Status.DONE)
        .exists()
    ):
        finished = task_complete(bulk_task=bulk_task)
    if dispatch:
        organization_dispatch(organization_id=bulk_task.organization_id)
    return finished


def _apply_action(
    action: Action, context: ActionContext, rows: list[tuple[int, Any]]
) -> BatchResult:
    """The action's outcome for the rows; in a dry run, its writes are rolled back at once.

    A dry run applies the chunk for real inside a savepoint and rolls back to it,
    so every decision is the one a real run takes, from the same code and the
    same database state; the report lines and counters are then written and
    committed as usual. Only this chunk's writes are undone, and no other chunk
    depends on them: a key repeated in another chunk never reaches ``apply``
    (the scan reports it), so each chunk decides from the state before the task.
    Rolling back before the report is written also frees the rows other imports
    may be waiting on as soon as possible.
    """
    if not context.dry_run:
        return action.apply(context=context, rows=rows)
    with transaction.atomic():
        result = action.apply(context=context, rows=rows)
        # Roll back to the savepoint on leaving the block; the chunk's transaction goes on.
        transaction.set_rollback(True)
    return result


def _statistics_refresh(action: Action, chunks_done: int) -> None:
    """Refresh PostgreSQL's statistics of the tables an import grows, after chunks 2, 4, 8...

    Planned with the statistics of a table that was small, each lookup of a
    chunk scans the whole table once it has grown: measured at 14 ms a chunk at
    100,000 rows, against 1.3 ms with fresh statistics. Autovacuum comes too late.
    """
    # Not after the first: a file of one chunk never needs it, and small uploads
    # are most of them.
    if connection.vendor != "postgresql" or chunks_done < 2 or chunks_done & (chunks_done - 1):
        return
    with connection.cursor() as cursor:
        for model in action.models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
