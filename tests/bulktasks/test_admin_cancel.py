"""Cancel in the admin: the list's bulk action and the task page's button; retry leaves it alone."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from bulktasks.models import BulkTask
from bulktasks.services import bulk_task_cancel
from tests.bulktasks.files import people_rows
from tests.bulktasks.pipeline import pending
from tests.factories import BulkTaskFactory, UserFactory
from users.models import Organization, User

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:bulktasks_bulktask_changelist")


def change_url(task: BulkTask) -> str:
    return reverse("admin:bulktasks_bulktask_change", args=[task.pk])


def cancel_url(task: BulkTask) -> str:
    return reverse("admin:bulktasks_bulktask_cancel", args=[task.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_list_action_cancels_pending_and_running_tasks_and_leaves_finished_ones(
    staff_client: Client, staff: User, acme: Organization
) -> None:
    waiting = pending(acme, people_rows(2))
    running = BulkTaskFactory(organization=acme, status=BulkTask.Status.IN_PROGRESS)
    completed = BulkTaskFactory(organization=acme, status=BulkTask.Status.COMPLETED)

    response = staff_client.post(
        CHANGELIST_URL,
        {"action": "cancel_running", "_selected_action": [waiting.pk, running.pk, completed.pk]},
        follow=True,
    )

    assert response.status_code == 200
    for task in (waiting, running, completed):
        task.refresh_from_db()
    assert (waiting.status, waiting.error) == ("failed", f"Cancelled by {staff.email}")
    assert (running.status, running.cancelled_by) == ("failed", staff)
    assert (completed.status, completed.cancelled_at) == ("completed", None)
    assert messages_of(response) == [
        "2 task(s) cancelled.",
        "1 task(s) had already finished; left alone.",
    ]


@pytest.mark.parametrize(
    ("action", "status", "done"),
    [
        ("cancel_running", BulkTask.Status.PENDING, "2 task(s) cancelled."),
        ("retry_failed", BulkTask.Status.FAILED, "2 task(s) sent back to the queue."),
    ],
)
def test_an_action_on_a_list_filtered_by_status_reports_what_it_did_and_nothing_more(
    staff_client: Client, acme: Organization, action: str, status: str, done: str
) -> None:
    # The dashboard links to the list filtered by status; the tasks acted on leave that filter.
    tasks = [pending(acme, people_rows(2)) for _ in range(2)]
    BulkTask.objects.filter(pk__in=[task.pk for task in tasks]).update(status=status)

    response = staff_client.post(
        f"{CHANGELIST_URL}?status__exact={status}",
        {"action": action, "_selected_action": [task.pk for task in tasks]},
        follow=True,
    )

    assert messages_of(response) == [done]


def test_the_status_filter_lists_a_cancelled_task_as_failed(
    staff_client: Client, acme: Organization
) -> None:
    cancelled = pending(acme)
    still_pending = pending(acme)
    bulk_task_cancel(bulk_task=cancelled, cancelled_by=UserFactory())

    failed = staff_client.get(CHANGELIST_URL, {"status__exact": "failed"})
    waiting = staff_client.get(CHANGELIST_URL, {"status__exact": "pending"})

    assert {task.pk for task in failed.context["cl"].result_list} == {cancelled.pk}
    assert {task.pk for task in waiting.context["cl"].result_list} == {still_pending.pk}


def test_the_task_page_offers_cancel_only_while_the_task_runs(
    staff_client: Client, acme: Organization
) -> None:
    running = pending(acme)
    completed = BulkTaskFactory(organization=acme, status=BulkTask.Status.COMPLETED)

    assert cancel_url(running) in staff_client.get(change_url(running)).content.decode()
    assert cancel_url(completed) not in staff_client.get(change_url(completed)).content.decode()


def test_the_task_page_cancel_asks_first_then_cancels_on_post(
    staff_client: Client, staff: User, acme: Organization
) -> None:
    task = pending(acme)

    confirmation = staff_client.get(cancel_url(task))
    task.refresh_from_db()
    assert confirmation.status_code == 200
    assert 'id="bulk-task-cancel"' in confirmation.content.decode()
    assert task.status == "pending"

    response = staff_client.post(cancel_url(task), follow=True)

    assert response.redirect_chain[-1][0] == change_url(task)
    task.refresh_from_db()
    assert (task.status, task.error) == ("failed", f"Cancelled by {staff.email}")
    assert messages_of(response) == [f"Task {task.pk} cancelled."]
    assert cancel_url(task) not in response.content.decode()


def test_cancelling_a_finished_task_from_its_page_says_why_and_changes_nothing(
    staff_client: Client, acme: Organization
) -> None:
    task = BulkTaskFactory(organization=acme, status=BulkTask.Status.COMPLETED)

    response = staff_client.post(cancel_url(task), follow=True)

    task.refresh_from_db()
    assert task.status == "completed"
    assert messages_of(response) == [
        "The task is already completed; only a pending or inProgress task can be cancelled"
    ]


def test_staff_without_the_change_permission_cannot_cancel(
    client: Client, acme: Organization
) -> None:
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_bulktask"))
    client.force_login(viewer)
    task = pending(acme)

    page = client.get(change_url(task))
    confirmation = client.get(cancel_url(task))
    posted = client.post(cancel_url(task))
    changelist = client.get(CHANGELIST_URL)
    action = client.post(
        CHANGELIST_URL, {"action": "cancel_running", "_selected_action": [task.pk]}
    )

    assert page.status_code == 200
    assert cancel_url(task) not in page.content.decode()
    assert (confirmation.status_code, posted.status_code) == (403, 403)
    assert 'value="cancel_running"' not in changelist.content.decode()
    assert action.status_code in (200, 302)
    task.refresh_from_db()
    assert task.status == "pending"


def test_the_retry_action_leaves_a_cancelled_task_cancelled(
    staff_client: Client, acme: Organization
) -> None:
    task = pending(acme)
    bulk_task_cancel(bulk_task=task, cancelled_by=UserFactory(email="ops@example.com"))

    response = staff_client.post(
        CHANGELIST_URL, {"action": "retry_failed", "_selected_action": [task.pk]}, follow=True
    )

    task.refresh_from_db()
    assert (task.status, task.error) == ("failed", "Cancelled by ops@example.com")
    assert messages_of(response) == [
        "0 task(s) sent back to the queue.",
        "1 task(s) were cancelled; a cancelled task is not run again.",
    ]
