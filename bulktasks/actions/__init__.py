"""Pluggable actions: what a bulk task does with each line of its file.

An action is one module that declares its columns, validates a line and applies
a batch. See docs/actions.md for how to write one.
"""

from bulktasks.actions.base import Action, ActionContext, BatchResult, Column, ExportAction
from bulktasks.actions.registry import action_get, action_names, register

__all__ = [
    "Action",
    "ActionContext",
    "BatchResult",
    "Column",
    "ExportAction",
    "action_get",
    "action_names",
    "register",
]
