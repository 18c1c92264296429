"""Rate limits that know about accounts: per organization, and per e-mail tried at login."""

from __future__ import annotations

import hashlib
from typing import Any

from rest_framework.request import Request

from core.throttling import RateThrottle
from users.managers import UserManager


class OrganizationThrottle(RateThrottle):
    """Per organization, shared by all its members; counted once the organization is resolved.

    The identity is the resolved organization's id, never the path segment, so
    that addressing an organization by slug and by id spends the same budget.
    """

    identity = "organization"

    def get_identity(self, request: Request, view: Any) -> str | None:
        """The id of the organization the view resolved for this request."""
        access = getattr(view, "organization_access", None)
        return str(access.organization.pk) if access is not None else None


class EmailThrottle(RateThrottle):
    """Per e-mail address tried at login, whatever address the attempts come from."""

    identity = "email"

    def get_identity(self, request: Request, view: Any) -> str | None:
        """A digest of the address, so that cache keys hold no personal data."""
        data = request.data
        email = data.get("email") if hasattr(data, "get") else None
        if not isinstance(email, str) or not email.strip():
            return None
        # Addresses match case-insensitively at login, so they count that way too.
        normalized = UserManager.normalize_email(email)
        return hashlib.sha256(normalized.encode()).hexdigest()[:32]
