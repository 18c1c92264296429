"""Writes for bulk tasks: create one from an upload, process it exactly once, retry it."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from bulktasks import sniffing
from bulktasks.actions import Action, ActionContext, action_get
from bulktasks.models import BulkTask, BulkTaskLine, IdempotencyKey
from bulktasks.readers import FileFormatError, Record, read_records
from bulktasks.storage import (
    StorageUnavailable,
    bulk_task_storage,
    original_name_clean,
    storage_is_unavailable,
    storage_key_for,
    storage_key_max_length,
    storage_location,
    storage_provider_current,
)
from bulktasks.uploads import file_sha256, max_file_size, too_large_message
from core.exceptions import (
    IdempotencyKeyReused,
    PayloadTooLarge,
    ServiceUnavailable,
    UnknownAction,
    UnsupportedFileType,
)
from core.ids import object_id
from users.models import Organization, User

logger = logging.getLogger(__name__)

SNIFF_BYTES = 8192
REASON_MAX_LENGTH = 1000
ProgressCallback = Callable[[BulkTask], None]


class LeaseLost(Exception):
    """Another worker took the task over; this one must stop without writing."""


# --- Creating ---------------------------------------------------------------------


def bulk_task_create(
    *,
    organization: Organization,
    created_by: User | None,
    action: str,
    file: Any,
    original_name: str,
    override: bool = False,
    idempotency_key: str | None = None,
    enqueue: bool = True,
) -> tuple[BulkTask, bool]:
    """Store an uploaded file and create a pending task for it; processing starts after commit.

    Returns ``(task, created)``: with an ``idempotency_key`` seen from the same user
    in the same organization within 24 hours, the earlier task and False. With
    ``enqueue=False`` the caller processes the task itself (the command line does).
    """
    if action_get(action) is None:
        raise UnknownAction(
            f"Unknown action {action[:100]!r}; known actions: {', '.join(_known())}"
        )
    size = int(getattr(file, "size", 0) or 0)
    if size > max_file_size():
        raise PayloadTooLarge(too_large_message())
    checksum = file_sha256(file)
    file.seek(0)
    detected = sniffing.detect_mimetype(file.read(SNIFF_BYTES))
    file.seek(0)
    if not detected.supported:
        raise UnsupportedFileType(
            f"Unsupported file type {detected.mimetype}: upload CSV (text/csv) or JSON Lines"
        )

    fingerprint = hashlib.sha256(f"{action}\n{override}\n{checksum}".encode()).hexdigest()
    if idempotency_key and created_by is not None:
        replay = _idempotent_replay(organization, created_by, idempotency_key, fingerprint)
        if replay is not None:
            return replay, False

    name = original_name_clean(original_name)
    bulk_task_id = object_id()
    provider = storage_provider_current()
    storage = bulk_task_storage()
    key_max_length = storage_key_max_length(provider)
    try:
        key = storage.save(
            storage_key_for(
                organization_id=organization.pk,
                bulk_task_id=bulk_task_id,
                original_name=name,
                max_length=key_max_length,
            ),
            file,
            max_length=key_max_length,
        )
    except Exception as exc:
        if storage_is_unavailable(exc):
            raise ServiceUnavailable("File storage is temporarily unavailable") from exc
        raise
    # The file is stored before the row exists; if the row cannot be written,
    # the file goes too, so nothing is left half-way.
    try:
        with transaction.atomic():
            bulk_task = BulkTask.objects.create(
                id=bulk_task_id,
                organization=organization,
                created_by=created_by,
                action=action,
                override=override,
                status=BulkTask.Status.PENDING,
                file_original_name=name,
                file_mimetype=detected.mimetype,
                file_size=size,
                file_checksum=checksum,
                file_key=key,
                file_bucket=provider.bucket,
                file_region=provider.region,
                file_location=storage_location(provider=provider, key=key),
                storage_provider=provider,
            )
            if idempotency_key and created_by is not None:
                IdempotencyKey.objects.create(
                    organization=organization,
                    user=created_by,
                    key=idempotency_key,
                    fingerprint=fingerprint,
                    bulk_task=bulk_task,
                )
            if enqueue:
                transaction.on_commit(
                    lambda: _bulk_task_enqueue_or_withdraw(bulk_task_id=bulk_task_id, key=key)
                )
    except IntegrityError:
        storage.delete(key)
        if idempotency_key and created_by is not None:
            # Two requests with the same key raced; the other one won.
            replay = _idempotent_replay(organization, created_by, idempotency_key, fingerprint)
            if replay is not None:
                return replay, False
        raise
    except BaseException:
        storage.delete(key)
        raise
    return bulk_task, True


def _known() -> list[str]:
    from bulktasks.actions import action_names

    return action_names()


def _idempotent_replay(
    organization: Organization, user: User, key: str, fingerprint: str
) -> BulkTask | None:
    """The task an earlier request with this key created, if the key is still fresh."""
    cutoff = timezone.now() - timedelta(seconds=settings.BULK_TASK_IDEMPOTENCY_TTL_SECONDS)
    record = (
        IdempotencyKey.objects.select_related("bulk_task")
        .filter(organization=organization, user=user, key=key)
        .first()
    )
    if record is None:
        return None
    if record.created_at < cutoff:
        record.delete()
        return None
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "Idempotency-Key was already used with another action, override or file"
        )
    return record.bulk_task


def idempotency_keys_flush() -> int:
    """Forget Idempotency-Keys older than their time to live; return how many went."""
    cutoff = timezone.now() - timedelta(seconds=settings.BULK_TASK_IDEMPOTENCY_TTL_SECONDS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    if deleted:
        logger.info("forgot %s expired idempotency keys", deleted)
    return deleted


def bulk_task_enqueue(*, bulk_task_id: str) -> bool:
    """Hand the task to the queue; if the broker is down, the sweeper tries again later."""
    from bulktasks.tasks import process_bulk_task

    try:
        process_bulk_task.delay(bulk_task_id)
    except Exception:  # the broker is unreachable; the task stays pending and is swept
        logger.warning(
            "could not enqueue bulk task %s; the sweeper will retry", bulk_task_id, exc_info=True
        )
        return False
    return True


def _bulk_task_enqueue_or_withdraw(*, bulk_task_id: str, key: str) -> None:
    """Queue a new upload's task; if the broker is away, take the upload back and answer 503.

    A task left pending would be queued by the sweeper once the broker is back,
    but the client, told nothing went wrong, could not tell it from one that is
    merely slow; and a client told to retry would upload the file twice. So the
    task is withdrawn (row, idempotency key, stored file) and the client retries
    a request that left nothing behind. A task a worker already claimed did reach
    the queue, whatever the publish said: it stays.
    """
    if bulk_task_enqueue(bulk_task_id=bulk_task_id):
        return
    withdrawn, _ = BulkTask.objects.filter(
        pk=bulk_task_id, status=BulkTask.Status.PENDING, attempts=0
    ).delete()
    if not withdrawn:
        return
    bulk_task_storage().delete(key)
    raise ServiceUnavailable(
        "The task could not be queued, so the upload was not kept; retry in a few seconds"
    )


@transaction.atomic
def bulk_task_retry(*, bulk_task: BulkTask) -> BulkTask:
    """Send a failed task back to the queue; it resumes after its last committed line."""
    updated = BulkTask.objects.filter(pk=bulk_task.pk, status=BulkTask.Status.FAILED).update(
        status=BulkTask.Status.PENDING,
        error="",
        attempts=0,
        lease_owner="",
        lease_expires_at=None,
        finished_at=None,
        updated_at=timezone.now(),
    )
    if updated:
        transaction.on_commit(lambda: bulk_task_enqueue(bulk_task_id=bulk_task.pk))
    bulk_task.refresh_from_db()
    return bulk_task


# --- Processing -------------------------------------------------------------------


def bulk_task_claim(*, bulk_task_id: str, owner: str) -> BulkTask | None:
    """Take the task for one worker, unless another live worker holds it or it is finished.

    A single conditional UPDATE decides, so two deliveries of the same task at
    the same moment cannot both win.
    """
    now = timezone.now()
    claimed = (
        BulkTask.objects.filter(
            pk=bulk_task_id, status__in=[BulkTask.Status.PENDING, BulkTask.Status.IN_PROGRESS]
        )
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(
            status=BulkTask.Status.IN_PROGRESS,
            lease_owner=owner,
            lease_expires_at=now + _lease(),
            attempts=F("attempts") + 1,
            requeues=0,
            requeued_at=None,
            updated_at=now,
        )
    )
    if not claimed:
        return None
    bulk_task = BulkTask.objects.get(pk=bulk_task_id)
    if bulk_task.started_at is None:
        BulkTask.objects.filter(pk=bulk_task_id).update(started_at=now)
        bulk_task.started_at = now
    return bulk_task


def bulk_task_process(
    *, bulk_task_id: str, owner: str | None = None, progress: ProgressCallback | None = None
) -> BulkTask | None:
    """Process a task to its end, resuming after its checkpoint.

    Returns the finished task, or None when another worker holds it or it was already done.
    """
    owner = owner or uuid.uuid4().hex
    bulk_task = bulk_task_claim(bulk_task_id=bulk_task_id, owner=owner)
    if bulk_task is None:
        return None
    log = {
        "bulk_task_id": bulk_task.pk,
        "organization_id": bulk_task.organization_id,
        "action": bulk_task.action,
        "attempt": bulk_task.attempts,
    }
    # Counters at the start are not zero when a task resumes from its checkpoint.
    logger.info(
        "bulk task started (attempt %s, after line %s)",
        bulk_task.attempts,
        bulk_task.checkpoint_line,
        extra={**log, **_counts(bulk_task)},
    )
    if bulk_task.attempts > settings.BULK_TASK_MAX_ATTEMPTS:
        return _fail(
            bulk_task, owner, f"processing gave up after {settings.BULK_TASK_MAX_ATTEMPTS} attempts"
        )
    action = action_get(bulk_task.action)
    if action is None:
        return _fail(bulk_task, owner, f"action {bulk_task.action} is no longer available")
    try:
        if not bulk_task.file_key or not bulk_task_storage().exists(bulk_task.file_key):
            return _fail(bulk_task, owner, "the uploaded file is no longer stored")
        if bulk_task.scanned_at is None:
            bulk_task = bulk_task_scan(bulk_task=bulk_task, owner=owner, action=action)
        if progress:
            progress(bulk_task)
        with _records(bulk_task, action) as records:
            chunks = _chunks(records, after_line=bulk_task.checkpoint_line)
            for number, chunk in enumerate(chunks, start=1):
                bulk_task = bulk_task_process_chunk(
                    bulk_task=bulk_task, owner=owner, action=action, records=chunk
                )
                _statistics_refresh(action, number)
                if progress:
                    progress(bulk_task)
    except FileFormatError as exc:
        return _fail(bulk_task, owner, str(exc))
    except LeaseLost:
        logger.warning("bulk task taken over by another worker", extra=log)
        return None
    except OperationalError:
        # The database is away: let the queue retry later, from the checkpoint.
        _release(bulk_task, owner)
        raise
    except Exception as exc:
        if storage_is_unavailable(exc):
            # Like the database going away: retried later, from the checkpoint.
            logger.warning("file storage unavailable: %s", exc, extra=log)
            _release(bulk_task, owner)
            raise StorageUnavailable(str(exc)) from exc
        logger.exception("bulk task processing crashed", extra=log)
        return _fail(
            bulk_task,
            owner,
            f"processing stopped after line {bulk_task.checkpoint_line} because of an internal error; "
            "staff can retry it",
        )
    bulk_task = _finish(bulk_task, owner)
    counts = _counts(bulk_task)
    logger.info(
        "bulk task completed: %(items)s items, %(inserted)s inserted, %(updated)s updated, "
        "%(skipped)s skipped, %(errored)s errored",
        counts,
        extra={**log, **counts},
    )
    return bulk_task


def _counts(bulk_task: BulkTask) -> dict[str, int]:
    """The task's counters, under the names its log lines give them."""
    return {
        "items": bulk_task.num_items,
        "inserted": bulk_task.num_inserts,
        "updated": bulk_task.num_updates,
        "skipped": bulk_task.num_skips,
        "errored": bulk_task.num_errors,
    }


