"""Staff pages for bulk tasks: browse, filter, read a task's report, upload, cancel or retry a
task, download its files; superusers read the download log.

Each module is one page or one part of a page; importing them registers the admin classes.
"""

from __future__ import annotations

from bulktasks.admin import downloads, storage, tasks
from bulktasks.admin.base import ReadOnlyAdmin
from bulktasks.admin.task_page import ADMIN_REPORT_LINES

__all__ = ["ADMIN_REPORT_LINES", "ReadOnlyAdmin", "downloads", "storage", "tasks"]
