"""How accounts appear in API responses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework import serializers

from core.serializers import ObjectIdField, OmitEmptyMixin, present

if TYPE_CHECKING:
    from users.models import User

# Tokens are three base64url segments (a JWT).
JWT_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"


class UserSummarySerializer(OmitEmptyMixin, serializers.Serializer):
    """A user as nested in other resources, such as a task's ``createdBy``.

    Lengths are the contract's; they only describe the output, which the models
    already keep within them. A user always has an id and an e-mail address; the
    names and the picture may be empty, and are then left out.
    """

    always_present = ("id", "email")

    id = ObjectIdField()
    email = serializers.EmailField(max_length=256)
    firstName = serializers.CharField(source="first_name", max_length=128)
    lastName = serializers.CharField(source="last_name", max_length=128)
    fullName = serializers.CharField(source="full_name", max_length=128)
    picture = serializers.CharField()


def user_summary(user: User) -> dict[str, Any]:
    """What ``UserSummarySerializer`` writes, without its per-instance field copies."""
    return present(
        {
            "id": user.id,
            "email": user.email,
            "firstName": user.first_name,
            "lastName": user.last_name,
            "fullName": user.full_name,
            "picture": user.picture,
        }
    )


class TokenObtainInputSerializer(serializers.Serializer):
    """Credentials for ``POST /v1/auth/token``."""

    email = serializers.CharField(max_length=256)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class TokenRefreshInputSerializer(serializers.Serializer):
    """A refresh token for ``POST /v1/auth/token/refresh`` and ``/v1/auth/logout``."""

    refresh = serializers.CharField(max_length=4096)


class TokenPairSerializer(serializers.Serializer):
    """What the token endpoints answer: a short-lived access token and a single-use refresh token."""

    access = serializers.RegexField(JWT_PATTERN)
    refresh = serializers.RegexField(JWT_PATTERN)
