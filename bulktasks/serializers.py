"""How bulk tasks appear in API responses: exactly the contract's shape."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from bulktasks.models import BulkTask
from bulktasks.selectors import ReportLines
from core.serializers import OmitEmptyMixin
from users.serializers import UserSummarySerializer


class BulkTaskConfigSerializer(serializers.Serializer):
    override = serializers.BooleanField()


class BulkTaskFileSerializer(OmitEmptyMixin, serializers.Serializer):
    originalName = serializers.CharField(source="file_original_name")
    mimetype = serializers.CharField(source="file_mimetype")
    size = serializers.IntegerField(source="file_size")
    bucket = serializers.CharField(source="file_bucket")
    key = serializers.CharField(source="file_key")
    location = serializers.CharField(source="file_location")
    region = serializers.CharField(source="file_region")
    storageProviderId = serializers.CharField(source="storage_provider_id")
    checksum = serializers.CharField(source="file_checksum")


class BulkTaskReportSerializer(serializers.Serializer):
    """Counters always hold the true totals; the line lists may be cut (see ``context``)."""

    numItems = serializers.IntegerField(source="num_items")
    numInserts = serializers.IntegerField(source="num_inserts")
    numUpdates = serializers.IntegerField(source="num_updates")
    numSkips = serializers.IntegerField(source="num_skips")
    numErrors = serializers.IntegerField(source="num_errors")
    skippedLines = serializers.SerializerMethodField()
    erroredLines = serializers.SerializerMethodField()

    def _lines(self) -> ReportLines:
        return self.context.get("report_lines") or ReportLines()

    def get_skippedLines(self, task: BulkTask) -> list[dict[str, Any]]:
        return [{"line": line} for line, _ in self._lines().skipped]

    def get_erroredLines(self, task: BulkTask) -> list[dict[str, Any]]:
        return [{"line": line, "reason": reason} for line, reason in self._lines().errored]


class BulkTaskSerializer(OmitEmptyMixin, serializers.Serializer):
    """A bulk task as ``GET /v1/organizations/{organizationId}/bulk-tasks/{id}`` returns it.

    Pass the report's first lines as ``context={"report_lines": ReportLines(...)}``;
    without them the line lists are empty (as in a list of tasks).
    """

    id = serializers.CharField()
    status = serializers.CharField()
    config = BulkTaskConfigSerializer(source="*")
    file = BulkTaskFileSerializer(source="*")
    action = serializers.CharField()
    report = BulkTaskReportSerializer(source="*")
    error = serializers.CharField()
    createdBy = UserSummarySerializer(source="created_by")
    updatedAt = serializers.DateTimeField(source="updated_at")
    createdAt = serializers.DateTimeField(source="created_at")
