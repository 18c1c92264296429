"""Serializer helpers shared by every app."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.ids import OBJECT_ID_RE

_ASCII_DIGITS = re.compile(r"[0-9]+")


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


class FullMatchRegexValidator(RegexValidator):
    """A RegexValidator that the whole value must match.

    Django's searches, and ``$`` also matches before a final newline, so
    ``^[0-9a-f]{24}$`` would let an id followed by ``\\n`` through. The pattern
    keeps its ``^...$`` form for the OpenAPI schema, where it means the same.
    """

    def __call__(self, value: Any) -> None:
        pattern = cast("re.Pattern[str]", self.regex)  # compiled by RegexValidator
        matches = pattern.fullmatch(str(value)) is not None
        if matches == self.inverse_match:
            raise ValidationError(self.message, code=self.code, params={"value": value})


class PatternField(serializers.RegexField):
    """A string matching a pattern as a whole (``RegexField`` accepts a trailing newline)."""

    def __init__(self, regex: str | re.Pattern[str], **kwargs: Any) -> None:
        # Not trimmed either: the value is checked as it was sent, a newline included.
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(regex, **kwargs)
        # RegexField appended a searching validator; this one must match it all.
        self.validators[-1] = FullMatchRegexValidator(regex, message=self.error_messages["invalid"])


class ObjectIdField(PatternField):
    """A 24-hex ObjectId string; the schema carries its pattern."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(OBJECT_ID_RE, **kwargs)


class DigitsIntegerField(serializers.IntegerField):
    """A whole number written in ASCII digits only, as a query parameter.

    ``int()`` also reads other scripts' digits (full-width ``"\\uff11"``), surrounding
    whitespace, a sign, and DRF a ``.0``: none of them is a number a client
    meant to send in a URL.
    """

    default_error_messages = {"invalid": "A whole number in the digits 0-9 is required."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and not _ASCII_DIGITS.fullmatch(data):
            self.fail("invalid")
        return int(super().to_internal_value(data))


@extend_schema_field({"type": "integer", "minimum": 0})
class WholeNumberField(serializers.IntegerField):
    """A count or line number: a JSON integer, never negative.

    The contract types these ``number`` (float); an integer is a number, and
    generated clients then type them ``int``.
    """
