"""The success half of the envelope."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.http.response import HttpResponseBase
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response


def envelope(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Wrap a payload as ``{"status": true, "data": ...}``."""
    return Response({"status": True, "data": data}, status=status, headers=headers)


def envelope_rendered(request: Request, data: Any) -> HttpResponseBase:
    """``envelope(data)``, written at once by the negotiated JSON renderer when nothing asks for more.

    A DRF ``Response`` renders through Django's template-response machinery
    after the view returns; for a client that accepts plain JSON the renderer
    writes the same bytes here, with the same Content-Type, for less work on a
    hot path. Anything else (``application/json; indent=4``, another renderer)
    gets ``envelope``.
    """
    renderer = getattr(request, "accepted_renderer", None)
    if isinstance(renderer, JSONRenderer) and request.accepted_media_type == renderer.media_type:
        body = renderer.render({"status": True, "data": data})
        return HttpResponse(body, content_type=renderer.media_type)
    return envelope(data)
