"""The floor of the API benchmark, and the references measured beside it.

Each returns the GET endpoint's JSON bytes for the benchmark's task:

- ``floor_view``: a plain Django view, with no authentication and no database;
- ``floor_select_view``: the same, plus one ``SELECT 1`` round trip to the
  database: the least any endpoint pays that must ask the database, on each
  request, whether its caller is still allowed in;
- ``DrfReferenceView``: the plain DRF view the targets are set against, with
  simplejwt's own ``JWTAuthentication`` (one query for the user on every
  request), ``IsAuthenticated``, no throttling, and DRF's JSON renderer.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication


@cache
def _body() -> bytes:
    with open(os.environ["BENCH_FLOOR_BODY_FILE"], "rb") as handle:
        return handle.read()


@cache
def _data() -> Any:
    return json.loads(_body())


def floor_view(request: HttpRequest) -> HttpResponse:
    """What the GET endpoint would answer, without authentication, permissions or SQL."""
    return HttpResponse(_body(), content_type="application/json")


def floor_select_view(request: HttpRequest) -> HttpResponse:
    """The floor plus one trivial query on the request's persistent connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return HttpResponse(_body(), content_type="application/json")


class DrfReferenceView(APIView):
    """The same body from a plain DRF view behind simplejwt's default authentication."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes: list[type] = []

    def get(self, request: Request) -> Response:
        """Answer the fixed data once the user is authenticated."""
        return Response(_data())
