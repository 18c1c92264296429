"""``manage.py bulk_export --organization SLUG [--action users.export] [--format csv] --output PATH``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bulktasks.actions import ExportAction, action_get
from bulktasks.exports import DEFAULT_FORMAT, FORMATS
from bulktasks.management.progress import ProgressBar, bulk_task_run, created_by_get
from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.services import bulk_task_export_create, open_result_file
from core.exceptions import ServiceError
from users.selectors import organization_get


class Command(BaseCommand):
    help = "Run an export through the bulk task pipeline in this process and write its result to a file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", required=True, help="Organization slug or id.")
        parser.add_argument("--action", default="users.export", help="Default: users.export.")
        parser.add_argument(
            "--format", default=DEFAULT_FORMAT, choices=list(FORMATS), help="Default: csv."
        )
        parser.add_argument("--output", required=True, type=Path, help="Where to write the file.")
        parser.add_argument("--created-by", help="E-mail of the user the task is recorded for.")

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path = options["output"]
        if output.is_dir() or not output.parent.is_dir():
            raise CommandError(f"Cannot write {output}: name a file in an existing folder")
        organization = organization_get(id_or_slug=options["organization"])
        if organization is None:
            raise CommandError(f"No organization {options['organization']!r}")
        if not isinstance(action_get(options["action"]), ExportAction):
            raise CommandError(f"{options['action']!r} is not an action that exports a file")
        created_by = created_by_get(options["created_by"])
        try:
            bulk_task, _ = bulk_task_export_create(
                organization=organization,
                created_by=created_by,
                action=options["action"],
                result_format=options["format"],
                enqueue=False,
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from exc

        self.stderr.write(f"Task {bulk_task.pk}: {options['action']} of {organization.slug}")
        self._bar = ProgressBar(self.stderr)
        bulk_task, elapsed = bulk_task_run(
            bulk_task=bulk_task, progress=self._progress, stream=self.stderr
        )
        if bulk_task.status != BulkTask.Status.COMPLETED:
            raise CommandError(f"Task {bulk_task.status}: {bulk_task.error}")
        with open_result_file(bulk_task) as stored, output.open("wb") as written:
            shutil.copyfileobj(stored, written, 1 << 20)
        rate = bulk_task.num_items / elapsed if elapsed > 0 else 0.0
        self.stdout.write(
            "\n".join(
                [
                    f"Status:   {bulk_task.status}",
                    f"Rows:     {bulk_task.num_items}",
                    f"Format:   {bulk_task.result_format}",
                    f"Output:   {output} ({output.stat().st_size} bytes)",
                    f"Time:     {elapsed:.2f} s ({rate:,.0f} rows/s)",
                ]
            )
        )

    def _progress(self, bulk_task: BulkTask) -> None:
        """Chunks done out of chunks: an export's rows are known only as they are written."""
        chunks = BulkTaskChunk.objects.filter(task_id=bulk_task.pk)
        total = chunks.count() or 1
        done = chunks.filter(status=BulkTaskChunk.Status.DONE).count()
        self._bar.show(
            done=done, total=total, label=f"{bulk_task.num_items} rows, {done}/{total} chunks"
        )
