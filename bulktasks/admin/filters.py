"""List filters that do not scan the task table to offer their choices."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
)

from bulktasks.actions import action_names
from bulktasks.models import BulkTask


class ActionListFilter(admin.SimpleListFilter):
    """The registered actions, so that listing the choices does not read every task."""

    # Django's default for a plain field is SELECT DISTINCT over the whole
    # table, on every page of the task list; the registry already knows them.
    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        """One choice per registered action."""
        return [(name, name) for name in action_names()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[BulkTask]) -> QuerySet[BulkTask]:
        """The tasks of the chosen action, or all of them."""
        value = self.value()
        return queryset.filter(action=value) if value else queryset
