"""How bulk tasks appear in API responses: exactly the contract's shape."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bulktasks.actions.registry import ACTION_NAME_PATTERN
from bulktasks.exports import FORMATS
from bulktasks.models import BulkTask, BulkTaskLine
from bulktasks.selectors import ReportLines
from core.ids import OBJECT_ID_PATTERN
from core.serializers import (
    DigitsIntegerField,
    ObjectIdField,
    OmitEmptyMixin,
    PatternField,
    WholeNumberField,
    present,
    timestamp,
)
from users.serializers import UserSummarySerializer, user_summary

LINE_KINDS = ["errored", "skipped"]

# Lengths and patterns below are the published contract's. On output they only
# describe what the models already guarantee; the OpenAPI schema carries them.


class BulkTaskConfigSerializer(OmitEmptyMixin, serializers.Serializer):
    """The options the task was created with."""

    always_present = ("override", "dryRun")

    override = serializers.BooleanField()
    dryRun = serializers.BooleanField(
        source="dry_run",
        help_text="A dry run: every line decided and reported as a real run would, nothing written.",
    )
    columns = serializers.DictField(
        source="column_mapping",
        child=serializers.CharField(),
        help_text=(
            "The upload's column mapping: a header in the file to the action's column it "
            "holds. Left out when the upload had none."
        ),
    )
    format = serializers.ChoiceField(
        source="result_format",
        choices=list(FORMATS),
        help_text="An export's result format; left out for an action that reads a file.",
    )


class BulkTaskFileSerializer(OmitEmptyMixin, serializers.Serializer):
    """The uploaded file and where it is stored."""

    originalName = serializers.CharField(source="file_original_name", max_length=256)
    mimetype = serializers.CharField(source="file_mimetype", max_length=128)
    size = serializers.IntegerField(source="file_size", min_value=0)
    bucket = serializers.CharField(source="file_bucket", max_length=256)
    key = serializers.CharField(source="file_key", max_length=256)
    location = serializers.CharField(source="file_location", max_length=256)
    region = serializers.CharField(source="file_region", max_length=128)
    storageProviderId = ObjectIdField(source="storage_provider_id")
    checksum = serializers.CharField(source="file_checksum", max_length=256)
    expiredAt = serializers.DateTimeField(
        source="file_expired_at",
        help_text=(
            "When the stored file was deleted at the end of its retention period; sent only "
            "then. The task and its report stay; errors.csv answers 410 (3006)."
        ),
    )


class BulkTaskSkippedLineSerializer(OmitEmptyMixin, serializers.Serializer):
    """A skipped line of the report, as the contract lists it (without its reason)."""

    always_present = ("line",)

    line = WholeNumberField()


class BulkTaskErroredLineSerializer(OmitEmptyMixin, serializers.Serializer):
    """An errored line of the report and why."""

    always_present = ("line", "reason")

    line = WholeNumberField()
    reason = serializers.CharField()


class BulkTaskReportSerializer(OmitEmptyMixin, serializers.Serializer):
    """Counters hold the true totals; the inline line lists may stop short of them.

    The lists come from ``context["report_lines"]``, and are left out without it.
    """

    always_present = ("numItems", "numInserts", "numUpdates", "numSkips", "numErrors")

    numItems = WholeNumberField(source="num_items")
    numInserts = WholeNumberField(source="num_inserts")
    numUpdates = WholeNumberField(source="num_updates")
    numSkips = WholeNumberField(source="num_skips")
    numErrors = WholeNumberField(source="num_errors")
    skippedLines = serializers.SerializerMethodField()
    erroredLines = serializers.SerializerMethodField()

    def _lines(self) -> ReportLines:
        return self.context.get("report_lines") or ReportLines()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if self.context.get("report_lines") is None:
            # In a list of tasks the lines are left out, not shown as empty:
            # /bulk-tasks/{id}/lines has them.
            data.pop("skippedLines")
            data.pop("erroredLines")
        return data

    # Plain dicts rather than the line serializers: a report can inline
    # thousands of lines, and these need no conversion.
    @extend_schema_field(BulkTaskSkippedLineSerializer(many=True))
    def get_skippedLines(self, task: BulkTask) -> list[dict[str, Any]]:
        return [{"line": line} for line, _ in self._lines().skipped]

    @extend_schema_field(BulkTaskErroredLineSerializer(many=True))
    def get_erroredLines(self, task: BulkTask) -> list[dict[str, Any]]:
        return [{"line": line, "reason": reason} for line, reason in self._lines().errored]


class BulkTaskSerializer(OmitEmptyMixin, serializers.Serializer):
    """A bulk task as ``GET /v1/organizations/{organizationId}/bulk-tasks/{id}`` returns it.

    Pass the report's first lines as ``context={"report_lines": ReportLines(...)}``;
    without them the line lists are left out (as in a list of tasks).

    The declared fields are the schema; ``to_representation`` writes the same
    shape out directly, because walking the declared fields costs a deep copy of
    every field per task, which was the largest cost of a GET once its queries
    were lean (docs/benchmarks.md). tests/contract holds both to the contract.
    """

    # The file, the error and the creator may be missing (a deleted creator, a
    # task made outside the API); these never are.
    always_present = ("id", "status", "config", "action", "report", "updatedAt", "createdAt")

    id = ObjectIdField()
    status = serializers.ChoiceField(choices=BulkTask.Status.choices)
    config = BulkTaskConfigSerializer(source="*")
    file = BulkTaskFileSerializer(source="*")
    action = serializers.CharField(max_length=1000)
    report = BulkTaskReportSerializer(source="*")
    error = serializers.CharField()
    createdBy = UserSummarySerializer(source="created_by")
    updatedAt = serializers.DateTimeField(source="updated_at")
    createdAt = serializers.DateTimeField(source="created_at")

    def to_representation(self, instance: BulkTask) -> dict[str, Any]:
        """The task in the contract's shape, leaving out every value it does not have."""
        task = instance
        report: dict[str, Any] = {
            "numItems": task.num_items,
            "numInserts": task.num_inserts,
            "numUpdates": task.num_updates,
            "numSkips": task.num_skips,
            "numErrors": task.num_errors,
        }
        lines: ReportLines | None = self.context.get("report_lines")
        if lines is not None:
            # In a list of tasks the lines are left out, not shown as empty:
            # /bulk-tasks/{id}/lines has them.
            report["skippedLines"] = [{"line": line} for line, _ in lines.skipped]
            report["erroredLines"] = [
                {"line": line, "reason": reason} for line, reason in lines.errored
            ]
        data = {
            "id": task.id,
            "status": task.status,
            "config": present(
                {
                    "override": task.override,
                    "dryRun": task.dry_run,
                    "columns": task.column_mapping or None,
                    "format": task.result_format,
                }
            ),
            "file": present(
                {
                    "originalName": task.file_original_name,
                    "mimetype": task.file_mimetype,
                    "size": task.file_size,
                    "bucket": task.file_bucket,
                    "key": task.file_key,
                    "location": task.file_location,
                    "region": task.file_region,
                    "storageProviderId": task.storage_provider_id,
                    "checksum": task.file_checksum,
                    "expiredAt": timestamp(task.file_expired_at),
                }
            ),
            "action": task.action,
            "report": report,
            "error": task.error,
            "createdBy": user_summary(task.created_by) if task.created_by is not None else None,
            "updatedAt": timestamp(task.updated_at),
            "createdAt": timestamp(task.created_at),
        }
        return present(data)


