"""Demo data for a newcomer's first run: two organizations, members, and tasks in every status.

Every object has a fixed identity (slug, e-mail or id), so seeding twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from bulktasks.models import BulkTask, BulkTaskLine, StorageProvider
from users import catalog
from users.models import Membership, Organization, Role, User
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


@transaction.atomic
def demo_seed() -> DemoData:
    """Create the demo organizations, members and tasks unless they already exist."""
    _admin_get_or_create()
    storage, _ = StorageProvider.objects.get_or_create(
        name="local", defaults={"kind": StorageProvider.Kind.FILESYSTEM}
    )
    acme = _organization_get_or_create(ORGANIZATION_SLUG, "Acme Corporation")
    globex = _organization_get_or_create(OTHER_ORGANIZATION_SLUG, "Globex")
    every_bulk_permission = [
        catalog.BULK_TASK_GET,
        catalog.BULK_TASK_LIST,
        catalog.BULK_TASK_CREATE,
    ]
    operator = _role_get_or_create(acme, "Bulk operator", every_bulk_permission)
    viewer = _role_get_or_create(acme, "Viewer", [])
    globex_operator = _role_get_or_create(globex, "Bulk operator", every_bulk_permission)

    reader = _member_get_or_create(acme, operator, READER_EMAIL, "Ada", "Reader")
    no_permission = _member_get_or_create(acme, viewer, NO_PERMISSION_EMAIL, "Victor", "Viewer")
    outsider = _member_get_or_create(globex, globex_operator, OUTSIDER_EMAIL, "Olga", "Outsider")

    common = {"action": "users.import", "storage_provider": storage, "file_mimetype": "text/csv"}
    tasks = [
        _task_get_or_create(
            PENDING_TASK_ID,
            acme,
            reader,
            status=BulkTask.Status.PENDING,
            file_original_name="new-hires.csv",
            file_size=2_048,
            **common,
        ),
        _task_get_or_create(
            IN_PROGRESS_TASK_ID,
            acme,
            reader,
            status=BulkTask.Status.IN_PROGRESS,
            file_original_name="contractors.csv",
            file_size=524_288,
            num_items=4_000,
            num_inserts=3_950,
            num_skips=50,
            **common,
        ),
        _task_get_or_create(
            COMPLETED_TASK_ID,
            acme,
            reader,
            status=BulkTask.Status.COMPLETED,
            override=True,
            file_original_name="team.csv",
            file_size=1_024,
            num_items=10,
            num_inserts=5,
            num_updates=2,
            num_skips=1,
            num_errors=2,
            **common,
            lines=[
                (BulkTaskLine.Kind.SKIPPED, 4, "email bob@acme.example: already a member"),
                (
                    BulkTaskLine.Kind.ERRORED,
                    7,
                    "email: 'not-an-email' is not a valid e-mail address",
                ),
                (BulkTaskLine.Kind.ERRORED, 9, "email: duplicate of line 3"),
            ],
        ),
        _task_get_or_create(
            FAILED_TASK_ID,
            acme,
            reader,
            status=BulkTask.Status.FAILED,
            file_original_name="export.csv",
            file_size=512,
            error="header row is missing column email",
            **common,
        ),
    ]
    other = _task_get_or_create(
        OTHER_TASK_ID,
        globex,
        outsider,
        status=BulkTask.Status.COMPLETED,
        file_original_name="globex-staff.csv",
        file_size=256,
        num_items=3,
        num_inserts=3,
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


def _organization_get_or_create(slug: str, name: str) -> Organization:
    return Organization.objects.filter(slug=slug).first() or organization_create(
        slug=slug, name=name
    )


def _role_get_or_create(organization: Organization, name: str, permissions: list[str]) -> Role:
    existing = Role.objects.filter(organization=organization, name=name).first()
    return existing or role_create(organization=organization, name=name, permissions=permissions)


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
    lines: list[tuple[int, int, str]] = (),  # type: ignore[assignment]
    **fields: object,
) -> BulkTask:
    existing = BulkTask.objects.filter(pk=task_id).first()
    if existing is not None:
        return existing
    task = BulkTask.objects.create(
        id=task_id, organization=organization, created_by=created_by, **fields
    )
    BulkTaskLine.objects.bulk_create(
        BulkTaskLine(task=task, kind=kind, line=line, reason=reason) for kind, line, reason in lines
    )
    return task
