"""The base for every view under /v1/organizations/{organizationId}/."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from rest_framework import viewsets
from rest_framework.request import Request

from core import errors
from core.exceptions import EntityNotFound, InvalidParameter
from core.ids import OBJECT_ID_PATTERN
from core.openapi import raises
from users.permissions import OrganizationPermission
from users.selectors import OrganizationAccess, organization_access_get
from users.validators import SLUG_PATTERN

ORGANIZATION_ID_PATTERN = rf"^(({OBJECT_ID_PATTERN})|({SLUG_PATTERN}))$"
OBJECT_ID_PARAMETER = (re.compile(rf"^{OBJECT_ID_PATTERN}$"), f"must match ^{OBJECT_ID_PATTERN}$")


@raises(errors.INVALID_PARAMETER, errors.ENTITY_NOT_FOUND, errors.PERMISSION_DENIED)
class OrganizationViewSet(viewsets.GenericViewSet):
    """Resolves the organization once per request, then checks the method's permission.

    Order of checks: authentication (401), path parameters (400), organization
    and active membership (404, whether the organization is unknown or merely
    not the caller's), the method's permission (403), then the handler.
    """

    permission_classes = [OrganizationPermission]
    http_method_names = ["get", "post", "head"]
    # URL keyword -> (public name, pattern, what the pattern means).
    path_parameters: ClassVar[dict[str, tuple[str, re.Pattern[str], str]]] = {
        "organization_id": (
            "organizationId",
            re.compile(ORGANIZATION_ID_PATTERN),
            f"must match {ORGANIZATION_ID_PATTERN}",
        ),
    }

    organization_access: OrganizationAccess

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Authenticate, validate the path, resolve the organization, check permissions."""
        super().initial(request, *args, **kwargs)
        self.validate_path_parameters(kwargs)
        access = organization_access_get(
            user=request.user, organization_id_or_slug=kwargs["organization_id"]
        )
        if access is None:
            raise EntityNotFound()
        self.check_organization_permissions(request, access)
        self.organization_access = access

    def validate_path_parameters(self, kwargs: dict[str, Any]) -> None:
        """Answer 400, naming the parameter, for a path value of the wrong shape."""
        for keyword, (public_name, pattern, expected) in self.path_parameters.items():
            value = kwargs.get(keyword)
            if value is not None and not pattern.match(value):
                raise InvalidParameter(public_name, expected)

    def check_organization_permissions(self, request: Request, access: OrganizationAccess) -> None:
        """Deny with 403 unless every permission class grants the request."""
        for permission in self.get_permissions():
            check = getattr(permission, "has_organization_permission", None)
            if check is not None and not check(request, self, access):
                self.permission_denied(request, message=getattr(permission, "message", None))

    @property
    def organization(self) -> Any:
        """The organization named in the path, resolved for this request."""
        return self.organization_access.organization
