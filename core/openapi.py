"""The OpenAPI description of the API: the envelope, each operation's coded errors, its path.

drf-spectacular reads the views and serializers. This module teaches it the
conventions that live outside them, so that the schema says what the service
really sends:

- every success body is the envelope ``{"status": true, "data": ...}``, both required;
- every error body is the one ``ErrorEnvelope`` component,
  ``{"status": false, "error": Error}``, so that a generated client has one error
  model; each error response lists the catalog codes it can carry, grouped by HTTP
  status, in its description, its examples and ``x-error-codes``;
- path parameters are matched loosely by the URL and checked by the view against
  the patterns it declares (``path_parameters``), so those patterns are the schema's;
- a response object carries exactly its serializer's fields (``additionalProperties``
  is false); a serializer that leaves out empty values requires only the fields it
  names in ``always_present``;
- an operation without authenticators declares ``security: []``, so that clients
  call it without credentials.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_parameter_type
from drf_spectacular.utils import OpenApiParameter
from rest_framework.permissions import AllowAny

from core import errors
from core.errors import ErrorSpec

Target = TypeVar("Target")

# Any operation: a request that cannot be parsed (an oversized request line, a
# bad Host header...), a client that refuses JSON, a bug, a database that went away.
EVERY_OPERATION = (
    errors.MALFORMED_REQUEST,
    errors.NOT_ACCEPTABLE,
    errors.INTERNAL_ERROR,
    errors.SERVICE_UNAVAILABLE,
)
# An operation that needs a bearer token.
AUTHENTICATED = (errors.NO_AUTH_TOKEN, errors.INVALID_TOKEN)
# An operation that reads a request body.
WITH_BODY = (errors.UNSUPPORTED_MEDIA_TYPE, errors.PAYLOAD_TOO_LARGE, errors.LENGTH_REQUIRED)
BODY_METHODS = {"POST", "PUT", "PATCH"}

# Headers core/exception_handler.py sends with some statuses: (name, required, description).
ERROR_HEADERS: dict[int, tuple[str, bool, str]] = {
    401: ("WWW-Authenticate", True, 'The scheme to authenticate with: `Bearer realm="api"`.'),
    429: ("Retry-After", False, "Seconds to wait before trying again."),
    503: ("Retry-After", True, "Seconds to wait before trying again."),
}

SUCCESS_DESCRIPTIONS = {"200": "OK", "201": "Created", "204": "No Content"}


def never_raises(*specs: ErrorSpec) -> Callable[[Target], Target]:
    """Declare errors every operation of a kind answers with but this handler cannot.

    E.g. a file download that ignores ``Accept`` is never 406 (1005).
    """

    def decorate(target: Target) -> Target:
        setattr(target, "api_errors_never", specs)  # noqa: B010 - target is any object
        return target

    return decorate


def raises(*specs: ErrorSpec) -> Callable[[Target], Target]:
    """Declare the catalog errors a view class or handler answers with, for the schema.

    Errors every operation of a kind can answer with (authentication, body
    parsing, throttling, server errors) are found by ApiAutoSchema; declare the
    others. On a class the list adds to its bases' lists.
    """

    def decorate(target: Target) -> Target:
        inherited = tuple(getattr(target, "api_errors", ()))
        setattr(target, "api_errors", (*inherited, *specs))  # noqa: B010 - target is any object
        return target

    return decorate


ERROR = "Error"
ERROR_ENVELOPE = "ErrorEnvelope"


def error_schema() -> dict[str, Any]:
    """The ``error`` object of every error body; its description holds the whole catalog."""
    rows = "\n".join(f"| {spec.code} | {spec.status} | {spec.message} |" for spec in errors.CATALOG)
    return {
        "type": "object",
        "description": ERROR_DESCRIPTION.format(catalog=rows),
        "additionalProperties": False,
        "required": ["code", "message"],
        "properties": {
            "code": {
                "type": "integer",
                "description": (
                    "Stable error code from the catalog; branch on it. Each error response "
                    "lists the codes it can carry (`x-error-codes`)."
                ),
            },
            "message": {
                "type": "string",
                "minLength": 1,
                "description": "Human-readable; may name the parameter or field.",
            },
        },
    }


def error_envelope_schema() -> dict[str, Any]:
    """Every error body: ``{"status": false, "error": {"code", "message"}}``."""
    return {
        "type": "object",
        "description": "The body of every error response.",
        "additionalProperties": False,
        "required": ["status", "error"],
        "properties": {
            "status": {"type": "boolean", "enum": [False]},
            "error": {"$ref": f"#/components/schemas/{ERROR}"},
        },
    }


def success_envelope_schema(data: dict[str, Any]) -> dict[str, Any]:
    """The success envelope around a payload schema.

    The published contract marks ``status`` and ``data`` optional; the service
    always sends both, so they are required here (a narrowing the contract allows).
    """
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["status", "data"],
        "properties": {"status": {"type": "boolean", "enum": [True]}, "data": data},
    }


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema with the envelope, the coded errors and checked path patterns."""

    def error_specs(self) -> list[ErrorSpec]:
        """Every catalog entry this operation can answer with, in code order."""
        found: set[ErrorSpec] = set(EVERY_OPERATION)
        if not self._is_public():
            found.update(AUTHENTICATED)
        if self.method in BODY_METHODS:
            # An operation that reads no body (``request=None``) never parses nor
            # measures one: only a body over the server's limit (413) reaches it.
            takes_body = self.get_request_serializer() is not None
            found.update(WITH_BODY if takes_body else (errors.PAYLOAD_TOO_LARGE,))
        if self.view.get_throttles():
            found.add(errors.THROTTLED)
        found.update(getattr(self.view, "api_errors", ()))
        found.update(getattr(self._handler(), "api_errors", ()))
        found.difference_update(getattr(self._handler(), "api_errors_never", ()))
        return sorted(found, key=lambda spec: spec.code)

    def _is_public(self) -> bool:
        return not self.view.get_authenticators() or any(
            isinstance(permission, AllowAny) for permission in self.view.get_permissions()
        )

    def _handler(self) -> Any:
        """The view method serving this operation: the viewset action, or get/post..."""
        name = getattr(self.view, "action", None) or self.method.lower()
        return getattr(self.view, name, None)

    def _is_list_view(self, serializer: Any = None) -> bool:
        # A list answers a page object ({"items", "hasMore", "nextCursor"}) in the
        # envelope, never a bare array, so drf-spectacular's list wrapping never applies.
        return False

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code, response in responses.items():
            if code.startswith("2"):
                response["description"] = response.get("description") or SUCCESS_DESCRIPTIONS.get(
                    code, "Success"
                )
                for media_type, media in response.get("content", {}).items():
                    # A file (errors.csv, an export's result) is the body itself, not enveloped.
                    if media_type == "application/json":
                        media["schema"] = success_envelope_schema(media["schema"])
        by_status: dict[int, list[ErrorSpec]] = defaultdict(list)
        for spec in self.error_specs():
            by_status[spec.status].append(spec)
        for status, specs in sorted(by_status.items()):
            responses[str(status)] = self._error_response(status, specs)
        return responses

    def _error_response(self, status: int, specs: list[ErrorSpec]) -> dict[str, Any]:
        response: dict[str, Any] = {
            "description": "; ".join(f"{spec.code} {spec.message}" for spec in specs),
            # The codes are documentation: the body is the one shared envelope, so
            # that a client handles every error with one model.
            "x-error-codes": [spec.code for spec in specs],
            "content": {
                "application/json": {
                    "schema": self._error_envelope_ref(),
                    "examples": {
                        f"E{spec.code}": {
                            "summary": f"{spec.code} {spec.message}",
                            "value": {
                                "status": False,
                                "error": {"code": spec.code, "message": spec.message},
                            },
                        }
                        for spec in specs
                    },
                }
            },
        }
        if status in ERROR_HEADERS:
            name, required, description = ERROR_HEADERS[status]
            response["headers"] = {
                name: {
                    "schema": {"type": "string"},
                    "required": required,
                    "description": description,
                }
            }
        return response

    def _error_envelope_ref(self) -> dict[str, str]:
        """A reference to the shared error envelope (postprocess_describe_api adds it)."""
        return {"$ref": f"#/components/schemas/{ERROR_ENVELOPE}"}

    def get_auth(self) -> list[dict[str, list[str]]]:
        """No authenticator means no security requirement: ``[]``, not ``[{}]``.

        ``[{}]`` reads as "optional authentication", and generators then ask for
        credentials to log in.
        """
        if not self.view.get_authenticators():
            return []
        return super().get_auth()

    def _resolve_path_parameters(self, variables: list[str]) -> list[dict[str, Any]]:
        declared = getattr(self.view, "path_parameters", {})
        unknown = [variable for variable in variables if variable not in declared]
        parameters = super()._resolve_path_parameters(unknown) if unknown else []
        for variable in variables:
            if variable in declared:
                public_name, pattern, _expected = declared[variable]
                parameters.append(
                    build_parameter_type(
                        name=public_name,
                        location=OpenApiParameter.PATH,
                        schema={"type": "string", "pattern": pattern.pattern},
                    )
                )
        return parameters

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "response":
            schema["additionalProperties"] = False
        if "description" in schema:
            # The docstring's first line describes the shape; the rest is for developers.
            schema["description"] = schema["description"].strip().splitlines()[0]
        return schema


