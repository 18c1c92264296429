"""The project's routes, plus /bench/floor: the same JSON bytes with no auth and no database."""

from django.urls import path

from bench.floor import floor_view
from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("bench/floor", floor_view), *project_urlpatterns]

handler400 = "core.views.handler400"
handler404 = "core.views.handler404"
handler500 = "core.views.handler500"
