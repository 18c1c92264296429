"""Writes for accounts, organizations, roles and memberships."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from rest_framework_simplejwt import settings as simplejwt_settings
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

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
    # A refused pending membership is an ordinary deactivated one from now on.
    membership.pending_approval = False
    membership.save(update_fields=["is_active", "pending_approval"])
    return membership


@transaction.atomic
def membership_approve_pending(*, memberships: QuerySet[Membership]) -> int:
    """Give access to memberships an import held back for staff accounts; return how many."""
    return memberships.filter(pending_approval=True).update(is_active=True, pending_approval=False)


def auth_token_obtain(*, email: str, password: str) -> dict[str, str]:
    """Exchange an active account's e-mail and password for a refresh and an access token."""
    user = authenticate(email=User.objects.normalize_email(email), password=password)
    if user is None:
        raise InvalidCredentials(
            "Invalid credentials: no active account with that e-mail and password"
        )
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


@transaction.atomic
def auth_token_refresh(*, refresh: str) -> dict[str, str]:
    """Exchange a refresh token of a still-active user for a new access and refresh token.

    With rotation on (the default), the refresh token is revoked in the same
    transaction and a new one is returned: each refresh token is good for one
    refresh, so a copy that leaked is worthless once its owner has used it.
    """
    options = _jwt_settings()
    token = _refresh_token_verify(refresh)
    user = User.objects.filter(pk=token.get(options.USER_ID_CLAIM), is_active=True).first()
    if user is None:
        raise InvalidToken()
    if not options.ROTATE_REFRESH_TOKENS:
        return {"access": str(token.access_token)}
    # Two requests racing with the same token: only the one that revokes it wins.
    if options.BLACKLIST_AFTER_ROTATION and not refresh_token_revoke(token=token):
        raise InvalidToken()
    rotated = RefreshToken.for_user(user)
    return {"access": str(rotated.access_token), "refresh": str(rotated)}


def auth_token_revoke(*, refresh: str) -> None:
    """Log out: revoke a refresh token, so that it can never be refreshed again.

    The token of a deactivated or deleted user is revoked as well (a user made
    active again must not find it working), then refused with 4004 like any
    other use of it: the user is checked on every request.
    """
    options = _jwt_settings()
    token = _refresh_token_verify(refresh)
    refresh_token_revoke(token=token)
    if not User.objects.filter(pk=token.get(options.USER_ID_CLAIM), is_active=True).exists():
        raise InvalidToken()


@transaction.atomic
def refresh_token_revoke(*, token: RefreshToken) -> bool:
    """Blacklist a verified refresh token; False if it already was."""
    options = _jwt_settings()
    user_id = token.get(options.USER_ID_CLAIM)
    # A token issued before revocation was switched on has no row yet; its
    # user may be gone since, so the link is looked up rather than assumed.
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=token[options.JTI_CLAIM],
        defaults={
            "user": lambda: User.objects.filter(pk=user_id).first(),  # type: ignore[misc]
            "created_at": token.current_time,
            "expires_at": datetime_from_epoch(token["exp"]),
        },
    )
    _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    return created


def _jwt_settings() -> Any:
    """simplejwt's settings, read through its module: it replaces the object when they change."""
    return simplejwt_settings.api_settings


def _refresh_token_verify(refresh: str) -> RefreshToken:
    """Decode a refresh token: signature, algorithm, expiry, type and blacklist, or 4004."""
    try:
        return RefreshToken(refresh)  # type: ignore[arg-type]
    except TokenError as exc:
        raise InvalidToken() from exc
