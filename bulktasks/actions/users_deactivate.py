"""``users.deactivate``: each line names a member whose membership of the organization ends."""

from __future__ import annotations

from typing import Any

from django.db import connection

from bulktasks.actions.base import Action, ActionContext, BatchResult, Column
from bulktasks.actions.registry import register
from bulktasks.actions.users_import import email_is_valid
from users.models import Membership, User

# The one reason for an e-mail the organization does not hold. It is the same
# whether the address has an account elsewhere, a staff account or none at all:
# an offboarding file must not become a way to probe other organizations.
NOT_A_MEMBER = "email: not a member of this organization"
ALREADY_INACTIVE = "membership is already deactivated"
# An offboarding file naming its own uploader would lock them out mid-task.
OWN_MEMBERSHIP = "email: this is the uploader's own membership; another member must end it"

# SQLite takes each e-mail as its own parameter; PostgreSQL takes a chunk at once.
_SQLITE_LOOKUP_BATCH = 500


@register
class UsersDeactivate(Action):
    """Bulk offboarding: deactivate the membership of each member a line names.

    Outcomes per line:
    - an active member (or one whose membership waits for a superuser's
      approval): the membership is switched off (update). Their tokens are then
      refused in this organization on their next request, since every request
      checks an active membership;
    - a member already deactivated: skipped;
    - the uploader's own membership: an error, so a file cannot lock out the
      person running it;
    - an e-mail that is not a member here: an error, with one reason whatever
      the address is elsewhere;
    - a second line for the same e-mail: an error (found by the scan, through ``key``).

    Only the membership of this organization changes: the person's account and
    their memberships of other organizations are never touched. ``override`` has
    no meaning here, and a task asking for it is refused at creation.
    """

    name = "users.deactivate"
    takes_override = False
    columns = (Column("email", required=True, max_length=256),)

    def validate(self, values: dict[str, str]) -> tuple[Any, str | None]:
        raw = values.get("email", "")
        if len(raw) > 256:
            return None, "email: longer than 256 characters"
        email = raw.strip()
        if not email:
            return None, "email: is required"
        if not email_is_valid(email):
            return None, f"email: {email[:100]!r} is not a valid e-mail address"
        return email.lower(), None

    def key(self, values: dict[str, str]) -> str | None:
        """The normalized e-mail, as ``validate`` makes it: one line per person."""
        return User.objects.normalize_email(values.get("email", "")) or None

    def duplicate_reason(self, first_line: int) -> str:
        return f"email: duplicate of line {first_line}"

    def apply(self, *, context: ActionContext, rows: list[tuple[int, Any]]) -> BatchResult:
        result = BatchResult()
        lines: dict[str, int] = {}
        for line, email in rows:
            if email in lines:
                result.errored.append((line, f"email: duplicate of line {lines[email]}"))
            else:
                lines[email] = line
        memberships = _memberships_locked(
            emails=list(lines), organization_id=context.organization_id
        )
        ending: list[str] = []
        for email, line in lines.items():
            membership = memberships.get(email)
            if membership is None:
                result.errored.append((line, NOT_A_MEMBER))
            elif membership[2] == context.created_by_id:
                result.errored.append((line, OWN_MEMBERSHIP))
            elif membership[1]:
                ending.append(membership[0])
                result.updates += 1
            else:
                result.skipped.append((line, ALREADY_INACTIVE))
        if ending:
            # A membership waiting for approval ends too: it would otherwise
            # grant access the day a superuser approved it.
            Membership.objects.filter(pk__in=ending).update(is_active=False, pending_approval=False)
        result.errored.sort()
        return result


def _memberships_locked(
    *, emails: list[str], organization_id: str
) -> dict[str, tuple[str, bool, str]]:
    """Each e-mail's membership here as ``(id, still a member, account id)``, locked until commit.

    The lock makes the decision and the update one step: a second task
    deactivating the same person waits, then finds the membership ended and
    skips the line, so each line's outcome is exact even when tasks overlap.
    """
    batch = len(emails) if connection.vendor == "postgresql" else _SQLITE_LOOKUP_BATCH
    found: dict[str, tuple[str, bool, str]] = {}
    for start in range(0, len(emails), max(batch, 1)):
        memberships = (
            Membership.objects.select_for_update(of=("self",), no_key=True)
            .filter(organization_id=organization_id, user__email__in=emails[start : start + batch])
            .values_list("pk", "user__email", "is_active", "pending_approval", "user_id")
        )
        for pk, email, is_active, pending, user_id in memberships:
            found[email] = (pk, is_active or pending, user_id)
    return found
