"""Writes for accounts, organizations, roles and memberships."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken

from core.exceptions import InvalidCredentials, InvalidToken
from users.catalog import unknown_permissions
from users.models import Membership, Organization, Role, User


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    picture: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> User:
    """Create an account; without a password it cannot log in until one is set."""
    user = User(
        email=User.objects.normalize_email(email),
        first_name=first_name,
        last_name=last_name,
        picture=picture,
        is_staff=is_staff,
        is_superuser=is_superuser,
    )
    user.set_password(password)
    user.full_clean()
    user.save()
    return user


@transaction.atomic
def organization_create(*, slug: str, name: str) -> Organization:
    """Create an organization (a tenant)."""
    organization = Organization(slug=slug, name=name)
    organization.full_clean()
    organization.save()
    return organization


@transaction.atomic
def role_create(*, organization: Organization, name: str, permissions: Iterable[str]) -> Role:
    """Create a role; every permission must be in the catalog."""
    permission_list = sorted(set(permissions))
    unknown = unknown_permissions(permission_list)
    if unknown:
        raise ValidationError({"permissions": f"Unknown permissions: {', '.join(unknown)}"})
    role = Role(organization=organization, name=name, permissions=permission_list)
    role.full_clean()
    role.save()
    return role


@transaction.atomic
def membership_create(
    *, user: User, organization: Organization, roles: Iterable[Role] = ()
) -> Membership:
    """Make a user an active member of an organization with the given roles."""
    membership = Membership(user=user, organization=organization)
    membership.full_clean()
    membership.save()
    membership_set_roles(membership=membership, roles=roles)
    return membership


@transaction.atomic
def membership_set_roles(*, membership: Membership, roles: Iterable[Role]) -> Membership:
    """Replace a membership's roles; a role of another organization is refused."""
    role_list = list(roles)
    foreign = [
        role.name for role in role_list if role.organization_id != membership.organization_id
    ]
    if foreign:
        raise ValidationError({"roles": f"Roles of another organization: {', '.join(foreign)}"})
    membership.roles.set(role_list)
    return membership


@transaction.atomic
def membership_deactivate(*, membership: Membership) -> Membership:
    """Remove a member's access without deleting the history that names them."""
    membership.is_active = False
    membership.save(update_fields=["is_active"])
    return membership


def auth_token_obtain(*, email: str, password: str) -> dict[str, str]:
    """Exchange an active account's e-mail and password for a refresh and an access token."""
    user = authenticate(email=User.objects.normalize_email(email), password=password)
    if user is None:
        raise InvalidCredentials(
            "Invalid credentials: no active account with that e-mail and password"
        )
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def auth_token_refresh(*, refresh: str) -> dict[str, str]:
    """Mint a new access token from a refresh token whose user is still active."""
    try:
        token = RefreshToken(refresh)  # type: ignore[arg-type]
    except TokenError as exc:
        raise InvalidToken() from exc
    user_id = token.get(jwt_settings.USER_ID_CLAIM)
    if not User.objects.filter(pk=user_id, is_active=True).exists():
        raise InvalidToken()
    return {"access": str(token.access_token)}
