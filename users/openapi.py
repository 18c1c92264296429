"""How bearer-token authentication appears in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer <JWT access token>``, the one scheme of every tenant endpoint."""

    target_class = "users.authentication.BearerTokenAuthentication"
    # DeferredUserBearerAuthentication, on the organization-scoped views, reads
    # the same header and refuses the same tokens.
    match_subclasses = True
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        """An HTTP bearer scheme carrying a JWT from POST /v1/auth/token."""
        definition = build_bearer_security_scheme_object(
            header_name="HTTP_AUTHORIZATION",
            token_prefix="Bearer",  # noqa: S106 - the scheme name, not a secret
            bearer_format="JWT",
        )
        definition["description"] = (
            "An access token from `POST /v1/auth/token` (or `/v1/auth/token/refresh`). "
            "No token: 401 with code 4002; a malformed, expired or revoked one: 401 with code 4004."
        )
        return definition
