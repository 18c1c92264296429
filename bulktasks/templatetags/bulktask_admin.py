"""Template tags of the bulk task admin: the index page's dashboard, and numbers as staff read them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

from bulktasks.admin import list_cells
from bulktasks.dashboard import Dashboard, dashboard_get

register = template.Library()


@register.simple_tag(takes_context=True)
def bulk_task_dashboard(context: dict[str, Any]) -> Dashboard | None:
    """The last 24 hours of tasks, for staff who may read tasks; None for the others."""
    request = context.get("request")
    if request is None or not request.user.has_perm("bulktasks.view_bulktask"):
        return None
    return dashboard_get()


@register.filter
def age(value: dt.timedelta | None) -> str:
    """A wait as "3 d 4 h", "2 h 5 min" or "7 min"."""
    if value is None:
        return ""
    minutes = int(value.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


@register.filter
def query_time(value: dt.datetime) -> str:
    """A moment as the task list's ``created_at__gte`` filter reads it, to the second."""
    return value.replace(microsecond=0).isoformat(sep=" ")


@register.filter
def grouped(value: int) -> str:
    """A count with its thousands grouped: 200,000."""
    return list_cells.grouped(value)
