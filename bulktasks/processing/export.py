"""An export: its snapshot cut into chunks, a part file per chunk, then the parts joined once.

- **Snapshot.** The task's first message (the "scan" of an import) fixes what
  is exported: the action's records up to the last key at that moment, and
  created by then (``scanned_at``, the snapshot's time), cut into
  chunks of ``BULK_TASK_CHUNK_SIZE`` records by key (keyset pagination). The
  chunks are written and dispatched like an import's, so an organization's
  exports share its cap with its imports, fairly between organizations.
- **Chunks.** Any worker takes a chunk, streams its rows into a part file under
  a name of its own, stores it, and then, in one transaction, marks the chunk
  done with the part's key and adds its rows to the task's ``num_items``. A
  worker that lost its lease, or whose task stopped, deletes its part instead;
  a part written by a worker that died before its commit, or whose commit's
  outcome is unknown, is left for the join's clean-up.
- **Join.** The worker whose commit leaves no chunk undone takes the task's
  lease and joins the recorded parts, in chunk order, into the result: once,
  under that lease (the sweeper hands it on if that worker dies). The result's
  key is recorded first; the parts (and any file a dead worker left) are then
  deleted, and the task completes, once its result is found stored. A done
  chunk whose part is not stored is sent back to run again; the join waits for
  it rather than write a result short of its rows.

A crash anywhere resumes from what was committed: a chunk is done with its
part or not at all, and the join starts again from the recorded parts, or
from the recorded result. So no row is written twice or lost.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from itertools import islice
from typing import IO

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from bulktasks.actions import ExportAction, action_get
from bulktasks.exports import (
    FORMATS,
    TooManyRows,
    part_write,
    result_write,
    rows_limit,
    too_many_rows_message,
)
from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.processing.claim import export_assembly_claim
from bulktasks.processing.dispatch import organization_dispatch
from bulktasks.processing.finish import (
    log_completed,
    log_context,
    raise_if_outage,
    task_complete,
    task_fail,
    task_release,
)
from bulktasks.processing.leases import (
    LeaseLost,
    TaskNotRunning,
    commit_without_flush_wait,
    lease_duration,
)
from bulktasks.processing.scan import WRITE_BATCH
from bulktasks.storage import bulk_task_storage, export_parts_folder, export_results_folder

logger = logging.getLogger("bulktasks.services")

# Chunk ends found between two looks at the clock while the snapshot is cut.
_SNAPSHOT_CLOCK_EVERY = 20


def export_snapshot(
    *, bulk_task: BulkTask, owner: str, action: ExportAction, dispatch: bool = True
) -> tuple[BulkTask, int | None]:
    """Fix what the export holds and cut it into chunks; start dispatching them.

    Returns the task and the id of a chunk dispatched to this worker to run
    itself, as ``bulk_task_scan`` does. There is always at least one chunk (an
    organization with nothing to export has one empty chunk), so the join runs
    through the same path whatever the size.
    """
    size = max(1, int(settings.BULK_TASK_CHUNK_SIZE))
    # The snapshot's time, taken before its end is read: a record created later
    # is never exported, even one whose key sorts before the end (``rows``' as_of).
    as_of = timezone.now()
    renew_after = settings.BULK_TASK_LEASE_SECONDS / 3
    renewed = time.monotonic()
    ends: list[str] = []
    for end in action.chunk_ends(organization_id=bulk_task.organization_id, size=size):
        ends.append(end)
        if len(ends) % _SNAPSHOT_CLOCK_EVERY == 0 and time.monotonic() - renewed >= renew_after:
            _lease_renew(bulk_task, owner, scanning=True)
            renewed = time.monotonic()
    if not ends:
        ends = [""]
    now = timezone.now()
    kept: list[int] = []
    with transaction.atomic():
        _lease_renew(bulk_task, owner, scanning=True)
        chunks = (
            BulkTaskChunk(
                task_id=bulk_task.pk,
                organization_id=bulk_task.organization_id,
                index=index,
                key_after=ends[index - 1] if index else "",
                key_upto=end,
                start_offset=0,
                end_offset=0,
                start_lines=0,
                # Row numbers as the snapshot expects them, for messages only.
                first_line=index * size + 1,
                last_line=(index + 1) * size,
                num_records=0,
            )
            for index, end in enumerate(ends)
        )
        while batch := list(islice(chunks, WRITE_BATCH)):
            BulkTaskChunk.objects.bulk_create(batch)
        BulkTask.objects.filter(pk=bulk_task.pk).update(
            num_items=0,
            scanned_at=as_of,
            lease_owner="",
            lease_expires_at=None,
            updated_at=now,
        )
        if dispatch:
            kept = organization_dispatch(
                organization_id=bulk_task.organization_id, keep=1, first_from=bulk_task.pk
            )[:1]
    bulk_task.refresh_from_db()
    return bulk_task, (kept[0] if kept else None)


def export_chunk_apply(
    *,
    bulk_task: BulkTask,
    chunk: BulkTaskChunk,
    owner: str,
    action: ExportAction,
    dispatch: bool,
) -> bool:
    """Write the chunk's part, then record it done; True when it was the last chunk undone.

    The part is stored under a name of its own before the transaction, and
    deleted again only if that transaction certainly did not record it (see
    ``_recording``).
    """
    export_format = FORMATS[bulk_task.result_format]
    folder = export_parts_folder(
        organization_id=bulk_task.organization_id, bulk_task_id=bulk_task.pk
    )
    name = f"{folder}{chunk.index:06d}-{uuid.uuid4().hex[:12]}.part"
    rows = (
        action.rows(
            organization_id=bulk_task.organization_id,
            after=chunk.key_after,
            upto=chunk.key_upto,
            as_of=bulk_task.scanned_at,
        )
        if chunk.key_upto
        else iter(())
    )
    storage = bulk_task_storage()
    with tempfile.TemporaryFile() as spool:
        count = part_write(export_format, action.column_names, rows, spool)
        spool.seek(0)
        key = storage.save(name, File(spool, name=name))
    with _recording(key):
        return _part_record(bulk_task, chunk, owner, key, count, dispatch)


@contextmanager
def _recording(key: str) -> Iterator[None]:
    """A transaction that records the file ``key`` just written; the file goes if it rolled back.

    Only a rollback that is certain deletes it: an error raised inside the
    transaction (a lost lease, a task no longer running, a failed statement).
    An error at COMMIT itself (the connection lost as it was sent) leaves the
    transaction's outcome unknown: the database may have committed it, and a
    file it names must then stay. Such a file, if the commit did not happen
    after all, is one no row names, which the join's clean-up (``_leftovers_delete``)
    or retention deletes.
    """
    committing = False
    try:
        with transaction.atomic():
            yield
            committing = True
    except BaseException:
        if not committing:
            _delete_quietly(key)
        raise


def _part_record(
    bulk_task: BulkTask, chunk: BulkTaskChunk, owner: str, key: str, count: int, dispatch: bool
) -> bool:
    """In the caller's transaction: fence, the chunk done with its part, its rows added to the task."""
    commit_without_flush_wait()
    now = timezone.now()
    held = BulkTaskChunk.objects.filter(
        pk=chunk.pk, lease_owner=owner, status=BulkTaskChunk.Status.RUNNING
    ).update(lease_expires_at=now + lease_duration())
    if not held:
        raise LeaseLost(chunk.pk)
    BulkTaskChunk.objects.filter(pk=chunk.pk).update(
        status=BulkTaskChunk.Status.DONE,
        lease_expires_at=None,
        finished_at=now,
        part_key=key,
        num_records=count,
    )
    counted = BulkTask.objects.filter(pk=bulk_task.pk, status=BulkTask.Status.IN_PROGRESS).update(
        num_items=F("num_items") + count, updated_at=now
    )
    if not counted:
        raise TaskNotRunning(bulk_task.pk)
    # After the task row's lock, as an import's last chunk: of two chunks
    # finishing together, the second to commit sees the first one done.
    last = (
        not BulkTaskChunk.objects.filter(task_id=bulk_task.pk)
        .exclude(status=BulkTaskChunk.Status.DONE)
        .exists()
    )
    if dispatch:
        organization_dispatch(organization_id=bulk_task.organization_id)
    return last


