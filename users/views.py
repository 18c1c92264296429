"""Token endpoints: log in with e-mail and password, refresh an access token."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.responses import envelope
from users.serializers import TokenObtainInputSerializer, TokenRefreshInputSerializer
from users.services import auth_token_obtain, auth_token_refresh


class TokenObtainView(APIView):
    """``POST /v1/auth/token``: e-mail and password in, access and refresh tokens out."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        serializer = TokenObtainInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return envelope(auth_token_obtain(**serializer.validated_data))


class TokenRefreshView(APIView):
    """``POST /v1/auth/token/refresh``: a refresh token in, a new access token out."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        serializer = TokenRefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return envelope(auth_token_refresh(**serializer.validated_data))
