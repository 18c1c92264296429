"""Field validators for organizations and roles."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from core.ids import is_object_id
from core.serializers import FullMatchRegexValidator
from users.catalog import unknown_permissions

SLUG_PATTERN = r"[a-zA-Z0-9\-]{3,}"

# The whole value must match: with a searching RegexValidator, ``$`` let "acme\n" through.
slug_validator = FullMatchRegexValidator(
    rf"^{SLUG_PATTERN}$",
    "A slug has at least 3 characters: letters, digits and hyphens.",
)


def validate_slug_not_object_id(value: str) -> None:
    """Refuse slugs that read as an ObjectId, so that an organizationId is never ambiguous."""
    if is_object_id(value):
        raise ValidationError("A slug cannot be 24 hexadecimal characters: that is an id.")


def validate_permission_list(value: object) -> None:
    """Accept only a list of permission strings from the catalog."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Permissions must be a list of strings.")
    unknown = unknown_permissions(value)
    if unknown:
        raise ValidationError(f"Unknown permissions: {', '.join(unknown)}")
