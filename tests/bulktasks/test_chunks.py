"""Chunks in-process: exactly once in any order, attempts and leases, outages, give-up."""

from __future__ import annotations

import logging
import random
import threading
from array import array
from contextlib import contextmanager, suppress
from datetime import timedelta

import pytest
from django.core.files.storage import FileSystemStorage
from django.db import connection
from django.utils import timezone

from bulktasks.actions import action_get
from bulktasks.actions.users_import import UsersImport
from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.processing import (
    bulk_task_chunk_process,
    bulk_task_claim,
    bulk_task_process,
    bulk_task_scan,
)
from bulktasks.processing import scan as scan_module
from bulktasks.processing.finish import task_complete, task_fail
from bulktasks.storage import StorageUnavailable
from tests.bulktasks.files import people_rows
from tests.bulktasks.pipeline import pending, report, scanned
from tests.factories import OrganizationFactory
from users.models import Membership

pytestmark = pytest.mark.django_db


ROWS = [
    "a@example.com,A,1",
    "b@example.com,B,2",
    "not-an-email,X,3",
    "c@example.com,C,4",
    "A@Example.com,A,5",  # repeats line 2
    "b@example.com,B,6",  # repeats line 3
    "c@example.com," + "C" * 200 + ",7",  # invalid: not a repeat of line 5
    "c@example.com,C,8",  # repeats line 5
]


@pytest.mark.parametrize("order", ["forward", "backward"])
def test_repeated_lines_are_found_across_the_whole_file_whatever_order_chunks_run_in(
    acme, settings, order
):
    settings.BULK_TASK_CHUNK_SIZE = 2
    task = pending(acme, ROWS)
    chunks = scanned(task)
    assert [(c.first_line, c.last_line) for c in chunks] == [(2, 3), (4, 5), (6, 7), (8, 9)]

    for chunk in chunks if order == "forward" else reversed(chunks):
        assert bulk_task_chunk_process(chunk_id=chunk.pk, owner="w", dispatch=False) is not None

    counters, lines = report(task)
    assert (task.status, *counters) == ("completed", 8, 3, 0, 0, 5)
    assert [(line, reason) for _, line, reason in lines] == [
        (4, "email: 'not-an-email' is not a valid e-mail address"),
        (6, "email: duplicate of line 2"),
        (7, "email: duplicate of line 3"),
        (8, "firstName: longer than 128 characters"),
        (9, "email: duplicate of line 5"),
    ]
    assert Membership.objects.filter(organization=acme).count() == 3


def test_a_hash_collision_is_never_taken_for_a_repeat(acme, settings, monkeypatch):
    # Every key hashes alike: only the exact comparison can tell the lines apart.
    monkeypatch.setattr(scan_module, "hash", lambda key: 42, raising=False)
    settings.BULK_TASK_CHUNK_SIZE = 3

    task = bulk_task_process(
        bulk_task_id=pending(acme, [*people_rows(7), "person3@example.com,Again,Three"]).pk
    )

    assert task is not None
    assert (task.num_inserts, task.num_errors) == (7, 1)
    assert list(task.lines.values_list("line", "reason")) == [(9, "email: duplicate of line 4")]


def test_a_chunk_reads_its_own_bytes_only_so_a_resume_near_the_end_is_short(
    acme, settings, monkeypatch
):
    settings.BULK_TASK_CHUNK_SIZE = 1000
    settings.BULK_TASK_LEASE_SECONDS = 1
    task = pending(acme, people_rows(20_000))
    chunks = scanned(task)
    for chunk in chunks[:-1]:
        bulk_task_chunk_process(chunk_id=chunk.pk, owner="first-worker", dispatch=False)
    last = chunks[-1]
    # The worker of the last chunk died holding it; its lease ran out.
    BulkTaskChunk.objects.filter(pk=last.pk).update(
        status="running",
        lease_owner="dead",
        lease_expires_at=timezone.now() - timedelta(1),
        attempts=1,
    )
    reads: list[tuple[int, int]] = []
    original = scan_module.stored_file_range

    @contextmanager
    def counted(key, *, start=0, end=None):
        with original(key, start=start, end=end) as stream:
            counter = [0]

            class Counting:
                def read(self, size=-1):
                    data = stream.read(size)
                    counter[0] += len(data)
                    return data

            yield Counting()
            reads.append((start, counter[0]))

    monkeypatch.setattr(scan_module, "stored_file_range", counted)

    done = bulk_task_chunk_process(chunk_id=last.pk, owner="rescuer", dispatch=False)

    assert done is not None
    assert (done.status, done.attempts) == ("done", 2)
    size = BulkTask.objects.get(pk=task.pk).file_size
    [(start, read)] = reads
    assert start == last.start_offset > size * 0.9
    assert read <= size - start
    finished = BulkTask.objects.get(pk=task.pk)
    assert (finished.status, finished.num_inserts) == ("completed", 20_000)


