"""``users.export``: the organization's active members, as ``users.import`` reads them, and more."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from bulktasks.actions.base import Column, ExportAction
from bulktasks.actions.registry import register
from core.serializers import timestamp
from users.models import Membership, Role, User

# Rows fetched from the database at a time (a server-side cursor on PostgreSQL).
_FETCH = 2000


@register
class UsersExport(ExportAction):
    """Every active member of the organization: the organization's own profile of them, roles, joining date.

    A member is active when both the membership and the account are: what lets
    them use the organization. The profile columns are the membership's (the
    organization's own, as ``users.import`` writes them), so a file exported from
    one organization imports into another as it is: ``users.import`` accepts and
    ignores ``roles`` and ``joinedAt``. Rows come in membership id order, which is
    the order members joined in.
    """

    name = "users.export"
    title = "users"
    columns = (
        Column("email"),
        Column("firstName"),
        Column("lastName"),
        Column("picture"),
        Column("roles"),
        Column("joinedAt"),
    )

    def chunk_ends(self, *, organization_id: str, size: int) -> Iterator[str]:
        active = _active_memberships(organization_id)
        end = active.order_by("-id").values_list("id", flat=True).first()
        if end is None:
            return
        after = ""
        while True:
            following = active.filter(id__lte=end)
            if after:
                following = following.filter(id__gt=after)
            # Keyset pagination: the size-th member after the last end, one range
            # scan of the membership_org_active index that reads only ids.
            found = list(following.order_by("id").values_list("id", flat=True)[size - 1 : size])
            if not found or found[0] == end:
                yield end
                return
            yield found[0]
            after = found[0]

    def count(self, *, organization_id: str, at_most: int) -> int:
        # COUNT over a LIMIT: an organization far past the limit is not counted whole.
        members = _active_memberships(organization_id).filter(user__is_active=True)
        return members[:at_most].count()

    def rows(
        self, *, organization_id: str, after: str, upto: str, as_of: datetime | None = None
    ) -> Iterator[Mapping[str, Any]]:
        sql, params = _rows_query(organization_id, after, upto, as_of)
        # A server-side cursor on PostgreSQL: the rows come a fetch at a time.
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(_FETCH):
                for email, first, last, picture, joined, roles in batch:
                    yield {
                        "email": email,
                        "firstName": first,
                        "lastName": last,
                        "picture": picture,
                        "roles": sorted(json.loads(roles)) if roles else [],
                        "joinedAt": timestamp(_aware(joined)),
                    }


def _active_memberships(organization_id: str) -> Any:
    return Membership.objects.filter(organization_id=organization_id, is_active=True)


def _rows_query(
    organization_id: str, after: str, upto: str, as_of: datetime | None
) -> tuple[str, list[Any]]:
    """The members with ids in (after, upto], joined by ``as_of``, and their role names.

    Each member's account and roles are looked up by index, one member at a
    time: as a join, PostgreSQL's planner hashed the whole users table for
    every chunk (a sequential scan of a million accounts, 5,000 rows wanted).
    A LIMIT keeps the account a subquery run per member, as users.import does.
    A role of another organization attached to a membership grants nothing
    here, so it is not listed either.
    """
    memberships = Membership._meta.db_table
    users = User._meta.db_table
    roles = Role._meta.db_table
    through = Membership.roles.through._meta.db_table
    aggregate = (
        "json_agg(r.name)::text"
        if connection.vendor == "postgresql"
        else "json_group_array(r.name)"
    )
    role_names = (
        f"(SELECT {aggregate} FROM {through} mr JOIN {roles} r "  # noqa: S608 - names from the models
        "ON r.id = mr.role_id AND r.organization_id = m.organization_id "
        "WHERE mr.membership_id = m.id)"
    )
    if connection.vendor == "postgresql":
        account = (
            f"CROSS JOIN LATERAL (SELECT email FROM {users} "  # noqa: S608
            "WHERE id = m.user_id AND is_active LIMIT 1) u"
        )
    else:
        account = f"JOIN {users} u ON u.id = m.user_id AND u.is_active"
    sql = (
        f"SELECT u.email, m.first_name, m.last_name, m.picture, m.created_at, {role_names} "  # noqa: S608
        f"FROM {memberships} m {account} "
        "WHERE m.organization_id = %s AND m.is_active AND m.id > %s AND m.id <= %s "
        f"{'AND m.created_at <= %s ' if as_of is not None else ''}"
        "ORDER BY m.id"
    )
    params: list[Any] = [organization_id, after, upto]
    if as_of is not None:
        # As the ORM writes it: SQLite compares the stored text, in its own format.
        params.append(connection.ops.adapt_datetimefield_value(as_of))
    return sql, params


def _aware(value: Any) -> Any:
    """A timestamp as the ORM gives it: SQLite hands raw SQL a naive string or datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value
