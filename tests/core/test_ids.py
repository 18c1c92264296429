"""Application-generated ObjectIds: 24 hex characters, unique, ordered by time."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from bulktasks.models import BulkTask, BulkTaskLine
from core.ids import is_object_id, object_id, object_ids
from tests.factories import BulkTaskFactory


def test_an_id_is_24_lowercase_hex_characters():
    value = object_id()

    assert is_object_id(value)
    assert value == value.lower()
    assert len(value) == 24


def test_the_first_four_bytes_are_the_creation_time():
    before = int(time.time())

    value = object_id()

    assert before <= int(value[:8], 16) <= int(time.time())


def test_ids_are_unique_and_time_ordered_within_a_process():
    values = [object_id() for _ in range(10_000)]

    assert len(set(values)) == len(values)
    timestamps = [value[:8] for value in values]
    assert timestamps == sorted(timestamps)


def test_ids_minted_in_a_batch_are_unique_valid_and_never_met_again():
    before = object_id()
    batch = object_ids(5_000)
    after = object_id()

    assert len(batch) == 5_000
    assert all(is_object_id(value) for value in batch)
    assert len({before, *batch, after}) == 5_002
    assert before[:18] == batch[0][:18] or before[:8] < batch[0][:8]


def _mint(count: int) -> list[str]:
    return [object_id() for _ in range(count)]


def test_forked_processes_do_not_mint_the_same_ids():
    object_id()  # the parent's random part exists before the fork
    with multiprocessing.get_context("fork").Pool(2) as pool:
        batches = pool.map(_mint, [2_000, 2_000])

    everything = batches[0] + batches[1]
    assert len(set(everything)) == len(everything)


def test_is_object_id_refuses_other_shapes():
    assert not is_object_id("a" * 23)
    assert not is_object_id("g" * 24)
    assert not is_object_id(None)
    assert is_object_id("ABCDEF0123456789abcdef01")


@pytest.mark.django_db
def test_bulk_created_rows_keep_their_whole_ids():
    """PostgreSQL's bulk insert casts to the column type: the ids must survive the cast."""
    tasks = BulkTask.objects.bulk_create(
        BulkTask(id=object_id(), organization=task.organization, action="users.import")
        for task in [BulkTaskFactory()] * 2
    )
    BulkTaskLine.objects.bulk_create(
        BulkTaskLine(task=task, kind=BulkTaskLine.Kind.ERRORED, line=line, reason="bad")
        for task in tasks
        for line in (2, 3)
    )

    stored = BulkTaskLine.objects.filter(task__in=tasks).values_list("task_id", flat=True)
    assert sorted(stored) == sorted([task.id for task in tasks] * 2)
