"""Cancel at the processing level: a chunk boundary is where the workers stop.

A chunk in flight when the cancel lands commits nothing; chunks committed
before it keep their counts and report lines; nothing runs afterwards, neither
a queued message, nor the sweeper, nor staff's retry; a scan in progress stops
without writing; and the organization's places go to its other tasks.
"""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from django.db import connection, connections

from bulktasks.actions import action_get
from bulktasks.actions.users_import import UsersImport
from bulktasks.models import BulkTask, BulkTaskChunk, BulkTaskLine
from bulktasks.processing import (
    bulk_task_chunk_process,
    bulk_task_claim,
    bulk_task_process,
    bulk_task_scan,
    bulk_task_start,
    bulk_task_sweep,
)
from bulktasks.processing import chunks as chunks_module
from bulktasks.processing import scan as scan_module
from bulktasks.processing.leases import LeaseLost
from bulktasks.services import bulk_task_cancel, bulk_task_retry
from bulktasks.tasks import process_bulk_task_chunk
from tests.bulktasks.files import people_rows
from tests.bulktasks.pipeline import pending, report, scanned
from tests.factories import MembershipFactory, UserFactory
from users.models import Membership, User

pytestmark = pytest.mark.django_db

COUNTERS = ("num_inserts", "num_updates", "num_skips", "num_errors")


def counters(task: BulkTask) -> tuple[int, ...]:
    task.refresh_from_db()
    return tuple(getattr(task, name) for name in COUNTERS)


def done_chunks_counters(task: BulkTask) -> tuple[int, ...]:
    done = BulkTaskChunk.objects.filter(task=task, status="done")
    return tuple(sum(getattr(chunk, name) for chunk in done) for name in COUNTERS)


def test_a_chunk_read_when_the_cancel_lands_commits_nothing(acme, settings, monkeypatch):
    settings.BULK_TASK_CHUNK_SIZE = 2
    staff = UserFactory(email="ops@example.com")
    task = pending(acme, [*people_rows(2), "x,X,3", *people_rows(1, start=4)])
    first, second = scanned(task)
    assert bulk_task_chunk_process(chunk_id=first.pk, owner="w", dispatch=False) is not None
    before = counters(task)
    real_read = chunks_module._read

    def read_then_cancel(bulk_task, action, chunk):
        records = real_read(bulk_task, action, chunk)
        bulk_task_cancel(bulk_task=BulkTask.objects.get(pk=task.pk), cancelled_by=staff)
        return records

    monkeypatch.setattr(chunks_module, "_read", read_then_cancel)

    assert bulk_task_chunk_process(chunk_id=second.pk, owner="w", dispatch=False) is None

    task.refresh_from_db()
    assert (task.status, task.error) == ("failed", "Cancelled by ops@example.com")
    assert counters(task) == before == done_chunks_counters(task) == (2, 0, 0, 0)
    assert User.objects.filter(email__startswith="person").count() == 2
    assert not BulkTaskLine.objects.filter(task=task).exists()
    second.refresh_from_db()
    assert (second.status, second.lease_owner) == ("pending", "")


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a second connection writing at once: PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_a_cancel_committed_while_a_chunk_applies_rolls_the_whole_chunk_back(acme, settings):
    """The cancel commits from another connection after the chunk's writes, before its last
    statement: that statement finds the task failed, and everything of the chunk goes."""
    settings.BULK_TASK_CHUNK_SIZE = 3
    staff = UserFactory(email="ops@example.com")
    task = pending(acme, [*people_rows(3), *people_rows(2, start=10), "bad,B,9"])
    first, second = scanned(task)
    assert bulk_task_chunk_process(chunk_id=first.pk, owner="w", dispatch=False) is not None
    real_apply = UsersImport.apply
    cancelled = threading.Event()

    def apply_then_cancel_elsewhere(self, **kwargs):
        result = real_apply(self, **kwargs)

        def cancel() -> None:
            try:
                bulk_task_cancel(bulk_task=BulkTask.objects.get(pk=task.pk), cancelled_by=staff)
                cancelled.set()
            finally:
                connections.close_all()

        thread = threading.Thread(target=cancel)
        thread.start()
        thread.join(timeout=30)
        return result

    with mock.patch.object(UsersImport, "apply", apply_then_cancel_elsewhere):
        assert bulk_task_chunk_process(chunk_id=second.pk, owner="w", dispatch=False) is None

    assert cancelled.is_set()
    task.refresh_from_db()
    assert task.status == "failed"
    assert counters(task) == done_chunks_counters(task) == (3, 0, 0, 0)
    assert not User.objects.filter(email__in=["person10@example.com", "person11@example.com"])
    assert not BulkTaskLine.objects.filter(task=task).exists()
    second.refresh_from_db()
    assert second.status == "pending"


