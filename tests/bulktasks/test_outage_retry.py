"""An outage retry takes back its own claim at once, even when the release could not be written."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import OperationalError

from bulktasks import tasks
from bulktasks.actions.users_import import UsersImport
from bulktasks.models import BulkTask
from bulktasks.processing import bulk_task_chunk_process, bulk_task_claim
from bulktasks.processing import chunks as chunks_module
from tests.bulktasks.files import people_rows
from tests.bulktasks.pipeline import pending, scanned
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def test_a_retry_reclaims_the_chunk_its_failed_release_left_running_without_an_attempt(
    monkeypatch,
):
    task = pending(OrganizationFactory(slug="acme"), people_rows(2))
    [chunk] = scanned(task)
    real_apply = UsersImport.apply

    def outage(self, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(UsersImport, "apply", outage)
    # The database is still away when the worker tries to release the chunk.
    monkeypatch.setattr(chunks_module, "chunk_release", lambda **kwargs: None)
    with pytest.raises(OperationalError):
        bulk_task_chunk_process(chunk_id=chunk.pk, owner="host-a/message-1/0", dispatch=False)
    chunk.refresh_from_db()
    assert (chunk.status, chunk.attempts) == ("running", 1)
    monkeypatch.setattr(UsersImport, "apply", real_apply)

    # Another message finds it held by a live lease.
    assert bulk_task_chunk_process(chunk_id=chunk.pk, owner="host-b/message-2/0") is None
    done = bulk_task_chunk_process(
        chunk_id=chunk.pk, owner="host-b/message-1/1", retry_of="/message-1/0", dispatch=False
    )

    assert done is not None
    assert (done.status, done.attempts, done.lease_owner) == ("done", 1, "host-b/message-1/1")
    assert BulkTask.objects.get(pk=task.pk).status == "completed"


def test_the_owner_names_the_message_and_its_try_so_a_retry_knows_its_previous_one():
    first = SimpleNamespace(request=SimpleNamespace(hostname="w1@box", id="m-1", retries=0))
    again = SimpleNamespace(request=SimpleNamespace(hostname="w2@box", id="m-1", retries=1))

    assert tasks._retry_of(first) == ""
    assert tasks._owner(first) == "w1@box/m-1/0"
    assert tasks._owner(first).endswith(tasks._retry_of(again))
    assert tasks._owner(again) == "w2@box/m-1/1"


def test_a_retry_reclaims_the_scan_its_failed_release_left_held_without_an_attempt():
    task = pending(OrganizationFactory(slug="acme"), people_rows(2))
    assert bulk_task_claim(bulk_task_id=task.pk, owner="host-a/message-1/0") is not None

    assert bulk_task_claim(bulk_task_id=task.pk, owner="host-b/message-2/0") is None
    again = bulk_task_claim(
        bulk_task_id=task.pk, owner="host-b/message-1/1", retry_of="/message-1/0"
    )

    assert again is not None
    assert (again.attempts, again.lease_owner) == (1, "host-b/message-1/1")
