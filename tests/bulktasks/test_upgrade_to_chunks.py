"""A task in progress when chunks arrived (migration 0006) finishes, each line counted once."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from bulktasks.models import BulkTask, BulkTaskLine
from bulktasks.processing import bulk_task_process, bulk_task_sweep
from tests.bulktasks.pipeline import pending
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

BEFORE = ("bulktasks", "0005_bulktask_download_permission_and_audit")
AFTER = ("bulktasks", "0006_bulktaskchunk")


def _latest() -> tuple[str, str]:
    """The app's newest migration: the code that processes the task needs every column."""
    (leaf,) = MigrationExecutor(connection).loader.graph.leaf_nodes("bulktasks")
    return leaf


def _migrate(target: tuple[str, str]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    return MigrationExecutor(connection)


def _latest() -> tuple[str, str]:
    """The app's newest migration: the code under test runs on the schema after every one."""
    (leaf,) = MigrationExecutor(connection).loader.graph.leaf_nodes("bulktasks")
    return leaf


@pytest.mark.django_db(transaction=True)
def test_a_task_halfway_through_at_the_upgrade_completes_without_counting_a_line_twice():
    acme = OrganizationFactory(slug="acme")
    rows = [
        "a@example.com,A,1",
        "b@example.com,B,2",
        "c@example.com,C,3",  # applied line by line before the upgrade, up to here
        "d@example.com,D,4",
        "e@example.com,E,5",
        "a@example.com,A,6",  # repeats line 2, which was applied before
    ]
    task = pending(acme, rows)
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        MembershipFactory(user=UserFactory(email=email), organization=acme)
    try:
        old = _migrate(BEFORE).loader.project_state([BEFORE]).apps
        old.get_model("bulktasks", "BulkTask").objects.filter(pk=task.pk).update(
            status="inProgress",
            scanned_at=timezone.now(),
            checkpoint_line=4,
            num_items=6,
            num_inserts=3,
        )
        _migrate(AFTER)
        _migrate(_latest())
        done = bulk_task_process(bulk_task_id=task.pk)
    finally:
        _migrate(_latest())

    assert done is not None
    assert (done.status, done.num_items, done.num_inserts, done.num_skips, done.num_errors) == (
        "completed",
        6,
        5,
        0,
        1,
    )
    assert list(BulkTaskLine.objects.filter(task=task).values_list("line", "reason")) == [
        (7, "email: duplicate of line 2")
    ]
    assert set(done.chunks.values_list("status", flat=True)) == {"done"}
    assert BulkTask.objects.get(pk=task.pk).resume_after_line == 4


@pytest.mark.django_db
def test_a_task_marked_scanned_without_chunks_is_scanned_again_by_the_sweeper():
    acme = OrganizationFactory(slug="acme")
    task = pending(acme, ["a@example.com,A,1", "b@example.com,B,2"])
    long_ago = timezone.now() - timedelta(hours=1)
    BulkTask.objects.filter(pk=task.pk).update(
        status="inProgress", scanned_at=long_ago, updated_at=long_ago
    )

    with mock.patch("bulktasks.processing.sweep.bulk_task_enqueue") as enqueue:
        assert bulk_task_sweep() == [task.pk]
    enqueue.assert_called_once_with(bulk_task_id=task.pk)
    done = bulk_task_process(bulk_task_id=task.pk)

    assert done is not None
    assert (done.status, done.num_inserts) == ("completed", 2)


@pytest.mark.django_db
def test_a_task_scanned_without_chunks_is_left_alone_while_a_worker_holds_its_lease():
    # A worker still holding the lease may be the one about to write chunks (or an
    # old line-by-line worker during the upgrade): scanning again under it would
    # apply lines twice.
    acme = OrganizationFactory(slug="acme")
    task = pending(acme, ["a@example.com,A,1"])
    long_ago = timezone.now() - timedelta(hours=1)
    BulkTask.objects.filter(pk=task.pk).update(
        status="inProgress",
        scanned_at=long_ago,
        updated_at=long_ago,
        lease_owner="worker-1",
        lease_expires_at=timezone.now() + timedelta(minutes=1),
    )

    with mock.patch("bulktasks.processing.sweep.bulk_task_enqueue"):
        bulk_task_sweep()

    task.refresh_from_db()
    assert task.scanned_at is not None
    assert task.lease_owner == "worker-1"
