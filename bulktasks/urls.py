"""Routes under /v1/organizations/{organizationId}/bulk-tasks."""

from django.urls import re_path

from bulktasks.views import (
    BulkTaskCancelViewSet,
    BulkTaskCollectionViewSet,
    BulkTaskErrorsCsvViewSet,
    BulkTaskViewSet,
)

# Path segments are matched loosely and validated in the view, so that a
# malformed id gets a 400 that names the parameter rather than a bare 404.
SEGMENT = r"[^/]+"
TASKS = rf"^organizations/(?P<organization_id>{SEGMENT})/bulk-tasks"

urlpatterns = [
    re_path(
        rf"{TASKS}/?$",
        BulkTaskCollectionViewSet.as_view({"get": "list", "post": "create"}),
        name="bulk-task-list",
    ),
    re_path(
        rf"{TASKS}/(?P<bulk_task_id>{SEGMENT})/?$",
        BulkTaskViewSet.as_view({"get": "retrieve"}),
        name="bulk-task-detail",
    ),
    re_path(
        rf"{TASKS}/(?P<bulk_task_id>{SEGMENT})/lines/?$",
        BulkTaskViewSet.as_view({"get": "lines"}),
        name="bulk-task-lines",
    ),
    re_path(
        rf"{TASKS}/(?P<bulk_task_id>{SEGMENT})/cancel/?$",
        BulkTaskCancelViewSet.as_view({"post": "cancel"}),
        name="bulk-task-cancel",
    ),
    re_path(
        rf"{TASKS}/(?P<bulk_task_id>{SEGMENT})/errors\.csv/?$",
        BulkTaskErrorsCsvViewSet.as_view({"get": "errors_csv"}),
        name="bulk-task-errors-csv",
    ),
    re_path(
        rf"{TASKS}/(?P<bulk_task_id>{SEGMENT})/result/?$",
        BulkTaskViewSet.as_view({"get": "result"}),
        name="bulk-task-result",
    ),
]