def failing_open(times: int):
    """FileSystemStorage.open failing ``times`` times as a disk that is away, then working."""
    real = FileSystemStorage.open
    calls = {"n": 0}

    def open_(self, name, mode="rb"):
        calls["n"] += 1
        if calls["n"] <= times:
            raise OSError(5, "Input/output error")  # EIO: the storage is away
        return real(self, name, mode)

    return open_


def test_a_storage_outage_never_uses_up_attempts(acme, settings, monkeypatch):
    settings.BULK_TASK_MAX_ATTEMPTS = 5
    settings.BULK_TASK_CHUNK_SIZE = 2
    task = pending(acme, people_rows(4))
    monkeypatch.setattr(FileSystemStorage, "open", failing_open(6))
    outages = 0

    for _ in range(10):
        try:
            finished = bulk_task_process(bulk_task_id=task.pk)
        except StorageUnavailable:
            outages += 1
            continue
        break

    assert outages == 6
    assert finished is not None
    assert (finished.status, finished.num_inserts, finished.error) == ("completed", 4, "")
    assert finished.attempts == 1
    assert set(finished.chunks.values_list("attempts", flat=True)) == {1}


def test_a_chunk_meeting_a_storage_outage_is_released_not_counted(acme, settings, monkeypatch):
    settings.BULK_TASK_CHUNK_SIZE = 2
    task = pending(acme, people_rows(2))
    [chunk] = scanned(task)
    monkeypatch.setattr(FileSystemStorage, "open", failing_open(6))

    for _ in range(6):
        with pytest.raises(StorageUnavailable):
            bulk_task_chunk_process(chunk_id=chunk.pk, owner="w")
        chunk.refresh_from_db()
        assert (chunk.status, chunk.lease_expires_at, chunk.attempts) == ("queued", None, 1)

    assert bulk_task_chunk_process(chunk_id=chunk.pk, owner="w", dispatch=False) is not None
    assert BulkTask.objects.get(pk=task.pk).status == "completed"


def test_a_chunk_taken_over_too_often_gives_up_and_fails_its_task(acme, settings):
    settings.BULK_TASK_MAX_ATTEMPTS = 5
    settings.BULK_TASK_CHUNK_SIZE = 2
    task = pending(acme, people_rows(4))
    first, second = scanned(task)
    bulk_task_chunk_process(chunk_id=first.pk, owner="w", dispatch=False)
    # Its worker died five times in a row on it; the last lease has run out.
    BulkTaskChunk.objects.filter(pk=second.pk).update(
        status="running",
        lease_owner="dead",
        lease_expires_at=timezone.now() - timedelta(1),
        attempts=5,
    )

    assert bulk_task_chunk_process(chunk_id=second.pk, owner="w", dispatch=False) is None

    failed = BulkTask.objects.get(pk=task.pk)
    assert failed.status == "failed"
    assert failed.error == "processing gave up after 5 attempts at line 4"
    assert failed.num_inserts == 2
    assert BulkTaskChunk.objects.get(pk=second.pk).status == "pending"


def test_a_scan_taken_over_too_often_gives_up(acme, settings):
    settings.BULK_TASK_MAX_ATTEMPTS = 5
    task = pending(acme, people_rows(2))
    BulkTask.objects.filter(pk=task.pk).update(
        status="inProgress",
        lease_owner="dead",
        lease_expires_at=timezone.now() - timedelta(1),
        attempts=5,
    )

    failed = bulk_task_process(bulk_task_id=task.pk)

    assert failed is not None
    assert (failed.status, failed.error) == ("failed", "processing gave up after 5 attempts")


def test_a_released_scan_is_claimed_again_without_counting_an_attempt(acme):
    task = pending(acme, people_rows(1))
    assert bulk_task_claim(bulk_task_id=task.pk, owner="a").attempts == 1
    BulkTask.objects.filter(pk=task.pk).update(lease_expires_at=None)  # released after an outage

    assert bulk_task_claim(bulk_task_id=task.pk, owner="b").attempts == 1
    BulkTask.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() - timedelta(1))

    assert bulk_task_claim(bulk_task_id=task.pk, owner="c").attempts == 2


def test_the_last_chunk_of_a_task_failed_meanwhile_neither_raises_nor_completes_it(acme, settings):
    settings.BULK_TASK_CHUNK_SIZE = 2
    task = pending(acme, people_rows(4))
    first, second = scanned(task)
    bulk_task_chunk_process(chunk_id=first.pk, owner="w", dispatch=False)
    BulkTask.objects.filter(pk=task.pk).update(status="failed", error="stopped by staff")

    assert bulk_task_chunk_process(chunk_id=second.pk, owner="w", dispatch=False) is None
    assert task_complete(bulk_task=task) is False

    task.refresh_from_db()
    assert (task.status, task.error, task.num_inserts) == ("failed", "stopped by staff", 2)


