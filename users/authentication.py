"""Bearer-token authentication with the contract's two outcomes: no token, or an invalid one."""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed as JWTAuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import aware_utcnow

from core.exceptions import InvalidToken

_BEARER = b"bearer"
# Tokens whose signature and claims were verified already, by their raw bytes.
# A signature check costs more than the rest of a cached GET; the same token
# comes back on every call a client makes until it expires. Expiry is still
# checked on every request. Cleared whole when full: simple and thread-safe.
_VERIFIED_TOKENS_MAX = 4096
_verified_tokens: dict[bytes, Token] = {}


def verified_tokens_forget() -> None:
    """Empty this process's cache of verified tokens: each is judged afresh next time."""
    _verified_tokens.clear()


@receiver(setting_changed)
def _forget_verified_tokens_on_new_keys(*, setting: str, **kwargs: Any) -> None:
    # A new signing key or algorithm must judge every token afresh.
    if setting in ("SIMPLE_JWT", "SECRET_KEY"):
        verified_tokens_forget()


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

    def get_validated_token(self, raw_token: bytes) -> Token:
        """The verified token for these bytes, from the cache while it has not expired."""
        token = _verified_tokens.get(raw_token)
        if token is None:
            token = super().get_validated_token(raw_token)
            if len(_verified_tokens) >= _VERIFIED_TOKENS_MAX:
                _verified_tokens.clear()
            _verified_tokens[raw_token] = token
        else:
            # The token's own clock stopped when it was first verified: pass the time.
            token.check_exp(current_time=aware_utcnow())
        return token

    def authenticate_header(self, request: Request) -> str:
        """The WWW-Authenticate challenge sent with every 401."""
        return f'Bearer realm="{self.www_authenticate_realm}"'


class DeferredUserBearerAuthentication(BearerTokenAuthentication):
    """Checks the token's signature, type and expiry; the view then loads and checks the user.

    Organization-scoped views load the user together with their membership and
    roles in one query (``users.selectors.organization_access_get``) and refuse a
    deleted or deactivated user there with 4004, as ``get_user`` would. That saves
    a query on every request; ``OrganizationViewSet.initial`` replaces the
    placeholder user before any handler runs.
    """

    # A placeholder user by design, until the view loads the real one.
    def get_user(self, validated_token: Token) -> TokenUser:  # type: ignore[override]
        """A placeholder that carries only the token's user id, until the view checks it."""
        if api_settings.USER_ID_CLAIM not in validated_token:
            raise InvalidToken()
        return TokenUser(validated_token)
