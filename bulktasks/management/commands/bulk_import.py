"""``manage.py bulk_import FILE --organization SLUG --action ACTION [--override] [--dry-run] [--columns JSON]``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bulktasks.columns import column_mapping_parse
from bulktasks.management.progress import ProgressBar, bulk_task_run, created_by_get
from bulktasks.models import BulkTask
from bulktasks.services import bulk_task_create
from core.exceptions import ServiceError
from users.selectors import organization_get


class Command(BaseCommand):
    help = "Run a file through the bulk task pipeline in this process, with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file",
            type=Path,
            help="A CSV (with a header row), JSON Lines or Excel workbook (.xlsx) file.",
        )
        parser.add_argument("--organization", required=True, help="Organization slug or id.")
        parser.add_argument(
            "--action", required=True, help="For example users.import or users.deactivate."
        )
        parser.add_argument("--override", action="store_true", help="Update existing records.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Decide and report every line as a real run would, and write nothing.",
        )
        parser.add_argument("--created-by", help="E-mail of the user the task is recorded for.")
        parser.add_argument(
            "--columns",
            help='Column mapping, a JSON object: \'{"E-mail address": "email"}\'.',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        organization = organization_get(id_or_slug=options["organization"])
        if organization is None:
            raise CommandError(f"No organization {options['organization']!r}")
        created_by = created_by_get(options["created_by"])

        with path.open("rb") as handle:
            upload = File(handle, name=path.name)
            upload.size = os.path.getsize(path)
            try:
                columns = column_mapping_parse(options["columns"])
                bulk_task, _ = bulk_task_create(
                    organization=organization,
                    created_by=created_by,
                    action=options["action"],
                    override=options["override"],
                    dry_run=options["dry_run"],
                    file=upload,
                    original_name=path.name,
                    enqueue=False,
                    columns=columns,
                )
            except ServiceError as exc:
                raise CommandError(exc.message) from exc

        dry_run = " (dry run: nothing will be written)" if bulk_task.dry_run else ""
        self.stderr.write(f"Task {bulk_task.pk}: {path.name} for {organization.slug}{dry_run}")
        self._bar = ProgressBar(self.stderr)
        bulk_task, elapsed = bulk_task_run(
            bulk_task=bulk_task, progress=self._progress, stream=self.stderr
        )
        self._report(bulk_task, elapsed)
        if bulk_task.status == BulkTask.Status.FAILED:
            raise CommandError(f"Task failed: {bulk_task.error}")

    def _progress(self, bulk_task: BulkTask) -> None:
        total = bulk_task.num_items or 1
        done = bulk_task.num_done
        self._bar.show(done=done, total=total, label=f"{done}/{bulk_task.num_items} lines")

    def _report(self, bulk_task: BulkTask, elapsed: float) -> None:
        rate = bulk_task.num_done / elapsed if elapsed > 0 else 0.0
        lines = [
            f"Status:   {bulk_task.status}",
            f"Dry run:  {'yes, nothing was written' if bulk_task.dry_run else 'no'}",
            f"Items:    {bulk_task.num_items}",
            f"Inserted: {bulk_task.num_inserts}",
            f"Updated:  {bulk_task.num_updates}",
            f"Skipped:  {bulk_task.num_skips}",
            f"Errored:  {bulk_task.num_errors}",
            f"Time:     {elapsed:.2f} s ({rate:,.0f} lines/s)",
        ]
        if bulk_task.error:
            lines.append(f"Error:    {bulk_task.error}")
        for line in bulk_task.lines.order_by("line")[:20]:
            lines.append(f"  line {line.line}: {line.get_kind_display().lower()}: {line.reason}")
        if bulk_task.num_skips + bulk_task.num_errors > 20:
            lines.append(f"  ... see GET .../bulk-tasks/{bulk_task.pk}/lines for the rest")
        self.stdout.write("\n".join(lines))
