"""Permission classes: which permission string each HTTP method needs in an organization."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from users import catalog
from users.selectors import OrganizationAccess


class OrganizationPermission(BasePermission):
    """Grants a request when the caller's membership holds the permission its method needs.

    Subclasses declare ``method_permissions``. A method that is not mapped is not
    allowed at all, so forgetting an entry fails closed.
    """

    method_permissions: ClassVar[Mapping[str, str]] = {}
    message = "Permission denied"

    def has_permission(self, request: Request, view: Any) -> bool:
        """Only authenticated callers reach the organization check."""
        return bool(request.user and request.user.is_authenticated)

    def required_permission(self, request: Request) -> str:
        """The permission string the request's method needs."""
        try:
            return self.method_permissions[request.method or ""]
        except KeyError:
            raise MethodNotAllowed(request.method or "") from None

    def has_organization_permission(
        self, request: Request, view: Any, access: OrganizationAccess
    ) -> bool:
        """Check the member's permissions in the resolved organization."""
        required = self.required_permission(request)
        self.message = f"Permission denied: {required} is required"
        return access.allows(required)


class BulkTaskPermission(OrganizationPermission):
    """One bulk task and its report."""

    method_permissions = {"GET": catalog.BULK_TASK_GET, "HEAD": catalog.BULK_TASK_GET}


class BulkTaskCollectionPermission(OrganizationPermission):
    """The organization's list of bulk tasks, and the uploads and exports that create new ones.

    A POST needs the permission of the action it names (``create`` for one that
    reads a file, ``export`` for one that produces one), which only the form
    tells: here it passes with either, and the view checks the action's own
    once the form is read.
    """

    method_permissions = {
        "GET": catalog.BULK_TASK_LIST,
        "HEAD": catalog.BULK_TASK_LIST,
        "POST": catalog.BULK_TASK_CREATE,
    }
    # Any one of these lets a POST reach the view.
    post_permissions = (catalog.BULK_TASK_CREATE, catalog.BULK_TASK_EXPORT)

    def has_organization_permission(
        self, request: Request, view: Any, access: OrganizationAccess
    ) -> bool:
        """For a POST, either permission that creates a task; otherwise the method's."""
        if request.method != "POST":
            return super().has_organization_permission(request, view, access)
        self.message = f"Permission denied: {' or '.join(self.post_permissions)} is required"
        return any(access.allows(permission) for permission in self.post_permissions)


class BulkTaskCancelPermission(OrganizationPermission):
    """Cancelling a pending or running bulk task."""

    method_permissions = {"POST": catalog.BULK_TASK_CANCEL}


class WebhookPermission(OrganizationPermission):
    """The organization's webhook endpoints: list, register and remove them."""

    method_permissions = {
        "GET": catalog.WEBHOOKS_MANAGE,
        "HEAD": catalog.WEBHOOKS_MANAGE,
        "POST": catalog.WEBHOOKS_MANAGE,
        "DELETE": catalog.WEBHOOKS_MANAGE,
    }
