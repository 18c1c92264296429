"""Token endpoints: log in with e-mail and password, refresh an access token, log out."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.responses import envelope
from core.throttling import ClientIpThrottle
from users.serializers import TokenObtainInputSerializer, TokenRefreshInputSerializer
from users.services import auth_token_obtain, auth_token_refresh, auth_token_revoke
from users.throttling import EmailThrottle


class TokenView(APIView):
    """Base of the token endpoints: no bearer token needed, limited per client address."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [ClientIpThrottle]
    throttle_scope = "token"


class TokenObtainView(TokenView):
    """``POST /v1/auth/token``: e-mail and password in, access and refresh tokens out."""

    # Per address and per e-mail tried: guessing one account's password from
    # many addresses is limited as well as trying many accounts from one.
    throttle_classes = [ClientIpThrottle, EmailThrottle]

    def post(self, request: Request) -> Response:
        serializer = TokenObtainInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return envelope(auth_token_obtain(**serializer.validated_data))


class TokenRefreshView(TokenView):
    """``POST /v1/auth/token/refresh``: a refresh token in, a new access and refresh token out."""

    def post(self, request: Request) -> Response:
        serializer = TokenRefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return envelope(auth_token_refresh(**serializer.validated_data))


class LogoutView(TokenView):
    """``POST /v1/auth/logout``: revoke a refresh token."""

    def post(self, request: Request) -> Response:
        serializer = TokenRefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        auth_token_revoke(**serializer.validated_data)
        return envelope({})
