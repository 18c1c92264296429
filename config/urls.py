"""Top-level routes: the versioned API, the admin, and the JSON fallbacks under /v1/."""

from django.contrib import admin
from django.urls import include, path, re_path

from core.openapi_views import DocsView, SchemaView
from core.views import HealthzView, ReadyzView, RouteNotFoundView

urlpatterns = [
    # Probes for the orchestrator: no authentication, no throttling (docs/production.md).
    path("healthz", HealthzView.as_view()),
    path("readyz", ReadyzView.as_view()),
    path("admin/", admin.site.urls),
    # Bulk tasks first: their GET is the hot path, and each include tried in
    # vain before the matching one costs the resolver a little on every request.
    path("v1/", include("bulktasks.urls")),
    path("v1/", include("users.urls")),
    path("v1/", include("webhooks.urls")),
    # The OpenAPI schema and Swagger UI: public, for anyone, never throttled.
    re_path(
        r"^v1/schema/?$",
        SchemaView.as_view(),
        name="openapi-schema",
    ),
    re_path(
        r"^v1/docs/?$",
        DocsView.as_view(),
        name="openapi-docs",
    ),
    # Anything else under /v1/ answers in the envelope, never Django's HTML page.
    re_path(r"^v1(/.*)?$", RouteNotFoundView.as_view()),
]

handler400 = "core.views.handler400"
handler404 = "core.views.handler404"
handler500 = "core.views.handler500"