def export_assemble(
    *, bulk_task_id: str, owner: str, retry_of: str = "", dispatch: bool = True
) -> BulkTask | None:
    """Join an export's parts into its result and complete it, once every chunk is done.

    Returns the task once completed (or failed here), or None when its chunks
    are not all done, another worker holds it, or it is no longer running. A
    done chunk whose part is no longer stored is done again (``_parts_redo``):
    the join then waits for it, and never writes a result short of its rows.
    """
    bulk_task = export_assembly_claim(bulk_task_id=bulk_task_id, owner=owner, retry_of=retry_of)
    if bulk_task is None:
        return None
    log = {**log_context(bulk_task), "attempt": bulk_task.attempts}
    if bulk_task.attempts > settings.BULK_TASK_MAX_ATTEMPTS:
        error = (
            f"processing gave up after {settings.BULK_TASK_MAX_ATTEMPTS} attempts "
            "while writing the result"
        )
        return task_fail(bulk_task=bulk_task, error=error, owner=owner)
    action = action_get(bulk_task.action)
    if not isinstance(action, ExportAction) or bulk_task.result_format not in FORMATS:
        error = f"action {bulk_task.action} is no longer available"
        return task_fail(bulk_task=bulk_task, error=error, owner=owner)
    limit = rows_limit(FORMATS[bulk_task.result_format])
    if limit is not None and not bulk_task.result_key and bulk_task.num_items > limit:
        # Members who joined since the task was created: refused, never a second sheet.
        error = too_many_rows_message(bulk_task.result_format, limit, bulk_task.num_items)
        return task_fail(bulk_task=bulk_task, error=error, owner=owner)
    storage = bulk_task_storage()
    try:
        if bulk_task.result_key and not storage.exists(bulk_task.result_key):
            # Recorded, then lost from the storage: written again from the parts.
            logger.warning("bulk task result no longer stored; writing it again", extra=log)
            _result_record(bulk_task, owner, "")
        if not bulk_task.result_key:
            try:
                written = _result_write(bulk_task, owner, action)
            except FileNotFoundError:
                if _parts_redo(bulk_task, owner, dispatch=dispatch, log=log):
                    return None
                raise
            with _recording(written):
                _result_record(bulk_task, owner, written)
        # Never completed without its file: a download of it would only answer 410.
        if not storage.exists(bulk_task.result_key):
            raise FileNotFoundError(bulk_task.result_key)
        _leftovers_delete(bulk_task)
        _complete(bulk_task, owner)
    except LeaseLost:
        logger.warning("bulk task result taken over by another worker", extra=log)
        return None
    except TooManyRows as exc:
        error = too_many_rows_message(bulk_task.result_format, exc.limit)
        return task_fail(bulk_task=bulk_task, error=error, owner=owner)
    except FileNotFoundError:
        error = "the export's result could not be stored; staff can retry it"
        return task_fail(bulk_task=bulk_task, error=error, owner=owner)
    except Exception as exc:
        raise_if_outage(
            exc, release=lambda: task_release(bulk_task=bulk_task, owner=owner), log=log
        )
        logger.exception("bulk task result crashed", extra=log)
        error = (
            "processing stopped while writing the result because of an internal error; "
            "staff can retry it"
        )
        return task_fail(bulk_task=bulk_task, error=error, owner=owner)
    log_completed(bulk_task)
    return bulk_task