def test_failing_a_task_that_is_no_longer_this_workers_logs_no_failure(acme, caplog):
    task = pending(acme, people_rows(1))
    bulk_task_claim(bulk_task_id=task.pk, owner="new-owner")

    with caplog.at_level(logging.INFO, logger="bulktasks"):
        result = task_fail(bulk_task=task, error="boom", owner="old-owner")

    assert (result.status, result.error) == ("inProgress", "")
    assert not [r for r in caplog.records if r.getMessage().startswith("bulk task failed")]


@pytest.mark.django_db(transaction=True)
def test_two_last_chunks_finishing_together_complete_the_task_exactly_once(settings, caplog):
    settings.BULK_TASK_CHUNK_SIZE = 2
    acme = OrganizationFactory(slug="acme")
    task = pending(acme, people_rows(4))
    chunks = scanned(task)
    both_applying = threading.Barrier(2)
    apply = UsersImport.apply

    def apply_together(self, **kwargs):
        # On PostgreSQL both chunks are inside their transactions here at once;
        # SQLite lets one writer in at a time, so the barrier gives up waiting.
        with suppress(threading.BrokenBarrierError):
            both_applying.wait(timeout=2)
        return apply(self, **kwargs)

    errors: list[BaseException] = []

    def run(chunk_id: int) -> None:
        try:
            bulk_task_chunk_process(chunk_id=chunk_id, owner=f"w{chunk_id}", dispatch=False)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with caplog.at_level(logging.INFO, logger="bulktasks"):
        threads = [threading.Thread(target=run, args=(chunk.pk,)) for chunk in chunks]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(UsersImport, "apply", apply_together)
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)

    assert errors == []
    finished = BulkTask.objects.get(pk=task.pk)
    assert (finished.status, finished.num_inserts) == ("completed", 4)
    completions = [r for r in caplog.records if r.getMessage().startswith("bulk task completed")]
    assert len(completions) == 1


def statuses(task: BulkTask) -> list[str]:
    return list(task.chunks.order_by("index").values_list("status", flat=True))


def test_an_organization_has_at_most_its_cap_of_chunks_in_flight_shared_round_robin(
    acme, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.BULK_TASK_CHUNK_SIZE = 2
    settings.BULK_TASK_ORGANIZATION_CONCURRENCY = 2
    sent: list[int] = []
    monkeypatch.setattr(
        "bulktasks.processing.dispatch.chunk_enqueue", lambda chunk_id: sent.append(chunk_id)
    )
    big, small = pending(acme, people_rows(10)), pending(acme, people_rows(2, start=50))
    other = pending(OrganizationFactory(slug="other"), people_rows(2, start=90))

    with django_capture_on_commit_callbacks(execute=True):
        claimed = bulk_task_claim(bulk_task_id=big.pk, owner="w")
        _, kept = bulk_task_scan(bulk_task=claimed, owner="w", action=action_get("users.import"))
    # Two in flight: the first kept by the scan's worker, the second sent.
    assert statuses(big) == ["queued", "queued", "pending", "pending", "pending"]
    assert kept == big.chunks.get(index=0).pk
    assert sent == [big.chunks.get(index=1).pk]

    with django_capture_on_commit_callbacks(execute=True):
        for task in (small, other):
            claimed = bulk_task_claim(bulk_task_id=task.pk, owner="w")
            bulk_task_scan(bulk_task=claimed, owner="w", action=action_get("users.import"))
    # The organization is at its cap: its small task waits; another organization does not.
    assert statuses(small) == ["pending"]
    assert statuses(other) == ["queued"]

    with django_capture_on_commit_callbacks(execute=True):
        bulk_task_chunk_process(chunk_id=kept, owner="w")
    # The place the big file's chunk left goes to the task with fewer chunks in flight.
    assert statuses(small) == ["queued"]
    assert statuses(big) == ["done", "queued", "pending", "pending", "pending"]
    assert sent[-1] == small.chunks.get().pk


def test_the_repeated_hashes_are_exactly_those_seen_more_than_once_across_every_slice():
    rng = random.Random(7)
    unique = [rng.randint(-(2**63), 2**63 - 1) for _ in range(5000)]
    repeats = unique[:300]
    hashes = array("q", unique + repeats + repeats[:10])
    rng.shuffle(hashes)

    assert scan_module._repeated_hashes(hashes) == set(repeats)
