"""Routes whose plain Django views fail, to exercise the 500 hook outside DRF."""

from __future__ import annotations

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import path
from kombu.exceptions import OperationalError as BrokerOperationalError


def database_away(request: HttpRequest) -> HttpResponse:
    raise OperationalError("could not connect to server: Connection refused")


def broker_away(request: HttpRequest) -> HttpResponse:
    raise BrokerOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def bug(request: HttpRequest) -> HttpResponse:
    raise ZeroDivisionError("a bug")


urlpatterns = [
    path("v1/database-away", database_away),
    path("v1/broker-away", broker_away),
    path("v1/bug", bug),
    path("admin/database-away", database_away),
    path("admin/bug", bug),
]

handler500 = "core.views.handler500"
