"""The reference the GET endpoint is measured against: the contract written the idiomatic DRF way.

What a DRF developer writes first, with nothing tuned: a ``RetrieveAPIView``,
simplejwt's ``JWTAuthentication`` (the user read on every request), a
permission class that resolves the organization and the member's roles with
the ORM, and ``ModelSerializer``s with ``createdBy`` nested. It answers the
same bytes as the endpoint (bench/api.py checks it), so the two are compared
on equal work.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import RetrieveAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.authentication import JWTAuthentication

from bulktasks.models import BulkTask, BulkTaskLine
from users import catalog
from users.models import Membership, Organization, User


def _present(data: dict[str, Any]) -> dict[str, Any]:
    # The contract leaves out what the service does not have, rather than null.
    return {key: value for key, value in data.items() if value not in (None, "", {})}


class CreatorSerializer(serializers.ModelSerializer):
    """The task's creator, nested."""

    firstName = serializers.CharField(source="first_name")
    lastName = serializers.CharField(source="last_name")
    fullName = serializers.CharField(source="full_name")

    class Meta:
        model = User
        fields = ["id", "email", "firstName", "lastName", "fullName", "picture"]

    def to_representation(self, instance: User) -> dict[str, Any]:
        """The fields, without the empty ones."""
        return _present(super().to_representation(instance))


class BulkTaskReferenceSerializer(serializers.ModelSerializer):
    """The task in the contract's shape, its report lines read through the related manager."""

    config = serializers.SerializerMethodField()
    file = serializers.SerializerMethodField()
    report = serializers.SerializerMethodField()
    createdBy = CreatorSerializer(source="created_by", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = BulkTask
        fields = [
            "id", "status", "config", "file", "action", "report", "error", "createdBy",
            "updatedAt", "createdAt",
        ]  # fmt: skip

    def get_config(self, task: BulkTask) -> dict[str, Any]:
        return {"override": task.override}

    def get_file(self, task: BulkTask) -> dict[str, Any]:
        return _present(
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
            }
        )

    def get_report(self, task: BulkTask) -> dict[str, Any]:
        limit = settings.BULK_TASK_INLINE_LINES_LIMIT
        lines = task.lines.order_by("line")
        skipped = lines.filter(kind=BulkTaskLine.Kind.SKIPPED)[:limit]
        errored = lines.filter(kind=BulkTaskLine.Kind.ERRORED)[:limit]
        return {
            "numItems": task.num_items,
            "numInserts": task.num_inserts,
            "numUpdates": task.num_updates,
            "numSkips": task.num_skips,
            "numErrors": task.num_errors,
            "skippedLines": [{"line": line.line} for line in skipped],
            "erroredLines": [{"line": line.line, "reason": line.reason} for line in errored],
        }

    def to_representation(self, instance: BulkTask) -> dict[str, Any]:
        """The fields, without the empty ones."""
        return _present(super().to_representation(instance))


class HasBulkTaskGetPermission(BasePermission):
    """Resolves the organization, then asks the ORM for the member's roles in it."""

    def has_permission(self, request: Request, view: Any) -> bool:
        """True when an active membership's roles hold ``base.bulk.management.get``."""
        key = view.kwargs["organization_id"]
        organization = Organization.objects.filter(Q(slug=key) | Q(pk=key.lower())).first()
        membership = Membership.objects.filter(
            user_id=request.user.pk, organization=organization, is_active=True
        ).first()
        if organization is None or membership is None:
            raise NotFound()
        view.organization = organization
        roles = membership.roles.filter(organization=organization)
        return any(catalog.BULK_TASK_GET in role.permissions for role in roles)


class BulkTaskReferenceView(RetrieveAPIView):
    """``GET /bench/drf-reference/organizations/{organizationId}/bulk-tasks/{bulkTaskId}``."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated, HasBulkTaskGetPermission]
    throttle_classes: list[type] = []
    serializer_class = BulkTaskReferenceSerializer
    lookup_url_kwarg = "bulk_task_id"
    organization: Organization

    def get_queryset(self) -> QuerySet[BulkTask]:
        """The organization's tasks, each with its creator."""
        return BulkTask.objects.select_related("created_by").filter(organization=self.organization)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The task in the envelope."""
        return Response({"status": True, "data": self.get_serializer(self.get_object()).data})
