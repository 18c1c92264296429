"""The floor of the API benchmark: a plain Django view returning fixed JSON bytes."""

from __future__ import annotations

import os
from functools import cache

from django.http import HttpRequest, HttpResponse


@cache
def _body() -> bytes:
    with open(os.environ["BENCH_FLOOR_BODY_FILE"], "rb") as handle:
        return handle.read()


def floor_view(request: HttpRequest) -> HttpResponse:
    """What the GET endpoint would answer, without authentication, permissions or SQL."""
    return HttpResponse(_body(), content_type="application/json")
