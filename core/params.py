"""Validating query parameters with a serializer, answering 400 that names the parameter."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

from core.exceptions import InvalidParameter


def query_params_validate(
    serializer_class: type[serializers.Serializer], request: Request
) -> dict[str, Any]:
    """Return the cleaned query parameters, or raise InvalidParameter for the first bad one."""
    serializer = serializer_class(data=request.query_params)
    if serializer.is_valid():
        return dict(serializer.validated_data)
    parameter, messages = next(iter(serializer.errors.items()))
    message = messages[0] if isinstance(messages, list) and messages else messages
    raise InvalidParameter(str(parameter), str(message))
