"""Reads about organizations and what a member may do in them."""

from __future__ import annotations

import functools
from dataclasses import dataclass

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


@functools.cache
def _caller_sql(vendor: str, *, by_id: bool) -> str:
    quote = connection.ops.quote_name
    # A slug matches ignoring case, as its uniqueness does: LOWER(slug) is the
    # very expression of the organization_slug_ci_unique index, so it serves
    # the lookup (the parameter is lower-cased by the caller).
    organization_key = (
        _organizations.column("id") if by_id else f"LOWER({_organizations.column('slug')})"
    )
    memberships = quote(Membership._meta.db_table)
    through = quote(Membership.roles.through._meta.db_table)
    roles = quote(Role._meta.db_table)
    # One row per role of the membership (one row with NULLs when there is none,
    # or no membership); a role of another organization grants nothing here.
    return (
        f"SELECT {_users.columns}, m.id, {_organizations.columns}, r.permissions "  # noqa: S608
        f"FROM {_users.table} "
        f"LEFT JOIN {_organizations.table} ON {organization_key} = %s "
        f"LEFT JOIN {memberships} m ON m.user_id = u.id AND m.organization_id = o.id "
        "AND m.is_active = %s "
        f"LEFT JOIN {through} mr ON mr.membership_id = m.id "
        f"LEFT JOIN {roles} r ON r.id = mr.role_id AND r.organization_id = o.id "
        "WHERE u.id = %s"
    )


def organization_access_get(*, user_id: str, organization_id_or_slug: str) -> Caller:
    """Load the token's user and their access to an organization (by id or slug), in one query.

    ``user`` is None when the user no longer exists or is deactivated; ``access`` is
    None as well when the organization does not exist or the user is not an active
    member of it: callers answer both the same way so that nothing leaks. Read on
    every request, so a deactivation or a change of roles takes effect at once.
    """
    by_id = is_object_id(organization_id_or_slug)
    # Ids are lower-case hex; slugs match ignoring case (see _caller_sql).
    key = organization_id_or_slug.lower()
    with connection.cursor() as cursor:
        cursor.execute(_caller_sql(connection.vendor, by_id=by_id), [key, True, user_id])
        rows = cursor.fetchall()
    if not rows:
        return Caller(user=None, access=None)
    user = _users.instance(rows[0][: len(_users)])
    if not user.is_active:
        return Caller(user=None, access=None)
    membership_id = rows[0][len(_users)]
    if membership_id is None:
        return Caller(user=user, access=None)
    organization_start = len(_users) + 1
    organization = _organizations.instance(
        rows[0][organization_start : organization_start + len(_organizations)]
    )
    permissions_field = Role._meta.get_field("permissions")
    permissions: set[str] = set()
    for row in rows:
        if row[-1] is not None:
            # The ORM passes the query's expression; JSONField only inspects it for key lookups.
            value = permissions_field.from_db_value(row[-1], None, connection)  # type: ignore[arg-type]
            permissions.update(value or ())
    access = OrganizationAccess(
        organization=organization,
        membership_id=membership_id,
        permissions=frozenset(permissions),
    )
    return Caller(user=user, access=access)