class BulkTaskCreateSerializer(serializers.Serializer):
    """The multipart form of ``POST /bulk-tasks``."""

    file = serializers.FileField(
        allow_empty_file=True,
        max_length=None,
        required=False,
        help_text="The file to process: required for an action that reads one "
        "(`users.import`), refused for an export (`users.export`).",
    )
    action = serializers.CharField(max_length=1000)
    override = serializers.BooleanField(default=False)
    dryRun = serializers.BooleanField(
        default=False,
        help_text=(
            "`true` to validate and decide every line as a real run would, with the same "
            "report, and write nothing to the action's tables; becomes `config.dryRun`."
        ),
    )
    # Parsed and checked by bulktasks.columns: its errors carry their own code (1013).
    columns = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text=(
            "Optional. A JSON object from a header in the file to a column of the action, "
            'e.g. `{"E-mail address": "email", "Given name": "firstName"}`, for CSV, JSON '
            "Lines keys and spreadsheets alike. Headers are matched ignoring case and "
            "surrounding spaces. An unknown column, two headers mapped to one column, or "
            "malformed JSON is 400 (1013); for a CSV, so is a header not in its header row "
            "or a column it already has; for other files the task fails, naming the header."
        ),
    )
    format = serializers.ChoiceField(
        choices=list(FORMATS),
        required=False,
        help_text="An export's result format (default `csv`); refused for an action that "
        "reads a file.",
    )


class BulkTaskListQuerySerializer(serializers.Serializer):
    """Query parameters of ``GET /bulk-tasks``."""

    status = serializers.ChoiceField(choices=BulkTask.Status.choices, required=False)
    action = PatternField(rf"^{ACTION_NAME_PATTERN}$", required=False)
    createdBy = PatternField(rf"^{OBJECT_ID_PATTERN}$", required=False)
    cursor = PatternField(rf"^{OBJECT_ID_PATTERN}$", required=False)
    limit = DigitsIntegerField(min_value=1, max_value=100, default=25)


@extend_schema_field({"type": "string", "pattern": "^[0-9]+$"})
class LineCursorField(DigitsIntegerField):
    """The ``/lines`` cursor: a line number, in the schema a string, as ``nextCursor`` is.

    One type both ways lets a client pass ``nextCursor`` back unchanged; cursors
    are opaque strings to clients. The value is read as before, as a whole number.
    """


class BulkTaskLinesQuerySerializer(serializers.Serializer):
    """Query parameters of ``GET /bulk-tasks/{id}/lines``."""

    kind = serializers.ChoiceField(choices=LINE_KINDS, required=False)
    cursor = LineCursorField(min_value=0, required=False)
    limit = DigitsIntegerField(min_value=1, max_value=1000, default=100)


class BulkTaskLineSerializer(serializers.Serializer):
    """One line of a report, as ``/lines`` lists it."""

    line = serializers.IntegerField(min_value=1)
    kind = serializers.SerializerMethodField()
    reason = serializers.CharField()

    @extend_schema_field(serializers.ChoiceField(choices=LINE_KINDS))
    def get_kind(self, line: BulkTaskLine) -> str:
        return "errored" if line.kind == BulkTaskLine.Kind.ERRORED else "skipped"


class BulkTaskPageSerializer(serializers.Serializer):
    """A page of tasks, newest first.

    The shape views.page builds; it describes that output in the schema.
    """

    items = BulkTaskSerializer(many=True)
    hasMore = serializers.BooleanField()
    nextCursor = ObjectIdField(
        required=False, help_text="Pass as `cursor` for the next page; sent when hasMore is true."
    )


class BulkTaskLinePageSerializer(serializers.Serializer):
    """A page of report lines, in line order.

    The shape views.page builds; it describes that output in the schema.
    """

    items = BulkTaskLineSerializer(many=True)
    hasMore = serializers.BooleanField()
    nextCursor = serializers.RegexField(
        r"^[0-9]+$",
        required=False,
        help_text="Pass as `cursor` for the next page; sent when hasMore is true.",
    )
