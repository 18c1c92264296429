"""Two imports that create the same person at once: the loser's chunk is applied again.

The chunk that collides on the unique e-mail is rolled back whole and applied
again; the report then says exactly what the second try did, once per line.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from bulktasks.models import BulkTask, BulkTaskLine
from bulktasks.processing import bulk_task_process
from tests.bulktasks.files import people_rows
from tests.bulktasks.pipeline import pending, report
from tests.factories import OrganizationFactory
from users.models import Membership, User

ROWS = people_rows(3)  # person1..3@example.com, lines 2..4
RACED = "person2@example.com"


@pytest.mark.django_db
def test_a_person_created_between_lookup_and_insert_makes_the_chunk_apply_again(
    between_lookup_and_insert,
):
    organization = OrganizationFactory()
    task = pending(organization, ROWS)
    # The conflicting account appears on the same connection, inside the chunk's
    # transaction: the insert collides, the rollback takes both away, and the
    # second try creates the person once.
    lookups = between_lookup_and_insert(lambda: User.objects.create(email=RACED))

    finished = bulk_task_process(bulk_task_id=task.pk)

    assert finished is not None
    assert finished.status == BulkTask.Status.COMPLETED, finished.error
    assert lookups == [0, 0]
    assert report(finished) == ((3, 3, 0, 0, 0), [])
    assert User.objects.filter(email__endswith="@example.com").count() == 3
    assert Membership.objects.filter(organization=organization).count() == 3


def _import_in_another_thread(task: BulkTask) -> None:
    """Process a task to its end on a connection of its own, committed before this returns."""
    failures: list[BaseException] = []

    def work() -> None:
        try:
            bulk_task_process(bulk_task_id=task.pk)
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert not failures, failures


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite lets one writer in at a time: a chunk holds it from its first write, "
    "before its lookup, so two imports cannot race there",
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("same_organization", [False, True], ids=["other-org", "same-org"])
def test_two_imports_creating_the_same_people_at_once_both_end_exact(
    between_lookup_and_insert, same_organization
):
    first_organization = OrganizationFactory()
    second_organization = first_organization if same_organization else OrganizationFactory()
    first, second = pending(first_organization, ROWS), pending(second_organization, ROWS)
    # The second import runs whole, on its own connection, while the first sits
    # between its lookup (nobody known) and its inserts: the first collides on
    # three e-mails the second has just committed.
    lookups = between_lookup_and_insert(lambda: _import_in_another_thread(second))

    finished = bulk_task_process(bulk_task_id=first.pk)

    assert finished is not None
    assert finished.status == BulkTask.Status.COMPLETED, finished.error
    assert lookups == [0, 3]
    assert report(second) == ((3, 3, 0, 0, 0), [])
    skipped = BulkTaskLine.Kind.SKIPPED
    expected = (
        ((3, 0, 0, 3, 0), [(skipped, line, "already a member") for line in (2, 3, 4)])
        if same_organization
        else ((3, 3, 0, 0, 0), [])
    )
    assert report(finished) == expected
    assert User.objects.filter(email__endswith="@example.com").count() == 3
    organizations = {first_organization.pk, second_organization.pk}
    for organization_id in organizations:
        assert Membership.objects.filter(organization_id=organization_id).count() == 3
