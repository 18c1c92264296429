"""The catalog of permission strings the service knows; a role may hold only these."""

from __future__ import annotations

BULK_TASK_GET = "base.bulk.management.get"
BULK_TASK_LIST = "base.bulk.management.list"
BULK_TASK_CREATE = "base.bulk.management.create"
BULK_TASK_CANCEL = "base.bulk.management.cancel"
WEBHOOKS_MANAGE = "base.webhooks.manage"
BULK_TASK_EXPORT = "base.bulk.management.export"

PERMISSIONS: dict[str, str] = {
    BULK_TASK_GET: "Read one bulk task and its line report",
    BULK_TASK_LIST: "List the organization's bulk tasks",
    BULK_TASK_CREATE: "Upload a file to start a bulk task",
    BULK_TASK_CANCEL: "Cancel a pending or running bulk task",
    WEBHOOKS_MANAGE: "Register, list and remove the organization's webhook endpoints",
    BULK_TASK_EXPORT: "Start a bulk task that exports the organization's data to a file",
}


def unknown_permissions(permissions: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """Return the strings that are not in the catalog, in the order given."""
    return [permission for permission in permissions if permission not in PERMISSIONS]
