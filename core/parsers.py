"""Request body parsers: DRF's JSON parser, refusing every unparseable body with a 400."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's ``JSONParser``, but a body nested too deep for Python is a parse error too.

    ``json.loads`` raises ``RecursionError``, not ``ValueError``, on ``[[[...]]]``
    a few thousand levels deep; DRF lets it through as a 500. Anyone can send
    one, the login endpoint included, so it is malformed input like any other.
    """

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deep") from exc
