"""Token endpoints: log in with e-mail and password, refresh an access token, log out."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors
from core.bodies import body_length_require
from core.exceptions import PayloadTooLarge
from core.openapi import raises
from core.parsers import JSONParser
from core.responses import envelope
from core.throttling import ClientIpThrottle
from users.serializers import (
    TokenObtainInputSerializer,
    TokenPairSerializer,
    TokenRefreshInputSerializer,
)
from users.services import auth_token_obtain, auth_token_refresh, auth_token_revoke
from users.throttling import login_failures_counted


@extend_schema(tags=["Authentication"])
class TokenView(APIView):
    """Base of the token endpoints: no bearer token needed, limited per client address."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [ClientIpThrottle]
    throttle_scope = "token"
    # JSON only: a multipart body would be streamed to a temporary file for
    # anyone, before any credential is checked.
    parser_classes = [JSONParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Refuse a body over AUTH_MAX_BODY_SIZE by its declared length, before anything reads it.

        It runs before the rate limits, one of which reads the body. A chunked
        body, which WSGI would read as empty, is refused (411).
        """
        body_length_require(request._request)
        declared = request.META.get("CONTENT_LENGTH") or ""
        limit = settings.AUTH_MAX_BODY_SIZE
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"Payload too large: the body is limited to {limit} bytes")
        super().initial(request, *args, **kwargs)


class TokenObtainView(TokenView):
    """``POST /v1/auth/token``: e-mail and password in, access and refresh tokens out.

    Besides the per-address limit of every token endpoint, failed logins are
    limited per (e-mail, address) and per e-mail (``login_failures_counted``),
    after validation: only an attempt that checks a password can fail.
    """

    @extend_schema(
        operation_id="obtainToken",
        summary="Log in: get an access and a refresh token",
        description=(
            "E-mail and password of an active account, as JSON. The access token "
            "goes in `Authorization: Bearer <token>`."
        ),
        request=TokenObtainInputSerializer,
        responses={200: TokenPairSerializer},
    )
    @raises(errors.VALIDATION_FAILED, errors.INVALID_CREDENTIALS)
    def post(self, request: Request) -> Response:
        serializer = TokenObtainInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        credentials = serializer.validated_data
        with login_failures_counted(request=request, view=self, email=credentials["email"]):
            tokens = auth_token_obtain(**credentials)
        return envelope(tokens)


class TokenRefreshView(TokenView):
    """``POST /v1/auth/token/refresh``: a refresh token in, a new access and refresh token out."""

    @extend_schema(
        operation_id="refreshToken",
        summary="Exchange a refresh token for a new access and refresh token",
        description=(
            "A refresh token is good for one exchange: the one sent is revoked and a new pair "
            "comes back. A used, revoked, bad or expired token, or one whose user is no longer "
            "active, is 401 (4004)."
        ),
        request=TokenRefreshInputSerializer,
        responses={200: TokenPairSerializer},
    )
    @raises(errors.VALIDATION_FAILED, errors.INVALID_TOKEN)
    def post(self, request: Request) -> Response:
        serializer = TokenRefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return envelope(auth_token_refresh(**serializer.validated_data))


class LogoutView(TokenView):
    """``POST /v1/auth/logout``: revoke a refresh token."""

    @extend_schema(
        operation_id="logout",
        summary="Log out: revoke a refresh token",
        description=(
            "The refresh token can no longer be exchanged. Access tokens already issued stay "
            "valid until they expire (`JWT_ACCESS_TOKEN_LIFETIME`)."
        ),
        request=TokenRefreshInputSerializer,
        responses={200: inline_serializer("LogoutResult", fields={})},
    )
    @raises(errors.VALIDATION_FAILED, errors.INVALID_TOKEN)
    def post(self, request: Request) -> Response:
        serializer = TokenRefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        auth_token_revoke(**serializer.validated_data)
        return envelope({})