# How many records the scan reads between two looks at the clock.
_SCAN_CLOCK_EVERY = 10_000


def bulk_task_scan(*, bulk_task: BulkTask, owner: str, action: Action) -> BulkTask:
    """Read the whole file once, before any write: a bad file fails with nothing applied.

    Counts the items, so that progress can be shown as lines done out of lines known.
    The lease is renewed as the scan goes: reading a 100 MB file of short lines
    can take longer than a lease, and a lease that runs out mid-scan sends the
    task to another worker, which would start the scan over.
    """
    count = 0
    renew_after = settings.BULK_TASK_LEASE_SECONDS / 3
    renewed = time.monotonic()
    with _records(bulk_task, action) as records:
        for _ in records:
            count += 1
            if count % _SCAN_CLOCK_EVERY == 0 and time.monotonic() - renewed >= renew_after:
                _renew_lease(bulk_task, owner)
                renewed = time.monotonic()
    now = timezone.now()
    with transaction.atomic():
        _renew_lease(bulk_task, owner)
        BulkTask.objects.filter(pk=bulk_task.pk).update(
            num_items=count, scanned_at=now, updated_at=now
        )
    bulk_task.num_items, bulk_task.scanned_at = count, now
    return bulk_task


def bulk_task_process_chunk(
    *, bulk_task: BulkTask, owner: str, action: Action, records: list[Record]
) -> BulkTask:
    """Apply one chunk of records and move the checkpoint past it, in one transaction.

    A concurrent import creating the same person can make the chunk collide on
    a unique e-mail; the chunk is then rolled back and applied again, once the
    other side has committed.
    """
    for attempt in range(3):
        try:
            return _process_chunk_once(bulk_task, owner, action, records)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def _process_chunk_once(
    bulk_task: BulkTask, owner: str, action: Action, records: list[Record]
) -> BulkTask:
    _commit_without_flush_wait()
    _renew_lease(bulk_task, owner)
    errored: list[tuple[int, str]] = []
    rows: list[tuple[int, Any]] = []
    for record in records:
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
    )
    result = action.apply(context=context, rows=rows) if rows else None
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
    checkpoint = records[-1].line
    BulkTask.objects.filter(pk=bulk_task.pk).update(
        num_inserts=F("num_inserts") + inserts,
        num_updates=F("num_updates") + updates,
        num_skips=F("num_skips") + len(skipped),
        num_errors=F("num_errors") + len(errored),
        checkpoint_line=checkpoint,
        updated_at=timezone.now(),
    )
    bulk_task.num_inserts += inserts
    bulk_task.num_updates += updates
    bulk_task.num_skips += len(skipped)
    bulk_task.num_errors += len(errored)
    bulk_task.checkpoint_line = checkpoint
    return bulk_task


