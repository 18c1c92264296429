"""Signals other apps listen to, so that bulk tasks need not know who listens."""

from __future__ import annotations

from django.dispatch import Signal

# Sent with ``bulk_task`` (the task) and ``status`` ("completed" or "failed") by
# ``bulktasks.processing.finish`` once a task reaches a final status, inside the
# transaction that writes that status: a receiver's writes commit or roll back
# with it, and work for after the commit goes in ``transaction.on_commit``.
# Every path that ends a task goes through ``task_complete``, ``task_fail`` or
# ``bulk_task_cancel``, which all call ``finish.task_finished``.
bulk_task_finished = Signal()
