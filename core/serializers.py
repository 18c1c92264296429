"""Serializer helpers shared by every app."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.ids import OBJECT_ID_RE


class OmitEmptyMixin:
    """Leave out fields the service has no value for, instead of sending null.

    The contract types no field as nullable, so an unknown value is absent.
    Empty lists stay: an empty ``erroredLines`` is a fact, not a missing value.
    The OpenAPI schema requires only the fields named in ``always_present``: those
    whose value can never be missing (tests/contract checks them on real responses).
    """

    always_present: tuple[str, ...] = ()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return present(super().to_representation(instance))  # type: ignore[misc]


def present(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the keys whose value is missing: None, an empty string or object."""
    return {
        key: value
        for key, value in data.items()
        if not (value is None or value == "" or value == {})
    }


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a literal Z, as the contract writes times (None stays None)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ObjectIdField(serializers.RegexField):
    """A 24-hex ObjectId string; the schema carries its pattern."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(OBJECT_ID_RE, **kwargs)


@extend_schema_field({"type": "integer", "minimum": 0})
class WholeNumberField(serializers.IntegerField):
    """A count or line number: a JSON integer, never negative.

    The contract types these ``number`` (float); an integer is a number, and
    generated clients then type them ``int``.
    """