def bulk_task_sweep() -> list[str]:
    """Enqueue tasks a dead worker left behind, and pending tasks whose message was lost.

    A task still waiting behind a long queue looks the same as one whose message
    was lost; so each task queued again waits twice as long as the last time
    (one grace period, then 2, 4 ... up to 64) before the next, and a backlog
    gets a few duplicates, not one per task per sweep. A worker taking the task
    resets the count.
    """
    now = timezone.now()
    grace = timedelta(seconds=settings.BULK_TASK_PENDING_GRACE_SECONDS)
    left_behind = (
        Q(status=BulkTask.Status.IN_PROGRESS, lease_expires_at__lt=now)
        | Q(status=BulkTask.Status.IN_PROGRESS, lease_expires_at__isnull=True)
        | Q(
            status=BulkTask.Status.PENDING,
            lease_expires_at__isnull=True,
            updated_at__lt=now - grace,
        )
    )
    last = _REQUEUE_BACKOFF_STEPS
    due = Q(requeues=0) | Q(requeues__gte=last, requeued_at__lt=now - grace * 2**last)
    for step in range(1, last):
        due |= Q(requeues=step, requeued_at__lt=now - grace * 2**step)
    ids = list(BulkTask.objects.filter(left_behind & due).values_list("id", flat=True)[:1000])
    if not ids:
        return ids
    # Counted before sending, so that a worker taking a message at once resets a
    # count already written; a task taken since the SELECT is not counted.
    BulkTask.objects.filter(left_behind, pk__in=ids).update(
        requeues=F("requeues") + 1, requeued_at=now
    )
    for bulk_task_id in ids:
        bulk_task_enqueue(bulk_task_id=bulk_task_id)
    logger.info("swept %s bulk tasks back to the queue", len(ids))
    return ids


