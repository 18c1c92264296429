"""The success half of the envelope."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response


def envelope(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Wrap a payload as ``{"status": true, "data": ...}``."""
    return Response({"status": True, "data": data}, status=status, headers=headers)
