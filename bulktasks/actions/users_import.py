"""``users.import``: each line is a person who becomes a member of the organization."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import connection
from django.utils import timezone

from bulktasks.actions.base import Action, ActionContext, BatchResult, Column
from bulktasks.actions.registry import register
from core.bulk import db_datetime, rows_insert, rows_update
from core.ids import object_ids
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


class Person(NamedTuple):
    """A validated line: a normalized e-mail and the optional profile fields given."""

    email: str
    first_name: str
    last_name: str
    picture: str

    def changes_for(self, member: _KnownMembership) -> dict[str, str]:
        """The profile fields this line would change; an empty cell changes nothing."""
        wanted = {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "picture": self.picture,
        }
        return {
            name: value
            for name, value in wanted.items()
            if value and getattr(member, name) != value
        }


@register
class UsersImport(Action):
    """Create memberships, and the accounts they need; update members when ``override`` is on.

    The profile a line carries (names, picture) is the organization's own: it is
    written to the membership, never to the account, which is the person's and
    is shared by every organization they belong to. So whether a person already
    has an account, here or elsewhere, or is staff, changes nothing the
    organization sees: every line has the same outcome and reason either way.

    Outcomes per line:
    - not a member yet: a membership carrying the line's profile (insert); an
      account without a usable password and without a profile is created first
      when the e-mail has none; the membership of a staff or superuser account is
      held back for a superuser's approval (``pending_approval``, no access);
    - an existing member: skipped, or with ``override`` the membership's changed
      profile fields are updated (update); a line that would change nothing is
      skipped;
    - a deactivated membership is skipped: an import never restores access;
    - a second line for the same e-mail in the same file is an error (found by
      the scan across the whole file, through ``key``).
    """

    name = "users.import"
    # None to refresh statistics for: the lookup probes unique indexes one
    # address at a time, a plan that does not depend on them (see below).
    models = ()
    columns = (
        Column("email", required=True, max_length=256),
        Column("firstName", max_length=128),
        Column("lastName", max_length=128),
        Column("picture", max_length=2048),
    )
    # What users.export writes besides these: a file exported from one
    # organization imports into another as it is.
    ignored_columns = ("roles", "joinedAt")

    def validate(self, values: dict[str, str]) -> tuple[Any, str | None]:
        get = values.get
        for name, max_length in _LIMITS:
            if len(get(name, "")) > max_length:
                return None, f"{name}: longer than {max_length} characters"
        email = get("email", "").strip()
        if not email:
            return None, "email: is required"
        if not email_is_valid(email):
            return None, f"email: {email[:100]!r} is not a valid e-mail address"
        picture = get("picture", "").strip()
        if picture:
            try:
                _url_validator(picture)
            except ValidationError:
                return None, "picture: not a valid http(s) URL"
        normalized = email.lower()  # as User.objects.normalize_email, already stripped
        # Lower-casing can lengthen a string ("İ" becomes two characters): the
        # column holds the normalized address, so that is what must fit.
        if len(normalized) > _EMAIL_MAX_LENGTH:
            return None, f"email: longer than {_EMAIL_MAX_LENGTH} characters once lower-cased"
        return Person(
            normalized, get("firstName", "").strip(), get("lastName", "").strip(), picture
        ), None

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
        changed_memberships: list[tuple[Any, ...]] = []
        passwords = _unusable_passwords(len(people))
        # At most an account and a membership per person.
        ids = iter(object_ids(2 * len(people)))

        def membership_row(
            user_id: str, line: int, person: Person, *, held: bool
        ) -> tuple[Any, ...]:
            # In _MEMBERSHIP_FIELDS order; the import and line say where the membership came from.
            return (next(ids), user_id, context.organization_id, not held, held,
                    person.first_name, person.last_name, person.picture, now,
                    context.bulk_task_id, line)  # fmt: skip

        for email, (line, person) in people.items():
            user, membership = known.get(email, (None, None))
            if user is None:
                user_id = next(ids)
                # The account's own profile stays empty: it is the person's to
                # fill, and another organization may come to share the account.
                new_users.append(
                    (user_id, next(passwords), False, email, "", "", "", True, False, now, now)
                )  # fmt: skip
                new_memberships.append(membership_row(user_id, line, person, held=False))
                result.inserts += 1
                continue
            if membership is None:
                # Never a silent way into an organization for a staff account:
                # the membership waits for a superuser, and the line reads the same.
                new_memberships.append(membership_row(user.pk, line, person, held=user.privileged))
                result.inserts += 1
                continue
            if membership.deactivated:
                result.skipped.append((line, "membership is deactivated"))
                continue
            changes = person.changes_for(membership) if context.override else {}
            if not changes:
                reason = "no changes" if context.override else "already a member"
                result.skipped.append((line, reason))
                continue
            for name, value in changes.items():
                setattr(membership, name, value)
            # The profile and the import's mark in one statement per row.
            changed_memberships.append(
                (membership.first_name, membership.last_name, membership.picture,
                 context.bulk_task_id, line, membership.pk)
            )  # fmt: skip
            result.updates += 1

        if new_users:
            rows_insert(User, _USER_FIELDS, new_users)
        if new_memberships:
            rows_insert(Membership, _MEMBERSHIP_FIELDS, new_memberships)
        if changed_memberships:
            rows_update(
                Membership,
                ["first_name", "last_name", "picture", "last_import_task_id", "last_import_line"],
                changed_memberships,
            )
        result.errored.sort()
        return result


# Every column's limit, checked before anything else so that a reason names the column.
_LIMITS = tuple(
    (column.name, column.max_length)
    for column in UsersImport.columns
    if column.max_length is not None
)
_USER_FIELDS = (
    "id", "password", "is_superuser", "email", "first_name", "last_name", "picture",
    "is_active", "is_staff", "date_joined", "updated_at",
)  # fmt: skip
_MEMBERSHIP_FIELDS = (
    "id", "user", "organization", "is_active", "pending_approval", "first_name", "last_name",
    "picture", "created_at", "last_import_task_id", "last_import_line",
)  # fmt: skip


def _unusable_passwords(count: int) -> Iterator[str]:
    """What make_password(None) stores, without its slow per-character random choice."""
    entropy = os.urandom(20 * count).hex()
    for start in range(0, 40 * count, 40):
        yield UNUSABLE_PASSWORD_PREFIX + entropy[start : start + 40]


@dataclass(slots=True)
class _KnownUser:
    pk: str
    # Staff or superuser: a membership an import makes for it waits for approval.
    privileged: bool


@dataclass(slots=True)
class _KnownMembership:
    pk: str
    # Switched off by the organization or staff; a membership pending approval is
    # off too, but to the organization it is a member like any other.
    deactivated: bool
    first_name: str
    last_name: str
    picture: str
    last_import_task_id: str
    last_import_line: int | None


def _people_known(
    *, emails: list[str], organization_id: str
) -> dict[str, tuple[_KnownUser, _KnownMembership | None]]:
    """The accounts among these e-mails, with their membership here if any.

    One query for a whole chunk on PostgreSQL, where the e-mails travel as one
    array: each round trip costs more than the index probes it carries. SQLite
    takes them as separate parameters, so 500 at a time.
    """
    batch = len(emails) if connection.vendor == "postgresql" else _SQLITE_LOOKUP_BATCH
    known: dict[str, tuple[_KnownUser, _KnownMembership | None]] = {}
    for start in range(0, len(emails), max(batch, 1)):
        known.update(_people_known_batch(emails[start : start + batch], organization_id))
    return known


_SQLITE_LOOKUP_BATCH = 500
_EMAIL_MAX_LENGTH = User._meta.get_field("email").max_length or 256


def _people_known_batch(
    emails: list[str], organization_id: str
) -> dict[str, tuple[_KnownUser, _KnownMembership | None]]:
    sql, params = _people_known_query(emails, organization_id)
    known: dict[str, tuple[_KnownUser, _KnownMembership | None]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor:
            user_id, email, privileged, membership_id, member, first, last, picture, task, line = (
                row
            )
            membership = (
                _KnownMembership(membership_id, not member, first, last, picture, task or "", line)
                if membership_id
                else None
            )
            known[email] = (_KnownUser(user_id, bool(privileged)), membership)
    return known


def _people_known_query(emails: list[str], organization_id: str) -> tuple[str, list[Any]]:
    """The lookup's SQL and parameters for this database."""
    users, memberships = User._meta.db_table, Membership._meta.db_table
    # Table names come from the models, values are parameters.
    if connection.vendor == "postgresql":
        # One index probe per address, whatever the statistics say: as a join,
        # the planner (which knows the array holds a chunk of addresses) came to
        # hash the whole users table instead, 400 ms a chunk at 90,000 users.
        # A LIMIT keeps each side a subquery run per address, on its unique index.
        sql = (
            "SELECT u.id, wanted.email, u.privileged, m.id, m.member, m.first_name, "  # noqa: S608
            "m.last_name, m.picture, m.last_import_task_id, m.last_import_line "
            "FROM unnest(%s::varchar[]) AS wanted(email) "
            "CROSS JOIN LATERAL ("
            f"SELECT id, is_staff OR is_superuser AS privileged FROM {users} "
            "WHERE email = wanted.email LIMIT 1) u "
            "LEFT JOIN LATERAL ("
            "SELECT id, is_active OR pending_approval AS member, first_name, last_name, picture, "
            f"last_import_task_id, last_import_line FROM {memberships} "
            "WHERE user_id = u.id AND organization_id = %s LIMIT 1) m ON true"
        )
        params: list[Any] = [emails, organization_id]
    else:
        sql = (
            "SELECT u.id, u.email, u.is_staff OR u.is_superuser, m.id, "  # noqa: S608
            "m.is_active OR m.pending_approval, m.first_name, m.last_name, m.picture, "
            f"m.last_import_task_id, m.last_import_line FROM {users} u LEFT JOIN {memberships} m "
            f"ON m.user_id = u.id AND m.organization_id = %s "
            f"WHERE u.email IN ({', '.join(['%s'] * len(emails))})"
        )
        params = [organization_id, *emails]
    return sql, params
