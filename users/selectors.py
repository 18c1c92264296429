"""Reads about organizations and what a member may do in them."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from core.ids import is_object_id
from users.models import Membership, Organization, User


@dataclass(frozen=True, slots=True)
class OrganizationAccess:
    """An organization as one active member sees it, with the permissions they hold there."""

    organization: Organization
    membership_id: str
    permissions: frozenset[str]

    def allows(self, permission: str) -> bool:
        """Tell whether the member holds a permission string."""
        return permission in self.permissions


def organization_access_get(
    *, user: User, organization_id_or_slug: str
) -> OrganizationAccess | None:
    """Resolve an organization by id or slug for an active member, in one query.

    Returns None when the organization does not exist or the user is not an active
    member of it: callers answer both the same way so that nothing leaks.
    """
    if is_object_id(organization_id_or_slug):
        match = Q(organization_id=organization_id_or_slug.lower())
    else:
        match = Q(organization__slug=organization_id_or_slug)
    # One row per role (or one row with None when there are none): the join
    # brings the organization and every permission string in a single query.
    rows = list(
        Membership.objects.filter(match, user_id=user.pk, is_active=True).values_list(
            "id",
            "organization_id",
            "organization__slug",
            "organization__name",
            "organization__created_at",
            "roles__organization_id",
            "roles__permissions",
        )
    )
    if not rows:
        return None
    membership_id, organization_id, slug, name, created_at, _, _ = rows[0]
    permissions: set[str] = set()
    for *_, role_organization_id, role_permissions in rows:
        # Only a role of this organization grants anything here, whatever
        # an edit elsewhere may have left attached to the membership.
        if role_organization_id == organization_id:
            permissions.update(role_permissions or ())
    organization = Organization(id=organization_id, slug=slug, name=name, created_at=created_at)
    organization._state.adding = False
    organization._state.db = "default"
    return OrganizationAccess(
        organization=organization,
        membership_id=membership_id,
        permissions=frozenset(permissions),
    )
