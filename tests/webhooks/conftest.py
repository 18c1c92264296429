"""Fixtures for the webhook tests: a member who manages webhooks, and tasks that end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from bulktasks.models import BulkTask
from bulktasks.processing.finish import task_complete, task_fail
from tests.conftest import bearer
from tests.factories import BulkTaskFactory
from users import catalog
from users.models import Organization, User
from webhooks.models import WebhookDelivery


@pytest.fixture
def manager(organization: Organization, make_member: Callable[..., User]) -> User:
    """A member who may manage the organization's webhooks."""
    return make_member(organization, [catalog.WEBHOOKS_MANAGE])


@pytest.fixture
def manager_client(api_client, manager: User):
    api_client.credentials(HTTP_AUTHORIZATION=bearer(manager))
    return api_client


@pytest.fixture
def finish_task(django_capture_on_commit_callbacks) -> Callable[..., list[WebhookDelivery]]:
    """End a running task of the organization as the pipeline does; the deliveries it recorded.

    The after-commit messages are captured, not sent: the test makes each attempt itself.
    """

    def finish(organization: Organization, status: str = "completed") -> list[WebhookDelivery]:
        task = BulkTaskFactory(organization=organization, status=BulkTask.Status.IN_PROGRESS)
        with django_capture_on_commit_callbacks(execute=False):
            if status == "completed":
                assert task_complete(bulk_task=task)
            else:
                task_fail(bulk_task=task, error="header row is missing column email")
        return list(WebhookDelivery.objects.filter(event__bulk_task_id=task.pk))

    return finish


class Clock:
    """``timezone.now`` moved by hand: retries are tested by travelling, not by sleeping."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> datetime:
        return self.now

    def travel(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    travelling = Clock()
    with mock.patch("django.utils.timezone.now", travelling):
        yield travelling


def record_event_without_message(organization: Organization) -> WebhookDelivery:
    """End a task of the organization, committing its delivery but dropping the after-commit message."""
    task = BulkTaskFactory(organization=organization, status=BulkTask.Status.IN_PROGRESS)
    with mock.patch("webhooks.delivery.webhook_delivery_enqueue"):
        assert task_complete(bulk_task=task)
    return WebhookDelivery.objects.get(event__bulk_task_id=task.pk)
