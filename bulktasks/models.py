"""Bulk tasks, the report lines they produce, and where their files are stored."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.ids import ObjectIdField


class StorageProvider(models.Model):
    """A place uploaded files are kept: the local filesystem or an S3-compatible bucket."""

    class Kind(models.TextChoices):
        FILESYSTEM = "filesystem", "Local filesystem"
        S3 = "s3", "S3-compatible object storage"

    id = ObjectIdField(primary_key=True)
    name = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    bucket = models.CharField(max_length=256, blank=True)
    region = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BulkTask(models.Model):
    """One uploaded file processed for an action, with its running report."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "inProgress", "In progress"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    id = ObjectIdField(primary_key=True)
    # No index of its own: bulktask_org_newest (organization, id) leads with it.
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="bulk_tasks", db_index=False
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    action = models.CharField(max_length=1000)
    override = models.BooleanField(
        default=False, help_text="Update existing records instead of skipping them."
    )
    dry_run = models.BooleanField(
        "dry run",
        default=False,
        help_text="Decide and report every line as a real run would, and write nothing.",
    )
    column_mapping = models.JSONField(
        "column mapping",
        null=True,
        blank=True,
        help_text="A header in the file to the action's column it holds (the upload's `columns`).",
    )

    # The uploaded file; an empty string means "not known", and the API leaves it out.
    file_original_name = models.CharField("file", max_length=256, blank=True)
    file_mimetype = models.CharField(max_length=128, blank=True)
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    file_bucket = models.CharField(max_length=256, blank=True)
    file_key = models.CharField(max_length=256, blank=True)
    file_location = models.CharField(max_length=256, blank=True)
    file_region = models.CharField(max_length=128, blank=True)
    file_checksum = models.CharField(max_length=256, blank=True)
    # A spreadsheet's rows as text, one per line, written by its scan: chunks
    # seek into this copy, as they cannot into a ZIP archive.
    rows_key = models.CharField(
        "rows copy",
        max_length=256,
        blank=True,
        help_text="The stored copy of a spreadsheet's first sheet that chunks read.",
    )
    storage_provider = models.ForeignKey(
        StorageProvider, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    # An export's result (an action that produces a file; empty for one that reads a file).
    result_format = models.CharField(
        "result format", max_length=8, blank=True, help_text="csv, jsonl or xlsx, for an export."
    )
    result_key = models.CharField(
        max_length=256, blank=True, help_text="Where the export's result file is stored."
    )
    result_size = models.PositiveBigIntegerField(null=True, blank=True)
    # Retention deletes the result with the task's other files: ``file_expired_at``
    # then says when, for an export as for an import.

    num_items = models.PositiveIntegerField("items", default=0)
    num_inserts = models.PositiveIntegerField("inserted", default=0)
    num_updates = models.PositiveIntegerField("updated", default=0)
    num_skips = models.PositiveIntegerField("skipped", default=0)
    num_errors = models.PositiveIntegerField("errors", default=0)
    error = models.TextField(blank=True)

    # Processing state. Each chunk adds its counters in the same transaction as
    # its writes (see BulkTaskChunk), so no line is ever counted twice. The lease
    # and attempts are the scan's; each chunk has its own.
    scanned_at = models.DateTimeField(
        null=True, blank=True, help_text="When the file was read through once and found sound."
    )
    file_columns = models.JSONField(
        null=True,
        blank=True,
        help_text="A CSV file's or a sheet's columns in its header's order.",
    )
    file_header = models.JSONField(
        null=True,
        blank=True,
        help_text=(
            "A JSON Lines file's keys in order of first appearance, as its errors file's header."
        ),
    )
    # Set when the retention sweep deleted the task's stored files; the task and
    # its report stay (see bulktasks/retention.py).
    file_expired_at = models.DateTimeField(
        null=True, blank=True, help_text="When the stored file was deleted at the end of retention."
    )
    resume_after_line = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Lines up to this one were applied before chunks existed; the scan skips them.",
    )
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Its scan's first claim, and every takeover from a worker that died."
    )
    # The sweeper's backoff: a task it queued again waits twice as long each time
    # before it is queued once more, so a backlog is not flooded with duplicates.
    requeues = models.PositiveIntegerField(
        default=0, help_text="Times the sweeper queued the task again since a worker last took it."
    )
    requeued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A cancelled task is failed (the contract's four statuses stay); these say
    # who stopped it and when, and keep staff's retry from running it again.
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who cancelled the task (its error names their e-mail, which outlives them).",
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bulk_tasks",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        permissions = [
            # The original file holds personal data: reading a task's report
            # (view_bulktask) does not entitle anyone to download it.
            ("download_bulktask_file", "Can download the original file of a bulk task"),
        ]
        indexes = [
            models.Index(fields=["organization", "-id"], name="bulktask_org_newest"),
            models.Index(fields=["organization", "status", "-id"], name="bulktask_org_status"),
            models.Index(fields=["status", "lease_expires_at"], name="bulktask_stale"),
            # The staff dashboard's last 24 hours, and the task list's "Created" filter.
            models.Index(fields=["created_at"], name="bulktask_created"),
            # The retention sweep: finished tasks whose files are still stored,
            # oldest first; tasks already swept leave the index.
            models.Index(
                fields=["finished_at"],
                name="bulktask_files_to_expire",
                condition=models.Q(file_expired_at__isnull=True, finished_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.id}"

    @property
    def num_done(self) -> int:
        """Lines whose outcome is recorded so far."""
        return self.num_inserts + self.num_updates + self.num_skips + self.num_errors

    @property
    def is_export(self) -> bool:
        """A task that reads no file and produces one."""
        return bool(self.result_format)

    @property
    def is_finished(self) -> bool:
        """Completed or failed: nothing more will happen to it."""
        return self.status in (self.Status.COMPLETED, self.Status.FAILED)

    @property
    def is_cancelled(self) -> bool:
        """Failed because a member or staff cancelled it."""
        return self.cancelled_at is not None


class BulkTaskChunk(models.Model):
    """A run of consecutive records of a task's file, applied in one transaction by one worker.

    The scan cuts the file into chunks and records where each starts, so that any
    worker can seek there and apply it; chunks of one task run on different
    workers at once. Each has its own lease, and its writes, report lines, counters
    and ``done`` commit together, so each line's outcome is recorded exactly once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for its organization's turn"
        QUEUED = "queued", "Its message is in the queue"
        RUNNING = "running", "A worker holds its lease"
        DONE = "done", "Applied and counted"

    task = models.ForeignKey(
        BulkTask, on_delete=models.CASCADE, related_name="chunks", db_index=False
    )
    # The task's organization, copied so that dispatch finds its chunks on one index.
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    index = models.PositiveIntegerField(help_text="0 for the file's first chunk.")
    start_offset = models.PositiveBigIntegerField(help_text="Byte offset where reading starts.")
    end_offset = models.PositiveBigIntegerField(
        help_text="Byte offset where the next chunk starts."
    )
    start_lines = models.PositiveIntegerField(help_text="Physical lines before start_offset.")
    first_line = models.PositiveIntegerField()
    last_line = models.PositiveIntegerField()
    num_records = models.PositiveIntegerField(
        help_text="Records in the chunk; for an export, the rows its part holds once done."
    )
    # An export's chunk is a range of record keys, not of bytes: the records with
    # keys in (key_after, key_upto], written to a part file of its own.
    key_after = models.CharField(max_length=24, blank=True)
    key_upto = models.CharField(max_length=24, blank=True)
    part_key = models.CharField(
        max_length=256, blank=True, help_text="An export's part file, recorded with done."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Its first claim, and every takeover from a worker that died."
    )
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When its message was last sent."
    )
    # A database default, so that a worker of the previous release, still running
    # while this one migrates, can go on creating chunks; no CHECK constraint,
    # whose validation would scan the whole table under an exclusive lock.
    requeues = models.SmallIntegerField(
        db_default=0,
        help_text="Messages the sweeper sent again since it was dispatched or claimed.",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    num_inserts = models.PositiveIntegerField(default=0)
    num_updates = models.PositiveIntegerField(default=0)
    num_skips = models.PositiveIntegerField(default=0)
    num_errors = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["task", "index"]
        constraints = [
            models.UniqueConstraint(fields=["task", "index"], name="bulktaskchunk_once"),
        ]
        indexes = [
            # Dispatch: an organization's chunks by status, next ones first.
            models.Index(fields=["organization", "status", "index"], name="bulktaskchunk_dispatch"),
            # The sweeper: queued chunks whose message may be lost, expired leases.
            models.Index(fields=["status", "queued_at"], name="bulktaskchunk_queued"),
            models.Index(fields=["status", "lease_expires_at"], name="bulktaskchunk_stale"),
        ]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.task_id}"


class BulkTaskLine(models.Model):
    """One skipped or errored line of a task's report.

    Kept in their own table rather than as a list on the task, so that a report of
    100,000 lines is written in batches, read a page at a time, and never loaded whole.
    """

    class Kind(models.IntegerChoices):
        SKIPPED = 1, "Skipped"
        ERRORED = 2, "Errored"

    # No index of its own: bulktaskline_once_per_line (task, line) leads with it.
    task = models.ForeignKey(
        BulkTask, on_delete=models.CASCADE, related_name="lines", db_index=False
    )
    kind = models.PositiveSmallIntegerField(choices=Kind.choices)
    line = models.PositiveIntegerField(help_text="As a text editor numbers it; a CSV header is 1.")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["task", "line"]
        constraints = [
            # A line has one outcome: this also makes a replayed chunk fail loudly
            # instead of counting a line twice.
            models.UniqueConstraint(fields=["task", "line"], name="bulktaskline_once_per_line"),
        ]
        indexes = [models.Index(fields=["task", "kind", "line"], name="bulktaskline_kind_line")]

    def __str__(self) -> str:
        return f"line {self.line} ({self.get_kind_display()})"


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` for a create request, remembered for 24 hours."""

    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of the request's parameters and file checksum."
    )
    bulk_task = models.ForeignKey(BulkTask, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user", "key"], name="idempotencykey_once"
            )
        ]

    def __str__(self) -> str:
        return self.key


class BulkTaskFileDownload(models.Model):
    """One download of a task's original file from the admin: the audit log of personal data leaving.

    It outlives the task and the account it names (both may be deleted), so it
    keeps the task's id and the staff member's e-mail as text as well.
    """

    id = ObjectIdField(primary_key=True)
    bulk_task = models.ForeignKey(
        BulkTask, on_delete=models.SET_NULL, null=True, blank=True, related_name="file_downloads"
    )
    task_reference = models.CharField("task id", max_length=24)
    file_original_name = models.CharField("file", max_length=256, blank=True)
    downloaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    downloaded_by_email = models.CharField("downloaded by", max_length=256)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    downloaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Ids sort by creation time: the newest first, on the primary key's index.
        ordering = ["-id"]
        # An audit log is only ever read: no add, change or delete permission exists.
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.downloaded_by_email} downloaded {self.task_reference}"
