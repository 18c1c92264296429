"""The Celery app carries the upload's request id to the task, and stamps task log lines."""

from __future__ import annotations

import pytest
from celery.signals import before_task_publish

from bulktasks.services import bulk_task_create
from bulktasks.tasks import process_bulk_task
from config.celery import app as celery_app
from core.logging import request_id_var, task_id_var
from tests.bulktasks.files import csv_file, people_rows
from tests.factories import OrganizationFactory


def test_a_task_sent_while_serving_a_request_carries_its_request_id():
    sent: list[dict] = []

    def capture(headers: dict | None = None, **kwargs: object) -> None:
        sent.append(dict(headers or {}))

    before_task_publish.connect(capture, weak=False)
    token = request_id_var.set("upload-rid-1")
    try:
        process_bulk_task.delay("65a000000000000000000000")
    finally:
        request_id_var.reset(token)
        before_task_publish.disconnect(capture)
        celery_app.control.purge()

    assert sent
    assert sent[0]["request_id"] == "upload-rid-1"


def test_a_task_sent_outside_a_request_carries_no_request_id():
    sent: list[dict] = []

    def capture(headers: dict | None = None, **kwargs: object) -> None:
        sent.append(dict(headers or {}))

    before_task_publish.connect(capture, weak=False)
    try:
        process_bulk_task.delay("65a000000000000000000000")
    finally:
        before_task_publish.disconnect(capture)
        celery_app.control.purge()

    assert sent
    assert "request_id" not in sent[0]


@pytest.mark.django_db
def test_task_log_lines_name_the_task_the_request_and_the_counts(json_logs):
    organization = OrganizationFactory()
    task, _ = bulk_task_create(
        organization=organization,
        created_by=None,
        action="users.import",
        file=csv_file([*people_rows(2), "not-an-email,Bad,Line"]),
        original_name="people.csv",
        enqueue=False,
    )

    process_bulk_task.apply(
        args=(task.pk,), task_id="celery-task-7", headers={"request_id": "upload-rid-2"}
    )

    lines = [line for line in json_logs() if line["logger"] == "bulktasks.services"]
    started = next(line for line in lines if line["message"].startswith("bulk task started"))
    completed = next(line for line in lines if line["message"].startswith("bulk task completed"))
    for line in (started, completed):
        assert line["task_id"] == "celery-task-7"
        assert line["request_id"] == "upload-rid-2"
        assert line["bulk_task_id"] == task.pk
        assert line["organization_id"] == organization.pk
        assert line["action"] == "users.import"
    assert (started["inserted"], started["errored"], started["attempt"]) == (0, 0, 1)
    counts = ("items", "inserted", "updated", "skipped", "errored")
    assert [completed[key] for key in counts] == [3, 2, 0, 0, 1]
    assert completed["message"] == (
        "bulk task completed: 3 items, 2 inserted, 0 updated, 0 skipped, 1 errored"
    )
    # The task's context is gone once it has run.
    assert (request_id_var.get(), task_id_var.get()) == (None, None)
