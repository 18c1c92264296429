"""Checks on a request body made before anything reads it."""

from __future__ import annotations

from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest

from core.exceptions import LengthRequired


def body_length_require(request: HttpRequest) -> None:
    """Refuse (411) a body sent without a ``Content-Length`` to a WSGI server.

    A chunked body reaches a WSGI application without a length, and Django
    then reads it as empty: the client would get a 400 about missing fields it
    did send. ASGI servers pass such a body on whole, so it is accepted there.
    """
    if (
        isinstance(request, WSGIRequest)
        and not request.META.get("CONTENT_LENGTH")
        and request.META.get("HTTP_TRANSFER_ENCODING")
    ):
        raise LengthRequired("Length required: send the body with a Content-Length header")
