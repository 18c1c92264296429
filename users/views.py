"""Token endpoints: log in with e-mail and password, refresh an access token."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors
from core.openapi import raises
from core.responses import envelope
from users.serializers import (
    AccessTokenSerializer,
    TokenObtainInputSerializer,
    TokenPairSerializer,
    TokenRefreshInputSerializer,
)
from users.services import auth_token_obtain, auth_token_refresh


@extend_schema(tags=["Authentication"])
class TokenObtainView(APIView):
    """``POST /v1/auth/token``: e-mail and password in, access and refresh tokens out."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="obtainToken",
        summary="Log in: get an access and a refresh token",
        description=(
            "E-mail and password of an active account, as JSON or a form. The access token "
            "goes in `Authorization: Bearer <token>`."
        ),
        request=TokenObtainInputSerializer,
        responses={200: TokenPairSerializer},
    )
    @raises(errors.VALIDATION_FAILED, errors.INVALID_CREDENTIALS)
    def post(self, request: Request) -> Response:
        serializer = TokenObtainInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return envelope(auth_token_obtain(**serializer.validated_data))


@extend_schema(tags=["Authentication"])
class TokenRefreshView(APIView):
    """``POST /v1/auth/token/refresh``: a refresh token in, a new access token out."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="refreshToken",
        summary="Get a new access token from a refresh token",
        description="A refresh token whose user is still active; a bad or expired one is 401 (4004).",
        request=TokenRefreshInputSerializer,
        responses={200: AccessTokenSerializer},
    )
    @raises(errors.VALIDATION_FAILED, errors.INVALID_TOKEN)
    def post(self, request: Request) -> Response:
        serializer = TokenRefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return envelope(auth_token_refresh(**serializer.validated_data))
