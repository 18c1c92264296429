"""The scan on big and repetitive files: rows written in batches, statement errors not outages."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from bulktasks.actions import action_get
from bulktasks.actions.users_import import UsersImport
from bulktasks.models import BulkTaskLine
from bulktasks.processing import bulk_task_claim, bulk_task_process, bulk_task_scan
from bulktasks.processing import scan as scan_module
from tests.bulktasks.files import people_rows
from tests.bulktasks.pipeline import pending

pytestmark = pytest.mark.django_db


def test_the_repeated_lines_are_written_in_batches(acme, settings, monkeypatch):
    settings.BULK_TASK_CHUNK_SIZE = 4
    monkeypatch.setattr(scan_module, "WRITE_BATCH", 3)
    batches: list[int] = []
    real = BulkTaskLine.objects.bulk_create

    def spy(objs, *args, **kwargs):
        objs = list(objs)
        batches.append(len(objs))
        return real(objs, *args, **kwargs)

    monkeypatch.setattr(BulkTaskLine.objects, "bulk_create", spy)
    task = pending(acme, ["a@example.com,A,1"] * 9)

    done = bulk_task_process(bulk_task_id=task.pk)

    assert done is not None
    assert (done.status, done.num_inserts, done.num_errors) == ("completed", 1, 8)
    # The scan's 8 repeats in batches of at most 3; the chunks then write none.
    assert [size for size in batches if size] == [3, 3, 2]
    assert list(
        BulkTaskLine.objects.filter(task=task).order_by("line").values_list("line", "reason")
    ) == [(line, "email: duplicate of line 2") for line in range(3, 11)]


def test_a_file_repeating_one_line_more_than_one_statement_holds_completes(acme, settings):
    # 4 parameters a report line: past 16,383 rows one INSERT exceeds PostgreSQL's 65,535.
    settings.BULK_TASK_CHUNK_SIZE = 5000
    task = pending(acme, ["a@example.com,A,1"] * 16_400)

    done = bulk_task_process(bulk_task_id=task.pk)

    assert done is not None
    assert (done.status, done.num_items, done.num_inserts, done.num_errors) == (
        "completed",
        16_400,
        1,
        16_399,
    )
    assert BulkTaskLine.objects.filter(task=task).count() == 16_399


class _Refused(Exception):
    """A driver error carrying the SQLSTATE of a statement the server refused."""

    sqlstate = "54000"  # program_limit_exceeded


def test_a_statement_the_database_refuses_fails_the_task_instead_of_retrying_forever(
    acme, monkeypatch
):
    def refused(self, **kwargs):
        error = OperationalError("too many parameters")
        error.__cause__ = _Refused()
        raise error

    monkeypatch.setattr(UsersImport, "apply", refused)
    task = pending(acme, ["a@example.com,A,1"])

    done = bulk_task_process(bulk_task_id=task.pk)

    assert done is not None
    assert done.status == "failed"
    assert "internal error" in done.error


def test_the_second_read_of_the_repeated_lines_renews_the_lease_too(acme, settings, monkeypatch):
    settings.BULK_TASK_LEASE_SECONDS = 0  # renew at every look at the clock
    people = people_rows(12_500)
    task = pending(acme, people + people)  # every line's chunk is read again
    claimed = bulk_task_claim(bulk_task_id=task.pk, owner="worker-a")
    assert claimed is not None
    renewals: list[int] = []
    monkeypatch.setattr(scan_module, "_renew_lease", lambda task, owner: renewals.append(1))

    scanned, _ = bulk_task_scan(
        bulk_task=claimed, owner="worker-a", action=action_get("users.import"), dispatch=False
    )

    assert (scanned.num_items, scanned.num_errors) == (25_000, 12_500)
    # Twice while reading, twice while reading the repeats again, once as it records.
    assert len(renewals) == 5
