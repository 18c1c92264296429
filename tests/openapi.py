"""The generated OpenAPI schema, and helpers to read and validate against it in tests."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft4Validator, FormatChecker

# The API's paths as the schema names them.
TASKS = "/v1/organizations/{organizationId}/bulk-tasks"
TASK = TASKS + "/{bulkTaskId}"
LINES = TASK + "/lines"
CANCEL = TASK + "/cancel"
ERRORS_CSV = TASK + "/errors.csv"
RESULT = TASK + "/result"
TOKEN = "/v1/auth/token"
REFRESH = "/v1/auth/token/refresh"
LOGOUT = "/v1/auth/logout"
WEBHOOKS = "/v1/organizations/{organizationId}/webhooks"
WEBHOOK = WEBHOOKS + "/{webhookId}"

GET_BULK_TASK = (TASK, "get")


@cache
def _generated() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def generated_schema() -> dict[str, Any]:
    """The schema /v1/schema/ serves, as a fresh copy the caller may change."""
    return copy.deepcopy(_generated())


def operation(schema: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    """One operation of the schema."""
    return schema["paths"][path][method]


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (path, method, operation) of the schema."""
    return [
        (path, method, item)
        for path, methods in schema["paths"].items()
        for method, item in methods.items()
    ]


def resolve(schema: dict[str, Any], node: Any) -> Any:
    """Follow $ref (and drf-spectacular's one-element allOf wrappers) to the schema they name."""
    while isinstance(node, dict):
        if "$ref" in node:
            *_, name = node["$ref"].split("/")
            node = schema["components"]["schemas"][name]
        elif "allOf" in node and len(node["allOf"]) == 1:
            rest = {key: value for key, value in node.items() if key != "allOf"}
            node = {**resolve(schema, node["allOf"][0]), **rest}
        else:
            break
    return node


def response_schema(
    schema: dict[str, Any], path: str, method: str, status: int | str
) -> dict[str, Any]:
    """The JSON body schema of one documented response."""
    response = operation(schema, path, method)["responses"][str(status)]
    return response["content"]["application/json"]["schema"]


def response_problems(
    schema: dict[str, Any], path: str, method: str, status: int, body: Any
) -> list[str]:
    """How a real response body departs from its documented schema (empty when it conforms).

    The response schemas use only JSON Schema keywords that OpenAPI 3.0 shares
    with draft 4, so a draft 4 validator with the components beside it checks them.
    """
    responses = operation(schema, path, method)["responses"]
    if str(status) not in responses:
        return [f"status {status} is not documented for {method.upper()} {path}"]
    if "content" not in responses[str(status)]:
        # A response documented without a body (204) must come without one.
        return [] if body is None else [f"{status} is documented without a body"]
    root = {**response_schema(schema, path, method, status), "components": schema["components"]}
    validator = Draft4Validator(root, format_checker=FormatChecker())
    return [
        f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(body)
    ]
