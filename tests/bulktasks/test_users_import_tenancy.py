"""users.import tells an organization nothing about other tenants or staff.

The same file gives the same report whether its people are unknown, members of
another organization, or staff; the profile a line carries lands on the
organization's membership, never on the shared account; and a staff account
named in a file never gets into the organization without a superuser.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bulktasks.models import BulkTask, BulkTaskLine
from bulktasks.processing import bulk_task_process
from tests.bulktasks.files import csv_file
from tests.bulktasks.pipeline import Report, pending, report
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from users.models import Membership, Organization, User
from users.selectors import organization_access_get
from users.services import membership_deactivate

pytestmark = pytest.mark.django_db

HEADER = "email,firstName,lastName,picture"
# Two imports into the same organization, so that the second meets members:
# - ann is given the same profile twice ("no changes" / "already a member");
# - bob is renamed ("updated" with override);
# - cy is new in the second file; line 4 of each is not an e-mail.
FIRST = [
    "ann@example.com,Ann,Lee,https://img.example.com/ann.png",
    "bob@example.com,Bob,Ray,",
    "not-an-email,X,Y,",
]
SECOND = [
    "ann@example.com,Ann,Lee,https://img.example.com/ann.png",
    "bob@example.com,Robert,Ray,https://img.example.com/bob.png",
    "not-an-email,X,Y,",
    "cy@example.com,Cy,,",
]
PEOPLE = ("ann@example.com", "bob@example.com", "cy@example.com")


def imported(organization: Organization, rows: list[str], *, override: bool) -> Report:
    """Import the rows into the organization; its report: counters, then every line."""
    task = pending(organization, upload=csv_file(rows, header=HEADER), override=override)
    finished = bulk_task_process(bulk_task_id=task.pk)
    assert finished is not None
    assert finished.status == BulkTask.Status.COMPLETED, finished.error
    return report(finished)


def reports(*, override: bool) -> list[Report]:
    """The reports of both imports, into a fresh organization."""
    organization = OrganizationFactory()
    return [
        imported(organization, FIRST, override=override),
        imported(organization, SECOND, override=override),
    ]


def members_elsewhere() -> None:
    """Every person of the files is already an active member of another organization."""
    other = OrganizationFactory()
    for email in PEOPLE:
        MembershipFactory(
            organization=other, user=UserFactory(email=email), first_name="Their", last_name="Own"
        )


def staff_accounts(flag: str) -> Callable[[], None]:
    def arrange() -> None:
        for email in PEOPLE:
            UserFactory(email=email, **{flag: True})

    return arrange


def accounts_without_membership() -> None:
    for email in PEOPLE:
        UserFactory(email=email)


@pytest.mark.parametrize("override", [False, True], ids=["plain", "override"])
@pytest.mark.parametrize(
    "arrange",
    [
        members_elsewhere,
        accounts_without_membership,
        staff_accounts("is_staff"),
        staff_accounts("is_superuser"),
    ],
    ids=["members-elsewhere", "accounts", "staff", "superusers"],
)
def test_an_organization_gets_the_same_report_whoever_else_knows_its_people(arrange, override):
    unknown = reports(override=override)
    # Nothing a fresh organization could see changed between the two runs: the
    # same people, now already known elsewhere.
    Membership.objects.all().delete()
    User.objects.filter(email__in=PEOPLE).delete()
    arrange()

    known = reports(override=override)

    assert known == unknown
    # And the report is the one the table in docs/actions.md promises.
    second_counters, second_lines = unknown[1]
    assert second_counters == (4, 1, 1, 1, 1) if override else (4, 1, 0, 2, 1)
    skipped = BulkTaskLine.Kind.SKIPPED
    expected = (
        [(skipped, 2, "no changes")]
        if override
        else [(skipped, 2, "already a member"), (skipped, 3, "already a member")]
    )
    assert [line for line in second_lines if line[0] == skipped] == expected


def test_override_changes_the_organizations_profile_and_leaves_the_account_alone():
    MembershipFactory(
        user=UserFactory(email="bob@example.com", first_name="Bobby", last_name="Own"),
        first_name="There",
    )
    organization = OrganizationFactory()

    imported(organization, FIRST, override=True)
    imported(organization, SECOND, override=True)

    here = Membership.objects.get(organization=organization, user__email="bob@example.com")
    assert (here.first_name, here.last_name, here.picture) == (
        "Robert",
        "Ray",
        "https://img.example.com/bob.png",
    )
    account = User.objects.get(email="bob@example.com")
    assert (account.first_name, account.last_name) == ("Bobby", "Own")
    elsewhere = Membership.objects.exclude(organization=organization).get(user=account)
    assert elsewhere.first_name == "There"


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
def test_an_import_never_lets_a_staff_account_into_the_organization(flag):
    staff = UserFactory(email="ann@example.com", **{flag: True})
    organization = OrganizationFactory()

    imported(organization, FIRST, override=True)
    imported(organization, SECOND, override=True)

    membership = Membership.objects.get(organization=organization, user=staff)
    assert (membership.is_active, membership.pending_approval) == (False, True)
    assert membership.first_name == "Ann"
    caller = organization_access_get(user_id=staff.pk, organization_id_or_slug=organization.slug)
    assert caller.user == staff
    assert caller.access is None
    # The ordinary account in the same file did get in.
    bob = User.objects.get(email="bob@example.com")
    access = organization_access_get(user_id=bob.pk, organization_id_or_slug=organization.slug)
    assert access.access is not None


def test_a_pending_membership_deactivated_by_staff_is_reported_as_deactivated():
    staff = UserFactory(email="ann@example.com", is_staff=True)
    organization = OrganizationFactory()
    imported(organization, FIRST[:1], override=False)
    membership_deactivate(membership=Membership.objects.get(user=staff))

    _, lines = imported(organization, FIRST[:1], override=True)

    assert lines == [(BulkTaskLine.Kind.SKIPPED, 2, "membership is deactivated")]