def test_committed_chunks_keep_their_counts_and_lines_and_unrun_repeats_leave_the_report(
    acme, settings
):
    settings.BULK_TASK_CHUNK_SIZE = 3
    MembershipFactory(organization=acme, user=UserFactory(email="member@example.com"))
    rows = [
        "a@example.com,A,1",  # line 2
        "bad,B,2",  # 3: errored
        "member@example.com,M,3",  # 4: skipped, already a member
        "a@example.com,A,4",  # 5: repeat of line 2 (the scan records it)
        *people_rows(2),  # 6, 7
        "a@example.com,A,7",  # 8: a repeat in a chunk that never runs
        *people_rows(1, start=3),  # 9
    ]
    task = pending(acme, rows)
    chunks = scanned(task)
    assert len(chunks) == 3
    task.refresh_from_db()
    assert task.num_errors == 2  # the scan counted both repeats
    for chunk in chunks[:2]:
        assert bulk_task_chunk_process(chunk_id=chunk.pk, owner="w", dispatch=False) is not None

    cancelled = bulk_task_cancel(bulk_task=task, cancelled_by=UserFactory())

    assert cancelled.status == "failed"
    counts, lines = report(task)
    assert counts == (8, 3, 0, 1, 2)
    assert [line for _, line, _ in lines] == [3, 4, 5]
    repeats_in_done_chunks = 1
    inserts, updates, skips, errors = done_chunks_counters(task)
    assert counts[1:] == (inserts, updates, skips, errors + repeats_in_done_chunks)
    assert all(chunks[0].first_line <= line <= chunks[1].last_line for _, line, _ in lines)


