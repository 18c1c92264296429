"""A chunk commits only into a task still running; the retry takes locks in the chunks' order."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bulktasks.actions.users_import import UsersImport
from bulktasks.models import BulkTask, BulkTaskChunk, BulkTaskLine
from bulktasks.processing import (
    bulk_task_chunk_process,
    bulk_task_process,
)
from bulktasks.processing import chunks as chunks_module
from bulktasks.processing.finish import task_fail
from bulktasks.services import bulk_task_retry
from bulktasks.tasks import process_bulk_task_chunk
from tests.bulktasks.files import people_rows
from tests.bulktasks.pipeline import pending, scanned
from users.models import User

pytestmark = pytest.mark.django_db


def test_a_task_failed_while_its_chunk_was_read_gets_nothing_of_that_chunk(
    acme, settings, monkeypatch
):
    settings.BULK_TASK_CHUNK_SIZE = 2
    task = pending(acme, [*people_rows(2), "a@example.com,A,9", "x,X,1"])
    first, second = scanned(task)
    assert bulk_task_chunk_process(chunk_id=first.pk, owner="w", dispatch=False) is not None
    before = BulkTask.objects.get(pk=task.pk)
    real_read = chunks_module._read

    def read_then_fail(bulk_task, action, chunk):
        records = real_read(bulk_task, action, chunk)
        task_fail(bulk_task=BulkTask.objects.get(pk=task.pk), error="staff stopped it")
        return records

    monkeypatch.setattr(chunks_module, "_read", read_then_fail)

    assert bulk_task_chunk_process(chunk_id=second.pk, owner="w", dispatch=False) is None

    after = BulkTask.objects.get(pk=task.pk)
    assert after.status == "failed"
    counters = ("num_inserts", "num_updates", "num_skips", "num_errors")
    assert [getattr(after, name) for name in counters] == [
        getattr(before, name) for name in counters
    ]
    assert User.objects.count() == 2
    assert not BulkTaskLine.objects.filter(task=task, line__gte=second.first_line).exists()
    second.refresh_from_db()
    assert (second.status, second.lease_owner) == ("pending", "")

    monkeypatch.setattr(chunks_module, "_read", real_read)
    retried = bulk_task_retry(bulk_task=after)
    assert retried.status == "pending"
    done = bulk_task_process(bulk_task_id=task.pk)

    assert done is not None
    assert (done.status, done.num_inserts, done.num_errors) == ("completed", 3, 1)


def test_a_worker_message_for_a_chunk_not_dispatched_does_not_start_it(acme, settings):
    settings.BULK_TASK_CHUNK_SIZE = 2
    first, _second = scanned(pending(acme, people_rows(4)))
    BulkTask.objects.filter(pk=first.task_id).update(status="inProgress")

    process_bulk_task_chunk.apply(args=[first.pk])

    first.refresh_from_db()
    assert (first.status, first.attempts) == ("pending", 0)
    BulkTaskChunk.objects.filter(pk=first.pk).update(status="queued")
    process_bulk_task_chunk.apply(args=[first.pk])
    first.refresh_from_db()
    assert first.status == "done"


def test_a_chunk_that_fails_its_task_gives_its_place_to_another_task(acme, settings, monkeypatch):
    settings.BULK_TASK_CHUNK_SIZE = 2
    settings.BULK_TASK_ORGANIZATION_CONCURRENCY = 1
    broken = pending(acme, people_rows(2))
    [chunk] = scanned(broken)
    other = pending(acme, people_rows(2, start=10))
    [waiting] = scanned(other)
    BulkTask.objects.filter(pk__in=[broken.pk, other.pk]).update(status="inProgress")
    BulkTaskChunk.objects.filter(pk=chunk.pk).update(status="queued")

    def crash(self, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(UsersImport, "apply", crash)
    with mock.patch("bulktasks.processing.dispatch.chunk_enqueue"):
        assert bulk_task_chunk_process(chunk_id=chunk.pk, owner="w", allow_pending=False) is None

    assert BulkTask.objects.get(pk=broken.pk).status == "failed"
    chunk.refresh_from_db()
    waiting.refresh_from_db()
    assert (chunk.status, chunk.lease_expires_at) == ("pending", None)
    assert waiting.status == "queued"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's")
def test_the_transaction_completing_a_task_waits_for_its_commit_to_be_on_disk(acme, settings):
    settings.BULK_TASK_CHUNK_SIZE = 2
    first, last = scanned(pending(acme, people_rows(4)))
    BulkTask.objects.filter(pk=first.task_id).update(status="inProgress")
    with CaptureQueriesContext(connection) as before_last:
        bulk_task_chunk_process(chunk_id=first.pk, owner="w", dispatch=False)
    with CaptureQueriesContext(connection) as completing:
        bulk_task_chunk_process(chunk_id=last.pk, owner="w", dispatch=False)

    def settings_of(captured) -> list[str]:
        return [q["sql"] for q in captured.captured_queries if "synchronous_commit" in q["sql"]]

    assert settings_of(before_last) == ["SET LOCAL synchronous_commit TO OFF"]
    assert settings_of(completing) == [
        "SET LOCAL synchronous_commit TO OFF",
        "SET LOCAL synchronous_commit TO ON",
    ]
    assert BulkTask.objects.get(pk=first.task_id).status == "completed"
