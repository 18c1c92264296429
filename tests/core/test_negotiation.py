"""The short-cut negotiation answers exactly as DRF's own."""

from __future__ import annotations

import pytest
from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from core.negotiation import FirstRendererNegotiation

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "application/json; indent=4",
    "application/*",
    "text/html",
    "text/html, application/json;q=0.9",
    "image/png",
]
RENDERER_SETS = [[JSONRenderer()], [JSONRenderer(), BrowsableAPIRenderer()]]


def negotiate(negotiation, accept: str | None, query: str, renderers):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/v1/anything{query}", **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers)
    except NotAcceptable:
        return "406"
    except Http404:
        return "404"
    return type(renderer), media_type


@pytest.mark.parametrize("renderers", RENDERER_SETS, ids=["json", "json+browsable"])
@pytest.mark.parametrize("query", ["", "?format=api", "?format=json", "?x=1"])
@pytest.mark.parametrize("accept", ACCEPTS)
def test_the_same_renderer_and_media_type_as_drf(accept, query, renderers):
    assert negotiate(FirstRendererNegotiation(), accept, query, renderers) == negotiate(
        DefaultContentNegotiation(), accept, query, renderers
    )