def test_no_chunk_runs_after_the_cancel_whatever_message_or_sweep_comes(
    acme, settings, django_capture_on_commit_callbacks
):
    settings.BULK_TASK_CHUNK_SIZE = 2
    settings.BULK_TASK_PENDING_GRACE_SECONDS = 0
    task = pending(acme, people_rows(6))
    first, second, third = scanned(task)
    BulkTaskChunk.objects.filter(pk__in=[first.pk, second.pk]).update(status="queued")

    with (
        mock.patch("bulktasks.processing.dispatch.chunk_enqueue") as enqueued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        bulk_task_cancel(bulk_task=task, cancelled_by=UserFactory())
        # The messages of the chunks that were queued arrive now; the sweeper runs;
        # the task's own message comes again.
        for chunk in (first, second, third):
            process_bulk_task_chunk.apply(args=[chunk.pk])
        swept = bulk_task_sweep()
        assert bulk_task_start(bulk_task_id=task.pk) is None
        assert bulk_task_process(bulk_task_id=task.pk) is None

    assert swept == []
    enqueued.assert_not_called()
    task.refresh_from_db()
    assert (task.status, counters(task)) == ("failed", (0, 0, 0, 0))
    assert set(BulkTaskChunk.objects.filter(task=task).values_list("status", "attempts")) == {
        ("pending", 0)
    }
    assert not User.objects.filter(email__startswith="person").exists()


def test_a_cancelled_task_is_not_retried(acme):
    task = pending(acme, people_rows(2))
    bulk_task_cancel(bulk_task=task, cancelled_by=UserFactory(email="ops@example.com"))

    with mock.patch("bulktasks.services.retry.bulk_task_enqueue") as enqueued:
        retried = bulk_task_retry(bulk_task=task)

    assert (retried.status, retried.error) == ("failed", "Cancelled by ops@example.com")
    enqueued.assert_not_called()


def test_the_cancel_gives_the_organizations_places_to_its_other_tasks(
    acme, settings, django_capture_on_commit_callbacks
):
    settings.BULK_TASK_CHUNK_SIZE = 2
    settings.BULK_TASK_ORGANIZATION_CONCURRENCY = 1
    big = pending(acme, people_rows(4))
    big_first, _ = scanned(big)
    small = pending(acme, people_rows(2, start=100))
    [waiting] = scanned(small)
    BulkTaskChunk.objects.filter(pk=big_first.pk).update(status="queued")

    with (
        mock.patch("bulktasks.processing.dispatch.chunk_enqueue") as enqueued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        bulk_task_cancel(bulk_task=big, cancelled_by=UserFactory())

    waiting.refresh_from_db()
    assert waiting.status == "queued"
    enqueued.assert_called_once_with(chunk_id=waiting.pk)
    assert bulk_task_chunk_process(chunk_id=waiting.pk, owner="w", dispatch=False) is not None
    small.refresh_from_db()
    assert (small.status, small.num_inserts) == ("completed", 2)


def test_a_scan_in_progress_stops_at_its_next_look_and_writes_nothing(acme, monkeypatch):
    monkeypatch.setattr(scan_module, "_SCAN_CLOCK_EVERY", 1)
    monkeypatch.setattr(scan_module, "_STOP_CHECK_SECONDS", 0.0)
    task = pending(acme, people_rows(50))
    claimed = bulk_task_claim(bulk_task_id=task.pk, owner="scanner")
    assert claimed is not None
    read: list[int] = []
    real_keep = scan_module._raise_if_stopped

    def look(bulk_task, owner):
        read.append(1)
        if len(read) == 5:
            bulk_task_cancel(bulk_task=BulkTask.objects.get(pk=task.pk), cancelled_by=UserFactory())
        real_keep(bulk_task, owner)

    monkeypatch.setattr(scan_module, "_raise_if_stopped", look)

    with pytest.raises(LeaseLost):
        bulk_task_scan(
            bulk_task=claimed, owner="scanner", action=action_get("users.import"), dispatch=False
        )

    # It stopped at the look after the cancel, not at the end of the file.
    assert len(read) == 5
    task.refresh_from_db()
    assert (task.status, task.scanned_at, task.num_items) == ("failed", None, 0)
    assert not BulkTaskChunk.objects.filter(task=task).exists()


def test_the_pipeline_logs_a_stopped_scan_as_stopped_not_taken_over(acme, monkeypatch, json_logs):
    monkeypatch.setattr(scan_module, "_SCAN_CLOCK_EVERY", 1)
    monkeypatch.setattr(scan_module, "_STOP_CHECK_SECONDS", 0.0)
    task = pending(acme, people_rows(5))
    real_scan = scan_module.bulk_task_scan

    def cancel_then_scan(**kwargs):
        bulk_task_cancel(bulk_task=BulkTask.objects.get(pk=task.pk), cancelled_by=UserFactory())
        return real_scan(**kwargs)

    monkeypatch.setattr("bulktasks.processing.pipeline.bulk_task_scan", cancel_then_scan)

    assert bulk_task_process(bulk_task_id=task.pk) is None

    messages = [line["message"] for line in json_logs()]
    assert "bulk task scan stopped: the task is no longer running" in messages
    assert "bulk task taken over by another worker" not in messages
    assert not Membership.objects.filter(organization=acme).exists()


def test_the_command_line_run_stops_after_the_chunk_in_flight(acme, settings, monkeypatch):
    settings.BULK_TASK_CHUNK_SIZE = 2
    task = pending(acme, people_rows(6))
    real_read = chunks_module._read
    reads: list[int] = []

    def cancel_on_the_second(bulk_task, action, chunk):
        reads.append(chunk.index)
        if chunk.index == 1:
            bulk_task_cancel(bulk_task=BulkTask.objects.get(pk=task.pk), cancelled_by=UserFactory())
        return real_read(bulk_task, action, chunk)

    monkeypatch.setattr(chunks_module, "_read", cancel_on_the_second)

    stopped = bulk_task_process(bulk_task_id=task.pk)

    assert stopped is not None
    assert (stopped.status, stopped.num_inserts) == ("failed", 2)
    assert reads == [0, 1]
    statuses = list(
        BulkTaskChunk.objects.filter(task=task).order_by("index").values_list("status", "attempts")
    )
    assert statuses == [("done", 1), ("pending", 1), ("pending", 0)]