def _parts_redo(bulk_task: BulkTask, owner: str, *, dispatch: bool, log: dict[str, object]) -> bool:
    """Send each done chunk whose part is not stored back to ``pending``; True if there was one.

    Such a chunk is done again as if it never ran: its rows are taken off the
    task's count, to be counted again with its new part, and the task counts an
    attempt (the next join gives up past the limit). The task's lease is
    let go, so that the worker of the last chunk done again joins the parts.
    A part can be missing when its chunk's commit failed at COMMIT (see
    ``_recording``), or when the storage lost it.
    """
    storage = bulk_task_storage()
    done = BulkTaskChunk.objects.filter(task_id=bulk_task.pk, status=BulkTaskChunk.Status.DONE)
    missing = [
        pk
        for pk, key in done.values_list("pk", "part_key").iterator(chunk_size=WRITE_BATCH)
        if not key or not storage.exists(key)
    ]
    if not missing:
        return False
    now = timezone.now()
    with transaction.atomic():
        held = (
            BulkTask.objects.select_for_update()
            .filter(pk=bulk_task.pk, lease_owner=owner, status=BulkTask.Status.IN_PROGRESS)
            .exists()
        )
        if not held:
            raise LeaseLost(bulk_task.pk)
        redone = done.filter(pk__in=missing)
        rows = sum(redone.values_list("num_records", flat=True))
        redone.update(
            status=BulkTaskChunk.Status.PENDING,
            part_key="",
            num_records=0,
            lease_owner="",
            lease_expires_at=None,
            queued_at=None,
            finished_at=None,
        )
        BulkTask.objects.filter(pk=bulk_task.pk).update(
            num_items=F("num_items") - rows,
            # Each redo is an attempt at the join: a storage that keeps losing
            # parts (one not shared between workers) fails the task after
            # BULK_TASK_MAX_ATTEMPTS joins instead of exporting again forever.
            attempts=F("attempts") + 1,
            lease_owner="",
            lease_expires_at=None,
            updated_at=now,
        )
        if dispatch:
            organization_dispatch(organization_id=bulk_task.organization_id)
    logger.warning(
        "bulk task export: %s parts no longer stored; their chunks run again",
        len(missing),
        extra=log,
    )
    return True


