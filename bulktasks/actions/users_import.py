"""``users.import``: each line is a person who becomes a member of the organization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.utils import timezone

from bulktasks.actions.base import Action, ActionContext, BatchResult, Column
from bulktasks.actions.registry import register
from users.models import Membership, User

_url_validator = URLValidator(schemes=["http", "https"])


@dataclass(frozen=True, slots=True)
class Person:
    """A validated line: a normalized e-mail and the optional profile fields given."""

    email: str
    first_name: str
    last_name: str
    picture: str

    def changes_for(self, user: User) -> dict[str, str]:
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
    - a deactivated membership is skipped: an import never restores access;
    - a second line for the same e-mail in the same file is an error.
    """

    name = "users.import"
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
        try:
            validate_email(email)
        except ValidationError:
            return None, f"email: {email[:100]!r} is not a valid e-mail address"
        picture = values.get("picture", "").strip()
        if picture:
            try:
                _url_validator(picture)
            except ValidationError:
                return None, "picture: not a valid http(s) URL"
        person = Person(
            email=User.objects.normalize_email(email),
            first_name=values.get("firstName", "").strip(),
            last_name=values.get("lastName", "").strip(),
            picture=picture,
        )
        return person, None

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

        users = {
            user.email: user
            for user in User.objects.filter(email__in=list(people)).only(
                "id", "email", "first_name", "last_name", "picture"
            )
        }
        memberships = {
            membership.user_id: membership
            for membership in Membership.objects.filter(
                organization_id=context.organization_id, user_id__in=[u.pk for u in users.values()]
            ).only("id", "user_id", "is_active", "last_import_task_id", "last_import_line")
        }

        new_users: list[User] = []
        new_memberships: list[Membership] = []
        changed_users: list[User] = []
        changed_fields: set[str] = set()
        touched: list[Membership] = []
        for email, (line, person) in people.items():
            user = users.get(email)
            if user is None:
                user = User(
                    email=email,
                    first_name=person.first_name,
                    last_name=person.last_name,
                    picture=person.picture,
                    password=make_password(None),
                )
                new_users.append(user)
            membership = memberships.get(user.pk)
            if membership is None:
                new_memberships.append(
                    Membership(
                        user=user,
                        organization_id=context.organization_id,
                        last_import_task_id=context.bulk_task_id,
                        last_import_line=line,
                    )
                )
                result.inserts += 1
                continue
            if membership.last_import_task_id == context.bulk_task_id:
                result.errored.append(
                    (line, f"email: duplicate of line {membership.last_import_line}")
                )
                continue
            membership.last_import_task_id = context.bulk_task_id
            membership.last_import_line = line
            touched.append(membership)
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
            for name, value in changes.items():
                setattr(user, name, value)
            changed_fields.update(changes)
            changed_users.append(user)
            result.updates += 1

        User.objects.bulk_create(new_users)
        Membership.objects.bulk_create(new_memberships)
        if changed_users:
            # bulk_update skips auto_now, so the timestamp is set by hand.
            now = timezone.now()
            for user in changed_users:
                user.updated_at = now
            User.objects.bulk_update(changed_users, [*sorted(changed_fields), "updated_at"])
        if touched:
            Membership.objects.bulk_update(touched, ["last_import_task_id", "last_import_line"])
        result.errored.sort()
        return result
