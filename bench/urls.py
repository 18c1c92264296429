"""The project's routes, plus the benchmark's floor and references (see bench/floor.py).

/bench/floor: the same JSON bytes with no auth and no database;
/bench/floor-select: the floor plus one SELECT 1 round trip;
/bench/drf: the same bytes from a plain DRF view behind simplejwt's JWTAuthentication;
/bench/drf-reference/organizations/{organizationId}/bulk-tasks/{bulkTaskId}: the
contract written the idiomatic DRF way (bench/drf_reference.py).
"""

from django.urls import path, re_path

from bench.drf_reference import BulkTaskReferenceView
from bench.floor import DrfReferenceView, floor_select_view, floor_view
from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("bench/floor", floor_view),
    path("bench/floor-select", floor_select_view),
    path("bench/drf", DrfReferenceView.as_view()),
    re_path(
        r"^bench/drf-reference/organizations/(?P<organization_id>[^/]+)"
        r"/bulk-tasks/(?P<bulk_task_id>[^/]+)$",
        BulkTaskReferenceView.as_view(),
    ),
    *project_urlpatterns,
]

handler400 = "core.views.handler400"
handler404 = "core.views.handler404"
handler500 = "core.views.handler500"