class OmitEmptySerializerExtension(OpenApiSerializerExtension):
    """A serializer that leaves out fields it has no value for requires only ``always_present``."""

    target_class = "core.serializers.OmitEmptyMixin"
    match_subclasses = True

    def map_serializer(self, auto_schema: AutoSchema, direction: Any) -> dict[str, Any]:
        """Map the serializer as usual, then require exactly the fields always sent."""
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        always_present = list(getattr(self.target, "always_present", ()))
        if always_present:
            schema["required"] = always_present
        else:
            schema.pop("required", None)
        return schema


def preprocess_api_only(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """Keep the endpoints under /v1/, without the catch-all that answers unknown routes.

    Routes accept an optional trailing slash; the schema names each path without it.
    """
    from core.views import RouteNotFoundView

    return [
        (path.rstrip("/"), path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
        if path.startswith("/v1/") and getattr(callback, "cls", None) is not RouteNotFoundView
    ]


def postprocess_describe_api(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Describe the API in the schema's info, add the shared error components, and let
    operations declare no security at all.

    drf-spectacular leaves out an empty ``security`` list; an explicit ``[]`` tells
    linters and generators that the operation needs no credentials.
    """
    result["info"]["description"] = API_DESCRIPTION
    # Added here, after drf-spectacular's enum hook, which would otherwise turn the
    # envelope's ``status: false`` into an enum component of its own.
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update({ERROR: error_schema(), ERROR_ENVELOPE: error_envelope_schema()})
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    for methods in result["paths"].values():
        for operation in methods.values():
            operation.setdefault("security", [])
    return result


API_DESCRIPTION = """\
Multi-tenant bulk tasks: upload a CSV or JSON Lines file for an action such as
`users.import`; it is processed in the background; read the task's status and report.

**Authentication.** Send `Authorization: Bearer <access token>`; get one from
`POST /v1/auth/token`.

**Envelope.** A success is `{"status": true, "data": ...}`. An error is
`{"status": false, "error": {"code": <number>, "message": <string>}}` (the
`ErrorEnvelope` schema); `code` is stable, branch on it. Each error response lists
the codes it can carry; the whole catalog is in the `Error` schema, below the
operations. A path under `/v1/` that no endpoint serves answers 404 (3002), and a
method an endpoint does not serve answers 405 (3003).
"""

ERROR_DESCRIPTION = """\
Why a request failed. `code` is stable: branch on it; `message` is for people.

| Code | HTTP | Message |
|---|---|---|
{catalog}
"""
