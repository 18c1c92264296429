"""The registry of actions, filled from settings.BULK_TASK_ACTIONS when the app starts."""

from __future__ import annotations

import re
from importlib import import_module
from typing import TypeVar

from django.conf import settings

from bulktasks.actions.base import Action

_registry: dict[str, Action] = {}
ActionClass = TypeVar("ActionClass", bound=type[Action])

# Names are identifiers such as ``users.import``: they go into URLs as filters,
# where a name of any other characters could only be refused.
ACTION_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,999}"
ACTION_NAME_RE = re.compile(rf"^{ACTION_NAME_PATTERN}$")


def register(action_class: ActionClass) -> ActionClass:
    """Class decorator: make an action available under its ``name``."""
    if not ACTION_NAME_RE.fullmatch(action_class.name):
        raise ValueError(
            f"Action name {action_class.name!r} must be letters, digits, '.', '_' or '-'"
        )
    if action_class.name in _registry and type(_registry[action_class.name]) is not action_class:
        raise ValueError(f"Two actions are named {action_class.name!r}")
    _registry[action_class.name] = action_class()
    return action_class


def action_get(name: str) -> Action | None:
    """The action registered under ``name``, or None."""
    return _registry.get(name)


def action_names() -> list[str]:
    """Every registered action name, sorted."""
    return sorted(_registry)


def actions_load() -> None:
    """Import every module listed in settings.BULK_TASK_ACTIONS, so that each registers itself."""
    for module in settings.BULK_TASK_ACTIONS:
        import_module(module)
