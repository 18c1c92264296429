"""Every way a task ends records its webhook event exactly once, through the one hook in finish.py."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from bulktasks.models import BulkTask
from bulktasks.processing import bulk_task_chunk_process, bulk_task_process
from bulktasks.processing.finish import task_complete
from bulktasks.services import bulk_task_retry
from bulktasks.storage import bulk_task_storage
from tests.bulktasks.files import people_rows, raw_file
from tests.bulktasks.pipeline import pending, scanned
from tests.factories import WebhookEndpointFactory
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscribed(organization):
    return WebhookEndpointFactory(organization=organization)


def events_of(task: BulkTask) -> list[dict]:
    return [
        json.loads(body)
        for body in WebhookEvent.objects.filter(bulk_task_id=task.pk)
        .order_by("id")
        .values_list("body", flat=True)
    ]


def test_a_task_completed_by_its_last_chunk(organization, subscribed):
    task = pending(organization, people_rows(3))

    bulk_task_process(bulk_task_id=task.pk)
    bulk_task_process(bulk_task_id=task.pk)  # a duplicate message: nothing more

    [event] = events_of(task)
    assert event["type"] == "bulkTask.completed"
    assert event["data"]["report"] == {
        "numItems": 3,
        "numInserts": 3,
        "numUpdates": 0,
        "numSkips": 0,
        "numErrors": 0,
    }


def test_a_task_with_nothing_left_to_apply_completed_by_its_scan(organization, subscribed):
    """Lines applied before chunks existed (an upgrade): the scan itself completes the task."""
    task = pending(organization, people_rows(2))
    BulkTask.objects.filter(pk=task.pk).update(resume_after_line=3)

    with mock.patch("bulktasks.processing.scan.task_complete", wraps=task_complete) as by_scan:
        bulk_task_process(bulk_task_id=task.pk)

    assert by_scan.called

    assert [event["type"] for event in events_of(task)] == ["bulkTask.completed"]


def test_a_file_found_malformed_by_the_scan(organization, subscribed):
    task = pending(organization, upload=raw_file(b"mail\nx@example.com\n"))

    bulk_task_process(bulk_task_id=task.pk)

    [event] = events_of(task)
    assert event["type"] == "bulkTask.failed"
    assert "email" in event["data"]["error"]


def test_a_file_gone_before_the_scan(organization, subscribed):
    task = pending(organization, people_rows(2))
    bulk_task_storage().delete(task.file_key)

    bulk_task_process(bulk_task_id=task.pk)

    [event] = events_of(task)
    assert event["data"]["error"] == "the uploaded file is no longer stored"


def test_a_file_gone_before_a_chunk(organization, subscribed):
    task = pending(organization, people_rows(2))
    [chunk] = scanned(task)
    bulk_task_storage().delete(task.file_key)

    bulk_task_chunk_process(chunk_id=chunk.pk, owner="worker")

    [event] = events_of(task)
    assert (event["type"], event["data"]["error"]) == (
        "bulkTask.failed",
        "the uploaded file is no longer stored",
    )


def test_a_task_out_of_attempts(organization, subscribed, settings):
    task = pending(organization, people_rows(2))
    BulkTask.objects.filter(pk=task.pk).update(attempts=settings.BULK_TASK_MAX_ATTEMPTS + 1)

    bulk_task_process(bulk_task_id=task.pk)

    [event] = events_of(task)
    assert event["data"]["error"].startswith("processing gave up after")


def test_a_failed_task_retried_by_staff_sends_a_new_event_when_it_ends_again(
    organization, subscribed
):
    task = pending(organization, upload=raw_file(b"mail\nx@example.com\n"))
    bulk_task_process(bulk_task_id=task.pk)
    bulk_task_retry(bulk_task=task)
    BulkTask.objects.filter(pk=task.pk).update(status=BulkTask.Status.IN_PROGRESS)

    bulk_task_process(bulk_task_id=task.pk)

    assert [event["type"] for event in events_of(task)] == ["bulkTask.failed", "bulkTask.failed"]
    assert WebhookEvent.objects.filter(bulk_task_id=task.pk).values("id").distinct().count() == 2


def test_a_cancelled_task_sends_a_failed_event_once(organization, subscribed):
    from bulktasks.services import bulk_task_cancel
    from tests.factories import UserFactory

    task = pending(organization, people_rows(2))
    canceller = UserFactory(email="ops@example.com")

    bulk_task_cancel(bulk_task=task, cancelled_by=canceller)
    bulk_task_cancel(bulk_task=task, cancelled_by=canceller)  # a repeat: nothing more

    [event] = events_of(task)
    assert event["type"] == "bulkTask.failed"
    assert event["data"]["error"] == "Cancelled by ops@example.com"
