"""A users.import file meeting every outcome, and the organization state it meets.

Used to hold a dry run to a real run of the same file: inserts (new accounts,
accounts of another organization, staff accounts held for approval), updates
(with override), skips (no changes or already a member, a deactivated
membership), errors of every origin (the reader, ``validate``, a repeat found by
the scan, across chunks and within one), spread over many chunks.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps

from bulktasks.models import (
    BulkTask,
    BulkTaskChunk,
    BulkTaskLine,
    IdempotencyKey,
    StorageProvider,
)
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from users.models import Organization

# Rows of the file by kind, each kind cycling through ``outcome_rows``.
KINDS = (
    "new",
    "elsewhere",
    "staff",
    "changed",
    "unchanged",
    "deactivated",
    "bad-email",
    "bad-picture",
    "fixed-picture",
    "short-row",
    "repeat-far",
    "repeat-near",
)


def outcome_rows(count: int) -> list[str]:
    """``count`` data rows (CSV, header ``email,firstName,lastName,picture``) of every kind."""
    rows: list[str] = []
    for n in range(count):
        kind = KINDS[n % len(KINDS)]
        if kind == "new":
            rows.append(f"new{n}@example.com,New{n},Person,https://img.example.com/{n}.png")
        elif kind == "elsewhere":
            rows.append(f"elsewhere{n}@example.com,Else{n},Where,")
        elif kind == "staff":
            rows.append(f"staff{n}@example.com,Staff{n},Person,")
        elif kind == "changed":
            rows.append(f"member{n}@example.com,Renamed{n},Member,")
        elif kind == "unchanged":
            rows.append(f"member{n}@example.com,Same{n},Member,")
        elif kind == "deactivated":
            rows.append(f"gone{n}@example.com,Gone{n},Member,")
        elif kind == "bad-email":
            rows.append(f"not-an-email-{n},Bad,Email,")
        elif kind == "bad-picture":
            rows.append(f"picture{n}@example.com,Bad,Picture,ftp://img.example.com/{n}")
        elif kind == "fixed-picture":
            # The line before was refused: this one is the first valid line of its e-mail.
            rows.append(f"picture{n - 1}@example.com,Fixed,Picture,")
        elif kind == "short-row":
            rows.append(f"short{n}@example.com,Short")
        elif kind == "repeat-far":
            # The first line of the file's "new" people, in another case: a repeat
            # the scan finds across chunks.
            rows.append("NEW0@Example.com,Again,Far,")
        else:
            # This cycle's "new" person, a few lines up: in the same chunk or the one before.
            rows.append(f"new{n - len(KINDS) + 1}@example.com,Again,Near,")
    return rows


OUTCOME_HEADER = "email,firstName,lastName,picture"


def outcome_state(organization: Organization, count: int) -> None:
    """The accounts and memberships the rows of ``outcome_rows(count)`` meet."""
    elsewhere = OrganizationFactory()
    for n in range(count):
        kind = KINDS[n % len(KINDS)]
        if kind == "elsewhere":
            MembershipFactory(
                organization=elsewhere, user=UserFactory(email=f"elsewhere{n}@example.com")
            )
        elif kind == "staff":
            UserFactory(email=f"staff{n}@example.com", is_staff=True)
        elif kind in ("changed", "unchanged"):
            MembershipFactory(
                organization=organization,
                user=UserFactory(email=f"member{n}@example.com"),
                first_name=f"Same{n}",
                last_name="Member",
            )
        elif kind == "deactivated":
            MembershipFactory(
                organization=organization,
                user=UserFactory(email=f"gone{n}@example.com"),
                is_active=False,
            )


# What an upload and its processing write by design: the task, where its file is
# stored, its key, its chunks and its report.
_BOOKKEEPING = {BulkTask, BulkTaskChunk, BulkTaskLine, IdempotencyKey, StorageProvider}


def database_state() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table but the tasks' own bookkeeping, in primary-key order."""
    return {
        model._meta.db_table: list(model._default_manager.order_by("pk").values())
        for model in apps.get_models(include_auto_created=True)
        if model not in _BOOKKEEPING
    }
