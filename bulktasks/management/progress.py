"""Running a task in a command's own process: whom it is recorded for, its progress bar, its time."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.core.management.base import CommandError, OutputWrapper

from bulktasks.models import BulkTask
from bulktasks.processing import bulk_task_process
from users.models import User

BAR_WIDTH = 30


def created_by_get(email: str | None) -> User | None:
    """The user named by ``--created-by``, None without one; an unknown e-mail stops the command."""
    if not email:
        return None
    created_by = User.objects.filter(email=User.objects.normalize_email(email)).first()
    if created_by is None:
        raise CommandError(f"No user {email!r}")
    return created_by


class ProgressBar:
    """A bar on stderr: redrawn in place on a terminal, a line every 10% in a log."""

    def __init__(self, stream: OutputWrapper) -> None:
        self.stream = stream
        self.last_shown = -1.0

    def show(self, *, done: int, total: int, label: str) -> None:
        """Draw ``done`` out of ``total`` (at least 1), with ``label`` before the percentage."""
        tty = self.stream.isatty()
        # Redraw a terminal's bar freely; a log gets a line every 10%.
        step = 0.0 if tty else 10.0
        percent = 100 * done / total
        if percent - self.last_shown < step and done < total:
            return
        self.last_shown = percent
        filled = int(BAR_WIDTH * done / total)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        text = f"[{bar}] {label} ({100 * done // total}%)"
        if tty:
            self.stream.write(f"\r{text}", ending="")
        else:
            self.stream.write(text)


def bulk_task_run(
    *, bulk_task: BulkTask, progress: Callable[[BulkTask], None], stream: OutputWrapper
) -> tuple[BulkTask, float]:
    """Process the task here, then end the bar's line; return the task as it ended and the seconds taken."""
    started = time.monotonic()
    finished = bulk_task_process(bulk_task_id=bulk_task.pk, progress=progress)
    elapsed = time.monotonic() - started
    stream.write("")
    return finished or BulkTask.objects.get(pk=bulk_task.pk), elapsed
