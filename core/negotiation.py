"""Content negotiation that answers the common case before parsing any media type."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class FirstRendererNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, short-cut when the client takes anything or the first renderer's type.

    Nearly every API client sends no ``Accept``, ``*/*`` or ``application/json``;
    DRF then parses the header and every renderer's media type on each request
    to reach the answer this gives at once. Anything else goes through DRF's
    own negotiation, so a 406 or a ``?format=`` stays as DRF answers it.
    """

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str] | Any:
        """The first renderer and its media type for the common headers; DRF's answer otherwise."""
        renderers = list(renderers)
        if renderers and format_suffix is None:
            first = renderers[0]
            accept = request.META.get("HTTP_ACCEPT")
            if (accept is None or accept in ("*/*", first.media_type)) and (
                self.settings.URL_FORMAT_OVERRIDE not in request.query_params
            ):
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