def _result_write(bulk_task: BulkTask, owner: str, action: ExportAction) -> str:
    """Join the recorded parts, in chunk order, into a new result file; return its key."""
    export_format = FORMATS[bulk_task.result_format]
    folder = export_results_folder(
        organization_id=bulk_task.organization_id, bulk_task_id=bulk_task.pk
    )
    name = f"{folder}{uuid.uuid4().hex[:12]}.{export_format.extension}"
    renew_after = settings.BULK_TASK_LEASE_SECONDS / 3
    renewed = time.monotonic()

    def tick() -> None:
        nonlocal renewed
        if time.monotonic() - renewed >= renew_after:
            _lease_renew(bulk_task, owner)
            renewed = time.monotonic()

    with tempfile.TemporaryFile() as spool:
        result_write(
            export_format,
            action.column_names,
            _parts(bulk_task),
            spool,
            title=action.title,
            tick=tick,
        )
        spool.seek(0)
        tick()
        return bulk_task_storage().save(name, File(spool, name=name))


def _parts(bulk_task: BulkTask) -> Iterator[IO[bytes]]:
    """Each done chunk's part, open for reading, in chunk order."""
    storage = bulk_task_storage()
    keys = (
        BulkTaskChunk.objects.filter(task_id=bulk_task.pk)
        .order_by("index")
        .values_list("part_key", flat=True)
    )
    for key in keys.iterator(chunk_size=WRITE_BATCH):
        if not key:
            raise FileNotFoundError("a chunk has no part")
        with storage.open(key, "rb") as part:
            yield part


def _result_record(bulk_task: BulkTask, owner: str, key: str) -> None:
    """Record the result's key (or forget it: ``""``), if this worker still holds the task."""
    size = bulk_task_storage().size(key) if key else None
    recorded = BulkTask.objects.filter(
        pk=bulk_task.pk, lease_owner=owner, status=BulkTask.Status.IN_PROGRESS
    ).update(
        result_key=key,
        result_size=size,
        lease_expires_at=timezone.now() + lease_duration(),
        updated_at=timezone.now(),
    )
    if not recorded:
        raise LeaseLost(bulk_task.pk)
    bulk_task.result_key = key
    bulk_task.result_size = size


def _leftovers_delete(bulk_task: BulkTask) -> None:
    """Delete every part, and any result file but the recorded one (left by a worker that died)."""
    storage = bulk_task_storage()
    ids = {"organization_id": bulk_task.organization_id, "bulk_task_id": bulk_task.pk}
    for folder, keep in (
        (export_parts_folder(**ids), ""),
        (export_results_folder(**ids), bulk_task.result_key),
    ):
        try:
            _, files = storage.listdir(folder)
        except FileNotFoundError:
            continue
        for file_name in files:
            key = folder + file_name
            if key != keep:
                storage.delete(key)


@transaction.atomic
def _complete(bulk_task: BulkTask, owner: str) -> None:
    """Complete the task, if this worker still holds it; its parts are gone from now on.

    Through ``task_complete``, the one way a task becomes completed, so that its
    listeners (webhooks) hear of an export as of an import, in this transaction.
    The task's row is locked first: a cancel waits for the commit, or has
    committed already and the task is no longer this worker's.
    """
    held = (
        BulkTask.objects.select_for_update()
        .filter(pk=bulk_task.pk, lease_owner=owner, status=BulkTask.Status.IN_PROGRESS)
        .exists()
    )
    if not held or not task_complete(bulk_task=bulk_task):
        raise LeaseLost(bulk_task.pk)
    BulkTaskChunk.objects.filter(task_id=bulk_task.pk).update(part_key="")


def _lease_renew(bulk_task: BulkTask, owner: str, *, scanning: bool = False) -> None:
    """Extend this worker's hold on the task, or raise LeaseLost if it is gone."""
    held = BulkTask.objects.filter(
        pk=bulk_task.pk, lease_owner=owner, status=BulkTask.Status.IN_PROGRESS
    )
    if scanning:
        held = held.filter(scanned_at__isnull=True)
    if not held.update(lease_expires_at=timezone.now() + lease_duration()):
        raise LeaseLost(bulk_task.pk)


def _delete_quietly(key: str) -> None:
    """Delete a file this worker wrote and will not record; the join's clean-up catches a miss."""
    with suppress(Exception):
        bulk_task_storage().delete(key)
