"""Demo data for a newcomer's first run: two organizations, members, and tasks in every status.

Every object has a fixed identity (slug, e-mail or id), so seeding twice changes nothing.

The pending and the in-progress task stay in their status for as long as the
demo runs: each holds a lease in the name of ``DEMO_LEASE_OWNER`` until
``DEMO_LEASE_EXPIRES_AT``. A worker claims only a task whose lease is free or
has run out, and the sweeper sends back only such tasks, so neither touches
them; the admin's task page shows the lease's owner and end under Processing.
Cancelling one (API or admin) ends it as it would end any task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from bulktasks.models import BulkTask, BulkTaskLine
from bulktasks.storage import bulk_task_storage, storage_key_for, storage_provider_current
from users import catalog
from users.models import Membership, Organization, Role, User
from users.selectors import organization_get
from users.services import membership_create, organization_create, role_create, user_create

DEMO_PASSWORD = "demo-password-2024"  # noqa: S105 - printed for the walk-through on purpose
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-2024"  # noqa: S105

ORGANIZATION_SLUG = "acme"
OTHER_ORGANIZATION_SLUG = "globex"
READER_EMAIL = "reader@acme.example"
NO_PERMISSION_EMAIL = "viewer@acme.example"
OUTSIDER_EMAIL = "member@globex.example"

# Fixed ids so that the README's curl commands work on every machine.
PENDING_TASK_ID = "65a000000000000000000001"
IN_PROGRESS_TASK_ID = "65a000000000000000000002"
COMPLETED_TASK_ID = "65a000000000000000000003"
FAILED_TASK_ID = "65a000000000000000000004"
OTHER_TASK_ID = "65a000000000000000000005"

# The lease that keeps the demo's pending and in-progress tasks where they are,
# so that the task list always has one task in every status (see the docstring).
DEMO_LEASE_OWNER = "demo: kept in this status on purpose"
DEMO_LEASE_EXPIRES_AT = datetime(2100, 1, 1, tzinfo=UTC)


TEAM_CSV = (
    b"email,firstName,lastName\n"
    b"ana@acme.example,Ana,Lima\n"
    b"bob@acme.example,Bob,Stone\n"
    b"cleo@acme.example,Cleo,Park\n"
    b"bob@acme.example,Bob,Stone\n"
    b"dan@acme.example,Dan,Ito\n"
    b"eve@acme.example,Eve,Moss\n"
    b"not-an-email,Nope,Nope\n"
    b"fay@acme.example,Fay,Hart\n"
    b"cleo@acme.example,Cleo,Park\n"
    b"gus@acme.example,Gus,Reed\n"
)


def _people_csv(count: int, prefix: str) -> bytes:
    rows = [f"{prefix}{n}@example.com,Person,{n}" for n in range(1, count + 1)]
    return ("email,firstName,lastName\n" + "\n".join(rows) + "\n").encode()


@dataclass
class DemoData:
    """What the demo seed made, for printing curl commands or JSON."""

    organization: Organization
    other_organization: Organization
    reader: User
    no_permission: User
    outsider: User
    bulk_tasks: list[BulkTask] = field(default_factory=list)
    other_bulk_task: BulkTask | None = None


class DemoConflict(Exception):
    """The database holds something of the demo's name that the demo did not make."""


