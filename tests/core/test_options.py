"""OPTIONS answers in the envelope: DRF's metadata (view names, docstrings) is switched off."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

METHOD_NOT_ALLOWED = {"status": False, "error": {"code": 3003, "message": "Method not allowed"}}


@pytest.mark.parametrize(
    "url", ["/v1/auth/token", "/v1/auth/token/refresh", "/v1/auth/logout", "/healthz", "/readyz"]
)
def test_options_on_a_public_endpoint_is_405_in_the_envelope(api_client, url):
    response = api_client.options(url)

    assert response.status_code == 405
    assert response.json() == METHOD_NOT_ALLOWED


@pytest.mark.parametrize(
    "suffix", ["", "/0123456789abcdef01234567", "/0123456789abcdef01234567/lines"]
)
def test_options_on_an_organization_endpoint_is_405_in_the_envelope(
    reader_client, organization, suffix
):
    response = reader_client.options(f"/v1/organizations/{organization.slug}/bulk-tasks{suffix}")

    assert response.status_code == 405
    assert response.json() == METHOD_NOT_ALLOWED
