"""``users.import``: each line is a person who becomes a member of the organization."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import connection
from django.utils import timezone

from bulktasks.actions.base import Action, ActionContext, BatchResult, Column
from bulktasks.actions.registry import register
from core.bulk import db_datetime, rows_insert, rows_update
from core.ids import object_id
from users.models import Membership, User

_url_validator = URLValidator(schemes=["http", "https"])
# The everyday shape of an address: an ASCII dot-atom at a dotted ASCII host name.
# Every string it matches passes Django's validate_email too (a strict subset,
# held to it by a property test); it takes a tenth of the time, so only the rest
# (IDN domains, quoted local parts, address literals) go through the full check.
_PLAIN_EMAIL = re.compile(
    r"[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+(?:\.[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}\Z"
)

# Django refuses a longer address whatever its shape (RFC 3696, section 3).
_EMAIL_MAX_LENGTH = 320


def email_is_valid(email: str) -> bool:
    """Tell whether Django's validate_email accepts the address, quickly for the usual ones."""
    if len(email) <= _EMAIL_MAX_LENGTH and _PLAIN_EMAIL.match(email):
        return True
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Person:
    """A validated line: a normalized e-mail and the optional profile fields given."""

    email: str
    first_name: str
    last_name: str
    picture: str

    def changes_for(self, user: Any) -> dict[str, str]:
        """The profile fields this line would change; an empty cell changes nothing."""
        wanted = {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "picture": self.picture,
        }
        return {
            name: value for name, value in wanted.items() if value and getattr(user, name) != value
        }


@register
class UsersImport(Action):
    """Create users and memberships; update existing members when ``override`` is on.

    Outcomes per line:
    - a new person: a user without a usable password, and a membership (insert);
    - an existing account that is not yet a member: a membership (insert);
    - an existing member: skipped, or with ``override`` their changed fields are
      updated (update); a line that would change nothing is skipped;
    - a member whose account is shared (a member of another organization too,
      or staff) is skipped even with ``override``: the profile is one row that
      every organization of theirs shows, so no single tenant rewrites it;
    - a deactivated membership is skipped: an import never restores access;
    - a second line for the same e-mail in the same file is an error (found by
      the scan across the whole file, through ``key``).
    """

    name = "users.import"
    models = (User, Membership)
    columns = (
        Column("email", required=True, max_length=256),
        Column("firstName", max_length=128),
        Column("lastName", max_length=128),
        Column("picture", max_length=2048),
    )

    def validate(self, values: dict[str, str]) -> tuple[Any, str | None]:
        for column in self.columns:
            value = values.get(column.name, "")
            if column.max_length is not None and len(value) > column.max_length:
                return None, f"{column.name}: longer than {column.max_length} characters"
        email = values.get("email", "").strip()
        if not email:
            return None, "email: is required"
        if not email_is_valid(email):
            return None, f"email: {email[:100]!r} is not a valid e-mail address"
        picture = values.get("picture", "").strip()
        if picture:
            try:
                _url_validator(picture)
            except ValidationError:
                return None, "picture: not a valid http(s) URL"
        normalized = User.objects.normalize_email(email)
        # Lower-casing can lengthen a string ("İ" becomes two characters): the
        # column holds the normalized address, so that is what must fit.
        if len(normalized) > _EMAIL_MAX_LENGTH:
            return None, f"email: longer than {_EMAIL_MAX_LENGTH} characters once lower-cased"
        person = Person(
            email=normalized,
            first_name=values.get("firstName", "").strip(),
            last_name=values.get("lastName", "").strip(),
            picture=picture,
        )
        return person, None

    def key(self, values: dict[str, str]) -> str | None:
        """The normalized e-mail, as ``validate`` makes it: one line per person."""
        return User.objects.normalize_email(values.get("email", "")) or None

    def duplicate_reason(self, first_line: int) -> str:
        return f"email: duplicate of line {first_line}"

    def apply(self, *, context: ActionContext, rows: list[tuple[int, Any]]) -> BatchResult:
        result = BatchResult()
        people: dict[str, tuple[int, Person]] = {}
        for line, person in rows:
            if person.email in people:
                result.errored.append((line, f"email: duplicate of line {people[person.email][0]}"))
            else:
                people[person.email] = (line, person)
        if not people:
            return result

        known = _people_known(emails=list(people), organization_id=context.organization_id)
        now = db_datetime(timezone.now())
        new_users: list[tuple[Any, ...]] = []
        new_memberships: list[tuple[Any, ...]] = []
        changed_users: list[tuple[Any, ...]] = []
        passwords = _unusable_passwords(len(people))

        def membership_row(user_id: str, line: int) -> tuple[Any, ...]:
            # In _MEMBERSHIP_FIELDS order; the import and line make a later duplicate detectable.
            return (object_id(), user_id, context.organization_id, True, now,
                    context.bulk_task_id, line)  # fmt: skip

        for email, (line, person) in people.items():
            user, membership = known.get(email, (None, None))
            if user is None:
                user_id = object_id()
                new_users.append(
                    (user_id, next(passwords), False, email, person.first_name,
                     person.last_name, person.picture, True, False, now, now)
                )  # fmt: skip
                new_memberships.append(membership_row(user_id, line))
                result.inserts += 1
                continue
            if membership is None:
                new_memberships.append(membership_row(user.pk, line))
                result.inserts += 1
                continue
            if not membership.is_active:
                result.skipped.append((line, "membership is deactivated"))
                continue
            if not context.override:
                result.skipped.append((line, "already a member"))
                continue
            changes = person.changes_for(user)
            if not changes:
                result.skipped.append((line, "no changes"))
                continue
            if user.shared:
                result.skipped.append((line, SHARED_ACCOUNT_REASON))
                continue
            for name, value in changes.items():
                setattr(user, name, value)
            changed_users.append((user.first_name, user.last_name, user.picture, now, user.pk))
            result.updates += 1

        if new_users:
            rows_insert(User, _USER_FIELDS, new_users)
        if new_memberships:
            rows_insert(Membership, _MEMBERSHIP_FIELDS, new_memberships)
        if changed_users:
            rows_update(User, ["first_name", "last_name", "picture", "updated_at"], changed_users)
        result.errored.sort()
        return result


