"""Drive exports in tests: an organization's members, an export task, its result's bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bulktasks.models import BulkTask
from bulktasks.services import bulk_task_export_create, open_result_file
from tests.factories import MembershipFactory, RoleFactory, UserFactory
from users.models import Membership, Organization

JOINED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def member(
    organization: Organization,
    email: str,
    *,
    first_name: str = "",
    last_name: str = "",
    picture: str = "",
    roles: tuple[str, ...] = (),
    joined: datetime = JOINED,
    **fields: Any,
) -> Membership:
    """A membership with the organization's own profile of the person and named roles."""
    user = UserFactory(email=email, **fields.pop("user_fields", {}))
    membership = MembershipFactory(
        user=user,
        organization=organization,
        first_name=first_name,
        last_name=last_name,
        picture=picture,
        roles=[_role(organization, name) for name in roles],
        **fields,
    )
    # created_at is set on insert: the joining date is fixed afterwards.
    Membership.objects.filter(pk=membership.pk).update(created_at=joined)
    return membership


def _role(organization: Organization, name: str) -> Any:
    return organization.roles.filter(name=name).first() or RoleFactory(
        organization=organization, name=name
    )


def many_members(organization: Organization, count: int, *, prefix: str = "member") -> None:
    """``count`` active members, each a second after the previous one."""
    for n in range(count):
        member(
            organization,
            f"{prefix}{n}@example.com",
            first_name=f"First{n}",
            last_name=f"Last{n}",
            joined=JOINED + timedelta(seconds=n),
        )


def export_pending(
    organization: Organization, result_format: str = "csv", *, enqueue: bool = False
) -> BulkTask:
    """A users.export task, queued only if asked."""
    task, _ = bulk_task_export_create(
        organization=organization,
        created_by=None,
        action="users.export",
        result_format=result_format,
        enqueue=enqueue,
    )
    return task


def result_bytes(task: BulkTask) -> bytes:
    """The stored result of a completed export."""
    task.refresh_from_db()
    with open_result_file(task) as stored:
        return stored.read()
