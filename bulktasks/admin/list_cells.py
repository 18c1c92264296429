"""The task list's cells: a status badge, a progress bar, the counts, a relative time."""

from __future__ import annotations

import datetime as dt

from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from bulktasks.models import BulkTask


def status_badge(bulk_task: BulkTask) -> SafeString:
    """The status as a colored badge that also says it in words; cancelled and dry run stand out."""
    if bulk_task.is_cancelled:
        badge = mark_safe('<span class="task-badge task-badge--cancelled">Cancelled</span>')
    else:
        badge = format_html(
            '<span class="task-badge task-badge--{}">{}</span>',
            bulk_task.status.lower(),
            bulk_task.get_status_display(),
        )
    if bulk_task.dry_run:
        return format_html(
            '{} <span class="task-badge task-badge--dry-run" title="{}">dry run</span>',
            badge,
            "Decides and reports every line, writes nothing",
        )
    return badge


def grouped(number: int) -> str:
    """A count with its thousands grouped, 200,000, as the admin (in English) writes them."""
    # Not formats.number_format: it reads the locale's settings on every call,
    # about 80 microseconds, several times for each of a page's 100 rows.
    return f"{number:,}"


def _note(words: str) -> SafeString:
    return format_html('<span class="task-progress-note">{}</span>', words)


def progress(bulk_task: BulkTask) -> SafeString:
    """A bar of lines done out of lines in the file, or an export's rows written, with the figures."""
    if bulk_task.scanned_at is None:
        # Its file is not read through yet: the number of lines is not known.
        if bulk_task.status == BulkTask.Status.PENDING:
            return _note("waiting")
        if bulk_task.status == BulkTask.Status.IN_PROGRESS:
            return _note("scanning")
        return _note("not read")
    if bulk_task.is_export:
        rows = grouped(bulk_task.num_items)
        if bulk_task.status == BulkTask.Status.COMPLETED:
            bar = mark_safe('<progress max="1" value="1" aria-label="Rows written"></progress>')
        elif bulk_task.status == BulkTask.Status.IN_PROGRESS:
            # An export learns its total only as its chunks finish: no value, a moving bar.
            bar = mark_safe('<progress aria-label="Rows written"></progress>')
        else:
            bar = SafeString()
        return format_html('{}<span class="task-progress-text">{} rows written</span>', bar, rows)
    done, total = bulk_task.num_done, bulk_task.num_items
    return format_html(
        '<progress max="{}" value="{}" aria-label="Lines processed"></progress>'
        '<span class="task-progress-text">{} / {}</span>',
        max(total, 1),
        min(done, total) if total else 0,
        grouped(done),
        grouped(total),
    )


COUNTS = (
    ("num_inserts", "+", "inserted", "inserted"),
    ("num_updates", "~", "updated", "updated"),
    ("num_skips", "⤼", "skipped", "skipped"),
    ("num_errors", "✕", "errored", "errored"),
)


def counts(bulk_task: BulkTask) -> SafeString:
    """Inserted, updated, skipped and errored lines in one cell; the ones at zero left out."""
    shown = [
        (kind, sign, grouped(getattr(bulk_task, field)), word)
        for field, sign, kind, word in COUNTS
        if getattr(bulk_task, field)
    ]
    if not shown:
        return mark_safe(
            '<span class="task-count-none" title="No line has an outcome yet">&ndash;</span>'
        )
    spoken = ", ".join(f"{number} {word}" for _, _, number, word in shown)
    return format_html(
        '<span class="task-counts" title="{}"><span class="visually-hidden">{}</span>{}</span>',
        spoken,
        spoken,
        format_html_join(
            " ",
            '<span class="task-count task-count--{}" aria-hidden="true">{}{}</span>',
            ((kind, sign, number) for kind, sign, number, _ in shown),
        ),
    )


def truncated(text: str, title: str | None = None, *, css: str = "") -> SafeString:
    """Text cut short with an ellipsis by the stylesheet, whole in its tooltip."""
    if not text:
        return format_html('<span class="task-truncate task-muted {}">&ndash;</span>', css)
    return format_html(
        '<span class="task-truncate {}" title="{}">{}</span>', css, title or text, text
    )


def relative_time(moment: dt.datetime, *, now: dt.datetime | None = None) -> SafeString:
    """ "3 min ago", with the date and time in its tooltip."""
    elapsed = ((now or timezone.now()) - moment).total_seconds()
    if elapsed < 60:
        words = "just now"
    elif elapsed < 3600:
        words = f"{int(elapsed // 60)} min ago"
    elif elapsed < 86400:
        words = f"{int(elapsed // 3600)} h ago"
    elif elapsed < 86400 * 30:
        days = int(elapsed // 86400)
        words = f"{days} day{'s' if days > 1 else ''} ago"
    else:
        words = formats.date_format(timezone.localtime(moment), "j M Y")
    # strftime, not the DATETIME_FORMAT of the locale: a tenth of its cost, on every row.
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z"),
        words,
    )
