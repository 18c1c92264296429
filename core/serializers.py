"""Serializer helpers shared by every app."""

from __future__ import annotations

from typing import Any


class OmitEmptyMixin:
    """Leave out fields the service has no value for, instead of sending null.

    The contract types no field as nullable, so an unknown value is absent.
    Empty lists stay: an empty ``erroredLines`` is a fact, not a missing value.
    """

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)  # type: ignore[misc]
        return {
            key: value
            for key, value in data.items()
            if not (value is None or value == "" or value == {})
        }