_USER_FIELDS = (
    "id", "password", "is_superuser", "email", "first_name", "last_name", "picture",
    "is_active", "is_staff", "date_joined", "updated_at",
)  # fmt: skip
_MEMBERSHIP_FIELDS = (
    "id", "user", "organization", "is_active", "created_at", "last_import_task_id", "last_import_line",
)  # fmt: skip


def _unusable_passwords(count: int) -> Iterator[str]:
    """What make_password(None) stores, without its slow per-character random choice."""
    entropy = os.urandom(20 * count).hex()
    for start in range(0, 40 * count, 40):
        yield UNUSABLE_PASSWORD_PREFIX + entropy[start : start + 40]


SHARED_ACCOUNT_REASON = (
    "profile not changed: the account is shared with another organization or staff"
)


@dataclass(slots=True)
class _KnownUser:
    pk: str
    first_name: str
    last_name: str
    picture: str
    # A member of another organization too, or staff: not this organization's to rewrite.
    shared: bool


@dataclass(slots=True)
class _KnownMembership:
    pk: str
    is_active: bool
    last_import_task_id: str
    last_import_line: int | None


def _people_known(
    *, emails: list[str], organization_id: str
) -> dict[str, tuple[_KnownUser, _KnownMembership | None]]:
    """The accounts among these e-mails, with their membership here if any, a query per 500."""
    known: dict[str, tuple[_KnownUser, _KnownMembership | None]] = {}
    for start in range(0, len(emails), _LOOKUP_BATCH):
        known.update(_people_known_batch(emails[start : start + _LOOKUP_BATCH], organization_id))
    return known


_LOOKUP_BATCH = 500
_EMAIL_MAX_LENGTH = User._meta.get_field("email").max_length or 256


def _people_known_batch(
    emails: list[str], organization_id: str
) -> dict[str, tuple[_KnownUser, _KnownMembership | None]]:
    users, memberships = User._meta.db_table, Membership._meta.db_table
    # Table names come from the models, values are parameters.
    columns = (
        "u.id, u.email, u.first_name, u.last_name, u.picture, "  # noqa: S608
        "m.id, m.is_active, m.last_import_task_id, m.last_import_line, "
        "u.is_staff OR u.is_superuser OR EXISTS ("
        f"SELECT 1 FROM {memberships} elsewhere "
        "WHERE elsewhere.user_id = u.id AND elsewhere.organization_id <> %s)"
    )
    if connection.vendor == "postgresql":
        # Joining an unnested array makes the planner probe the e-mail index once
        # per address; "email = ANY(...)" on a growing table got sequential scans.
        sql = (
            f"SELECT {columns} FROM unnest(%s::varchar[]) AS wanted(email) "  # noqa: S608
            f"JOIN {users} u ON u.email = wanted.email "
            f"LEFT JOIN {memberships} m ON m.user_id = u.id AND m.organization_id = %s"
        )
        params: list[Any] = [organization_id, emails, organization_id]
    else:
        sql = (
            f"SELECT {columns} FROM {users} u LEFT JOIN {memberships} m "  # noqa: S608
            f"ON m.user_id = u.id AND m.organization_id = %s "
            f"WHERE u.email IN ({', '.join(['%s'] * len(emails))})"
        )
        params = [organization_id, organization_id, *emails]
    known: dict[str, tuple[_KnownUser, _KnownMembership | None]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor:
            user_id, email, first, last, picture, membership_id, active, task_id, line, shared = row
            membership = (
                _KnownMembership(membership_id, bool(active), task_id or "", line)
                if membership_id
                else None
            )
            known[email] = (_KnownUser(user_id, first, last, picture, bool(shared)), membership)
    return known