# After this many requeues in a row the wait stops doubling (64 grace periods).
_REQUEUE_BACKOFF_STEPS = 6


# --- Helpers ----------------------------------------------------------------------


def _commit_without_flush_wait() -> None:
    """Let PostgreSQL acknowledge this transaction's commit before its WAL is on disk.

    Safe for exactly-once: a chunk's rows and its checkpoint commit together, so
    a database crash that loses the last few commits loses both, and the task,
    resumed from the older checkpoint, applies exactly those lines again. It
    saves waiting for a disk flush per chunk, which was a quarter of an import.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _statistics_refresh(action: Action, chunk_number: int) -> None:
    """Refresh PostgreSQL's statistics of the tables an import grows, after chunks 2, 4, 8...

    Planned with the statistics of a table that was small, each lookup of a
    chunk scans the whole table once it has grown: measured at 14 ms a chunk at
    100,000 rows, against 1.3 ms with fresh statistics. Autovacuum comes too late.
    """
    # Not after the first: a file of one chunk never needs it, and small uploads
    # are most of them.
    if connection.vendor != "postgresql" or chunk_number < 2 or chunk_number & (chunk_number - 1):
        return
    with connection.cursor() as cursor:
        for model in action.models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _lease() -> timedelta:
    return timedelta(seconds=settings.BULK_TASK_LEASE_SECONDS)


def _renew_lease(bulk_task: BulkTask, owner: str) -> None:
    """Extend this worker's hold, or raise LeaseLost (and roll back) if it is gone.

    On PostgreSQL the UPDATE also locks the task row until the chunk commits, so
    a worker that lost its lease cannot interleave writes with the new owner.
    """
    renewed = BulkTask.objects.filter(
        pk=bulk_task.pk, lease_owner=owner, status=BulkTask.Status.IN_PROGRESS
    ).update(lease_expires_at=timezone.now() + _lease())
    if not renewed:
        raise LeaseLost(bulk_task.pk)


def _release(bulk_task: BulkTask, owner: str) -> None:
    # If the database is unreachable the lease simply runs out instead.
    with suppress(OperationalError):
        BulkTask.objects.filter(pk=bulk_task.pk, lease_owner=owner).update(lease_expires_at=None)


def _fail(bulk_task: BulkTask, owner: str, error: str) -> BulkTask:
    now = timezone.now()
    BulkTask.objects.filter(pk=bulk_task.pk, lease_owner=owner).update(
        status=BulkTask.Status.FAILED,
        error=error,
        lease_owner="",
        lease_expires_at=None,
        finished_at=now,
        updated_at=now,
    )
    bulk_task.refresh_from_db()
    logger.info(
        "bulk task failed: %s",
        error,
        extra={
            "bulk_task_id": bulk_task.pk,
            "organization_id": bulk_task.organization_id,
            "action": bulk_task.action,
            **_counts(bulk_task),
        },
    )
    return bulk_task


def _finish(bulk_task: BulkTask, owner: str) -> BulkTask:
    now = timezone.now()
    finished = BulkTask.objects.filter(pk=bulk_task.pk, lease_owner=owner).update(
        status=BulkTask.Status.COMPLETED,
        lease_owner="",
        lease_expires_at=None,
        finished_at=now,
        updated_at=now,
    )
    if not finished:
        raise LeaseLost(bulk_task.pk)
    bulk_task.refresh_from_db()
    return bulk_task


@contextmanager
def _records(bulk_task: BulkTask, action: Action) -> Iterator[Iterator[Record]]:
    """Open the task's stored file and stream its records."""
    with bulk_task_storage().open(bulk_task.file_key, "rb") as stream:
        yield read_records(
            stream,
            mimetype=bulk_task.file_mimetype,
            columns=action.column_names,
            required=action.required_columns,
        )


def _chunks(records: Iterator[Record], *, after_line: int) -> Iterator[list[Record]]:
    size = max(1, int(settings.BULK_TASK_CHUNK_SIZE))
    chunk: list[Record] = []
    for record in records:
        if record.line <= after_line:
            continue  # committed by an earlier run
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def open_stored_file(bulk_task: BulkTask) -> IO[bytes]:
    """The task's original file, for staff to download."""
    return bulk_task_storage().open(bulk_task.file_key, "rb")
