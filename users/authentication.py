"""Bearer-token authentication with the contract's two outcomes: no token, or an invalid one."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed as JWTAuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError

from core.exceptions import InvalidToken

_BEARER = b"bearer"


class BearerTokenAuthentication(JWTAuthentication):
    """simplejwt's authentication, with every failure reported as 4004 Invalid Token.

    No ``Authorization`` header, another scheme (Basic, Token...) or ``Bearer``
    with nothing after it leaves the request unauthenticated, which the
    permission check answers with 4002 No auth token.
    """

    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        """Return (user, token) for a valid bearer token, None when there is no token."""
        header = self.get_header(request)
        if header is None:
            return None
        parts = header.split()
        # RFC 7235: the scheme is case-insensitive.
        if not parts or parts[0].lower() != _BEARER or len(parts) == 1:
            return None
        if len(parts) != 2:
            raise InvalidToken()
        try:
            validated_token = self.get_validated_token(parts[1])
            user = self.get_user(validated_token)
        except (TokenError, JWTAuthenticationFailed) as exc:
            raise InvalidToken() from exc
        return user, validated_token

    def authenticate_header(self, request: Request) -> str:
        """The WWW-Authenticate challenge sent with every 401."""
        return f'Bearer realm="{self.www_authenticate_realm}"'