@transaction.atomic
def demo_seed() -> DemoData:
    """Create the demo organizations, members and tasks unless they already exist."""
    _admin_get_or_create()
    storage = storage_provider_current()
    acme = _organization_get_or_create(ORGANIZATION_SLUG, "Acme Corporation", READER_EMAIL)
    globex = _organization_get_or_create(OTHER_ORGANIZATION_SLUG, "Globex", OUTSIDER_EMAIL)
    every_bulk_permission = [
        catalog.BULK_TASK_GET,
        catalog.BULK_TASK_LIST,
        catalog.BULK_TASK_CREATE,
        catalog.BULK_TASK_CANCEL,
        catalog.WEBHOOKS_MANAGE,
        catalog.BULK_TASK_EXPORT,
    ]
    operator = _role_get_or_create(acme, "Bulk operator", every_bulk_permission)
    viewer = _role_get_or_create(acme, "Viewer", [])
    globex_operator = _role_get_or_create(globex, "Bulk operator", every_bulk_permission)

    reader = _member_get_or_create(acme, operator, READER_EMAIL, "Ada", "Reader")
    no_permission = _member_get_or_create(acme, viewer, NO_PERMISSION_EMAIL, "Victor", "Viewer")
    outsider = _member_get_or_create(globex, globex_operator, OUTSIDER_EMAIL, "Olga", "Outsider")

    common: dict[str, Any] = {
        "action": "users.import",
        "storage_provider": storage,
        "file_mimetype": "text/csv",
    }
    scanned: dict[str, Any] = {"scanned_at": timezone.now()}
    # A task that ran or is running has been claimed once, as a worker leaves it.
    started: dict[str, Any] = {"started_at": timezone.now(), "attempts": 1}
    held: dict[str, Any] = {
        "lease_owner": DEMO_LEASE_OWNER,
        "lease_expires_at": DEMO_LEASE_EXPIRES_AT,
    }
    tasks = [
        _task_get_or_create(
            PENDING_TASK_ID,
            acme,
            reader,
            status=BulkTask.Status.PENDING,
            file_original_name="new-hires.csv",
            content=_people_csv(25, "new-hire"),
            **held,
            **common,
        ),
        _task_get_or_create(
            IN_PROGRESS_TASK_ID,
            acme,
            reader,
            status=BulkTask.Status.IN_PROGRESS,
            file_original_name="contractors.csv",
            content=_people_csv(8_000, "contractor"),
            num_items=8_000,
            num_inserts=3_950,
            num_skips=50,
            **started,
            **scanned,
            **held,
            **common,
            # The 50 skipped lines its counts claim, among the first 4,000 it has done.
            lines=[
                (BulkTaskLine.Kind.SKIPPED, line, "already a member")
                for line in range(2, 4_000, 80)
            ],
        ),
        _task_get_or_create(
            COMPLETED_TASK_ID,
            acme,
            reader,
            status=BulkTask.Status.COMPLETED,
            file_original_name="team.csv",
            content=TEAM_CSV,
            num_items=10,
            num_inserts=6,
            num_skips=1,
            num_errors=3,
            finished_at=timezone.now(),
            **started,
            **scanned,
            **common,
            lines=[
                (BulkTaskLine.Kind.SKIPPED, 2, "already a member"),
                (BulkTaskLine.Kind.ERRORED, 5, "email: duplicate of line 3"),
                (
                    BulkTaskLine.Kind.ERRORED,
                    8,
                    "email: 'not-an-email' is not a valid e-mail address",
                ),
                (BulkTaskLine.Kind.ERRORED, 10, "email: duplicate of line 4"),
            ],
        ),
        _task_get_or_create(
            FAILED_TASK_ID,
            acme,
            reader,
            status=BulkTask.Status.FAILED,
            file_original_name="export.csv",
            content=b"mail,firstName\nsam@acme.example,Sam\n",
            error="header row is missing column email",
            finished_at=timezone.now(),
            **started,
            **common,
        ),
    ]
    other = _task_get_or_create(
        OTHER_TASK_ID,
        globex,
        outsider,
        status=BulkTask.Status.COMPLETED,
        file_original_name="globex-staff.csv",
        content=_people_csv(3, "globex"),
        num_items=3,
        num_inserts=3,
        finished_at=timezone.now(),
        **started,
        **scanned,
        **common,
    )
    return DemoData(acme, globex, reader, no_permission, outsider, tasks, other)


def _admin_get_or_create() -> User:
    existing = User.objects.filter(email=ADMIN_EMAIL).first()
    if existing is not None:
        return existing
    return user_create(
        email=ADMIN_EMAIL,
        password=ADMIN_PASSWORD,
        first_name="Demo",
        last_name="Admin",
        is_staff=True,
        is_superuser=True,
    )


def _organization_get_or_create(slug: str, name: str, demo_member: str) -> Organization:
    """The demo's organization, made now or by an earlier seed; never one the demo did not make.

    The demo makes ``demo_member`` (an address under the reserved ``.example``
    domain) a member of the organizations it creates. An organization of that
    slug without them is someone's real one: adding members with published
    passwords to it would open it to anyone who reads the README.
    """
    existing = organization_get(id_or_slug=slug)
    if existing is None:
        return organization_create(slug=slug, name=name)
    if not Membership.objects.filter(organization=existing, user__email=demo_member).exists():
        raise DemoConflict(
            f"An organization with slug {slug!r} exists and was not made by the demo: "
            "refusing to add demo members, whose passwords are public, to it. "
            "Seed the demo into a database of its own."
        )
    return existing


def _role_get_or_create(organization: Organization, name: str, permissions: list[str]) -> Role:
    existing = Role.objects.filter(organization=organization, name=name).first()
    if existing is None:
        return role_create(organization=organization, name=name, permissions=permissions)
    # A demo seeded before a permission joined the catalog (cancel) gets it now,
    # so that the walk-through's commands work on an older local database too.
    if not set(permissions) <= set(existing.permissions):
        existing.permissions = sorted({*existing.permissions, *permissions})
        existing.save(update_fields=["permissions"])
    return existing


def _member_get_or_create(
    organization: Organization, role: Role, email: str, first_name: str, last_name: str
) -> User:
    user = User.objects.filter(email=email).first() or user_create(
        email=email, password=DEMO_PASSWORD, first_name=first_name, last_name=last_name
    )
    if not Membership.objects.filter(user=user, organization=organization).exists():
        membership_create(user=user, organization=organization, roles=[role])
    return user


def _task_get_or_create(
    task_id: str,
    organization: Organization,
    created_by: User,
    content: bytes,
    lines: Sequence[tuple[int, int, str]] = (),
    **fields: Any,
) -> BulkTask:
    existing = BulkTask.objects.filter(pk=task_id).first()
    if existing is not None:
        return existing
    # A real stored file, so that staff can download every one.
    name = fields["file_original_name"]
    key = storage_key_for(organization_id=organization.pk, bulk_task_id=task_id, original_name=name)
    storage = bulk_task_storage()
    if not storage.exists(key):
        key = storage.save(key, ContentFile(content))
    task = BulkTask.objects.create(
        id=task_id,
        organization=organization,
        created_by=created_by,
        file_key=key,
        file_size=len(content),
        file_checksum=hashlib.sha256(content).hexdigest(),
        **fields,
    )
    BulkTaskLine.objects.bulk_create(
        BulkTaskLine(task=task, kind=kind, line=line, reason=reason) for kind, line, reason in lines
    )
    return task
