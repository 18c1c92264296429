"""Reads about organizations and what a member may do in them."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models.functions import Lower

from core.ids import is_object_id
from core.rows import RowReader
from users.models import Membership, Organization, Role, User


@dataclass(frozen=True, slots=True)
class OrganizationAccess:
    """An organization as one active member sees it, with the permissions they hold there."""

    organization: Organization
    membership_id: str
    permissions: frozenset[str]

    def allows(self, permission: str) -> bool:
        """Tell whether the member holds a permission string."""
        return permission in self.permissions


# What a request needs of the caller and the organization; the rest stays
# deferred (and is loaded if something reads it after all).
_users = RowReader(
    User,
    "u",
    only=("email", "first_name", "last_name", "picture", "is_active", "is_staff", "is_superuser"),
)
_organizations = RowReader(Organization, "o", only=("slug", "name"))


def organization_get(*, id_or_slug: str) -> Organization | None:
    """An organization by its id, or by its slug matched ignoring case; None if there is none."""
    if is_object_id(id_or_slug):
        organizations = Organization.objects.filter(pk=id_or_slug.lower())
    else:
        # Lower("slug") is the expression of the organization_slug_ci_unique
        # index; slug__iexact would compile to UPPER(...) LIKE on PostgreSQL,
        # which no index serves.
        organizations = Organization.objects.alias(slug_lower=Lower("slug")).filter(
            slug_lower=id_or_slug.lower()
        )
    return organizations.first()


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a bearer token names, as the database knows them now, and their access."""

    user: User | None
    access: OrganizationAccess | None


# The permission lists of the membership's roles as one JSON array of arrays, so
# that the caller is one row whatever their number of roles; a role of another
# organization grants nothing here. NULL (PostgreSQL) or [] (SQLite) when none.
_ROLE_PERMISSIONS_SQL = {
    "postgresql": "(SELECT json_agg(r.permissions)::text FROM {through} mr "
    "JOIN {roles} r ON r.id = mr.role_id AND r.organization_id = m.organization_id "
    "WHERE mr.membership_id = m.id)",
    "sqlite": "(SELECT json_group_array(json(r.permissions)) FROM {through} mr "
    "JOIN {roles} r ON r.id = mr.role_id AND r.organization_id = m.organization_id "
    "WHERE mr.membership_id = m.id)",
}


@functools.cache
def caller_sql(vendor: str, *, by_id: bool, columns: str = "", joins: str = "") -> str:
    """The statement that reads the caller, their membership and roles, and the organization.

    Another app's selector may add ``columns`` (after the caller's) and ``joins``
    (the alias ``m`` is the active membership, NULL for anyone else) to read what
    its endpoint needs in the same round trip; ``caller_params`` orders the
    parameters, ``caller_from_row`` reads the caller's part of the row.
    """
    quote = connection.ops.quote_name
    # A slug matches ignoring case, as its uniqueness does: LOWER(slug) is the
    # very expression of the organization_slug_ci_unique index, so it serves
    # the lookup (the parameter is lower-cased by the caller).
    organization_key = (
        _organizations.column("id") if by_id else f"LOWER({_organizations.column('slug')})"
    )
    memberships = quote(Membership._meta.db_table)
    permissions = _ROLE_PERMISSIONS_SQL[vendor].format(
        through=quote(Membership.roles.through._meta.db_table),
        roles=quote(Role._meta.db_table),
    )
    extra_columns = f", {columns}" if columns else ""
    return (
        f"SELECT {_users.columns}, m.id, {_organizations.columns}, {permissions}"  # noqa: S608
        f"{extra_columns} FROM {_users.table} "
        f"LEFT JOIN {_organizations.table} ON {organization_key} = %s "
        f"LEFT JOIN {memberships} m ON m.user_id = u.id AND m.organization_id = o.id "
        f"AND m.is_active = %s {joins} WHERE u.id = %s"
    )


def caller_key(organization_id_or_slug: str) -> tuple[bool, str]:
    """Whether the organization is named by id, and the key to look it up by."""
    # Ids are lower-case hex; slugs match ignoring case, on LOWER(slug) (see caller_sql).
    return is_object_id(organization_id_or_slug), organization_id_or_slug.lower()


def caller_params(
    *,
    user_id: str,
    organization_key: str,
    column_params: Sequence[Any] = (),
    join_params: Sequence[Any] = (),
) -> list[Any]:
    """The parameters of ``caller_sql``, with those of the extra columns and joins in place."""
    return [*column_params, organization_key, True, *join_params, user_id]


# Where the caller's part of a row of ``caller_sql`` ends.
CALLER_COLUMNS = len(_users) + 1 + len(_organizations) + 1


def caller_from_row(row: Sequence[Any] | None, *, using: Any = None) -> Caller:
    """The caller a row of ``caller_sql`` describes (None: no such user); ``using``: its connection."""
    if row is None:
        return Caller(user=None, access=None)
    user = _users.instance(row[: len(_users)], using=using)
    if not user.is_active:
        return Caller(user=None, access=None)
    membership_id = row[len(_users)]
    if membership_id is None:
        return Caller(user=user, access=None)
    organization_start = len(_users) + 1
    organization = _organizations.instance(
        row[organization_start : organization_start + len(_organizations)], using=using
    )
    permissions: set[str] = set()
    for role_permissions in json.loads(row[CALLER_COLUMNS - 1] or "[]"):
        permissions.update(role_permissions or ())
    access = OrganizationAccess(
        organization=organization,
        membership_id=membership_id,
        permissions=frozenset(permissions),
    )
    return Caller(user=user, access=access)


def organization_access_get(*, user_id: str, organization_id_or_slug: str) -> Caller:
    """Load the token's user and their access to an organization (by id or slug), in one query.

    ``user`` is None when the user no longer exists or is deactivated; ``access`` is
    None as well when the organization does not exist or the user is not an active
    member of it: callers answer both the same way so that nothing leaks. Read on
    every request, so a deactivation or a change of roles takes effect at once.
    """
    by_id, key = caller_key(organization_id_or_slug)
    with connection.cursor() as cursor:
        cursor.execute(
            caller_sql(connection.vendor, by_id=by_id),
            caller_params(user_id=user_id, organization_key=key),
        )
        row = cursor.fetchone()
    return caller_from_row(row)
