"""The base for every view under /v1/organizations/{organizationId}/."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from rest_framework import viewsets
from rest_framework.request import Request

from core import errors
from core.exceptions import EntityNotFound, InvalidParameter, InvalidToken
from core.ids import OBJECT_ID_PATTERN
from core.negotiation import FirstRendererNegotiation
from core.openapi import raises
from core.throttling import UserThrottle
from users.authentication import DeferredUserBearerAuthentication
from users.models import Organization, User
from users.permissions import OrganizationPermission
from users.selectors import Caller, OrganizationAccess, organization_access_get
from users.throttling import OrganizationThrottle
from users.validators import SLUG_PATTERN

ORGANIZATION_ID_PATTERN = rf"^(({OBJECT_ID_PATTERN})|({SLUG_PATTERN}))$"
OBJECT_ID_PARAMETER = (re.compile(rf"^{OBJECT_ID_PATTERN}$"), f"must match ^{OBJECT_ID_PATTERN}$")


@raises(errors.INVALID_PARAMETER, errors.ENTITY_NOT_FOUND, errors.PERMISSION_DENIED)
class OrganizationViewSet(viewsets.GenericViewSet):
    """Resolves the organization once per request, then checks the method's permission.

    Order of checks: authentication (401: the token here, its user in the
    organization query), the caller's rate limit (429), path parameters (400),
    organization and active membership (404, whether the organization is
    unknown or merely not the caller's), the method's permission (403), the
    organization's rate limit (429), then the handler.
    """

    # The user is loaded with the organization, in one query (see ``initial``).
    authentication_classes = [DeferredUserBearerAuthentication]
    permission_classes = [OrganizationPermission]
    http_method_names = ["get", "post", "head"]
    content_negotiation_class = FirstRendererNegotiation
    # Per-user limits run where DRF checks throttles, before the organization is
    # looked up, so that probing organizations spends the caller's budget too.
    throttle_classes = [UserThrottle]
    organization_throttle_classes = [OrganizationThrottle]
    # HTTP method -> the rate-limit scope it counts against; others count as reads.
    throttle_scopes: ClassVar[Mapping[str, str]] = {"GET": "reads", "HEAD": "reads"}
    # URL keyword -> (public name, pattern, what the pattern means).
    path_parameters: ClassVar[dict[str, tuple[str, re.Pattern[str], str]]] = {
        "organization_id": (
            "organizationId",
            re.compile(ORGANIZATION_ID_PATTERN),
            f"must match {ORGANIZATION_ID_PATTERN}",
        ),
    }

    organization_access: OrganizationAccess
    # The caller as the database holds them, an active member of the organization.
    member: User

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Authenticate, resolve the organization, validate the path, check permissions and limits."""
        self.throttle_scope = self.throttle_scopes.get(request.method or "", "reads")
        self._caller_confirmed = False
        super().initial(request, *args, **kwargs)
        organization_key = kwargs["organization_id"]
        if not self.path_parameters["organization_id"][1].fullmatch(organization_key):
            # The 400 for it comes once the caller is confirmed; until then look
            # them up with a key no organization has: a malformed one may hold
            # what the database refuses outright (PostgreSQL: a NUL byte).
            organization_key = ""
        caller = self.get_caller(user_id=str(request.user.pk), organization_key=organization_key)
        if caller.user is None:
            raise InvalidToken()
        # From here on, the user as the database holds them, not the token's placeholder.
        request.user = caller.user
        self._caller_confirmed = True
        self.check_throttles(request)
        self.validate_path_parameters(kwargs)
        if caller.access is None:
            raise EntityNotFound()
        self.check_organization_permissions(request, caller.access)
        self.organization_access = caller.access
        self.member = caller.user
        self.check_organization_throttles(request)

    def get_caller(self, *, user_id: str, organization_key: str) -> Caller:
        """The token's user as the database holds them, and their access to the organization.

        A view may read what its handler needs in the same round trip (see
        ``BulkTaskViewSet``), as long as the caller is read afresh each time.
        """
        return organization_access_get(user_id=user_id, organization_id_or_slug=organization_key)

    def check_throttles(self, request: Request) -> None:
        """Count the request against the caller's budget, once the database confirmed the caller.

        DRF checks throttles inside ``initial``, before the user is loaded: a
        token of a deactivated user must get its 401, not a 429 nor a count.
        """
        if getattr(self, "_caller_confirmed", True):
            super().check_throttles(request)

    def validate_path_parameters(self, kwargs: dict[str, Any]) -> None:
        """Answer 400, naming the parameter, for a path value of the wrong shape."""
        for keyword, (public_name, pattern, expected) in self.path_parameters.items():
            value = kwargs.get(keyword)
            # fullmatch: ``$`` alone also matches before a final newline (``%0A``).
            if value is not None and not pattern.fullmatch(value):
                raise InvalidParameter(public_name, expected)

    def check_organization_permissions(self, request: Request, access: OrganizationAccess) -> None:
        """Deny with 403 unless every permission class grants the request."""
        for permission in self.get_permissions():
            check = getattr(permission, "has_organization_permission", None)
            if check is not None and not check(request, self, access):
                self.permission_denied(request, message=getattr(permission, "message", None))

    def check_organization_throttles(self, request: Request) -> None:
        """Count the request against the resolved organization's budget; 429 when it is spent."""
        refused = False
        wait = 0.0
        for throttle_class in self.organization_throttle_classes:
            throttle = throttle_class()
            if not throttle.allow_request(request, self):
                refused = True
                wait = max(wait, throttle.wait() or 0.0)
        if refused:
            self.throttled(request, wait)

    @property
    def organization(self) -> Organization:
        """The organization named in the path, resolved for this request."""
        return self.organization_access.organization
