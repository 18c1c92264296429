"""The generated OpenAPI schema of GET bulk-task matches the published contract, field for field.

The contract is the repository's copy of the reference page: the JSON Schemas
beside this file and the request description in get_bulk_task.request.json. Any
drift (a renamed field, another type, a lost pattern or length, a new or missing
enum value, a required field) fails here.

Fields the service adds to the contract's are listed in ADDITIVE: optional (never
in ``required``), so that a client written against the contract is unaffected.

The schema narrows the contract in two ways only, each allowing a subset of what
the contract allows, so that generated clients get exact types:

- a count or line number, ``number`` (float) in the contract, is an ``integer``
  with ``minimum: 0``;
- the fields the service always sends are ``required`` (REQUIRED below; the
  contract marks every field optional). test_required_fields.py checks each one
  on real responses.

Beyond the contract, the service adds only the fields listed in additions.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.contract.additions import with_additions
from tests.openapi import GET_BULK_TASK, generated_schema, operation, resolve, response_schema

HERE = Path(__file__).parent
SUCCESS = with_additions(json.loads((HERE / "get_bulk_task.schema.json").read_text()))
ERROR = json.loads((HERE / "error.schema.json").read_text())
REQUEST = json.loads((HERE / "get_bulk_task.request.json").read_text())

# The keywords compared; any other keyword on either side is ignored (titles,
# descriptions, readOnly, the schema's $id...).
CONSTRAINTS = (
    "type",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "enum",
    "additionalProperties",
)


# What the service always sends, by place in the 200 body of GET bulk-task.
REQUIRED = {
    "$": ["data", "status"],
    "$.data": ["action", "config", "createdAt", "id", "report", "status", "updatedAt"],
    "$.data.config": ["dryRun", "override"],
    "$.data.createdBy": ["email", "id"],
    "$.data.report": ["numErrors", "numInserts", "numItems", "numSkips", "numUpdates"],
    "$.data.report.erroredLines[]": ["line", "reason"],
    "$.data.report.skippedLines[]": ["line"],
}
# Fields beyond the contract, each optional: sent only when they have a value.
ADDITIVE = {
    # When the retention sweep deleted the stored file (docs/api.md, retention).
    "$.data.file.expiredAt",
    # The upload's column mapping (docs/api.md, column mapping).
    "$.data.config.columns",
    # An export's result format; left out for a task that reads a file.
    "$.data.config.format",
}
# A count or line number: the contract's float, as the integer it always holds.
WHOLE_NUMBER = {"type": "integer", "minimum": 0}
# Fields the service adds to the contract's shape. Additive only: each is
# optional (never in ``required``), so a client written from the contract
# alone still reads every response.


def normalized(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The comparable part of a schema node: JSON Schema's const becomes OpenAPI 3.0's enum."""
    node = resolve(schema, node)
    result = {key: node[key] for key in CONSTRAINTS if key in node}
    if "const" in node:
        value = node["const"]
        result["enum"] = [value]
        result.setdefault("type", {bool: "boolean", int: "integer", str: "string"}[type(value)])
    result["required"] = sorted(node.get("required", []))
    return result


def expected_node(contract: dict[str, Any], where: str, required: dict[str, list[str]] | None):
    """The contract node with the schema's two narrowings applied."""
    expected = normalized({}, contract)
    if expected.get("type") == "number" and expected.get("format") == "float":
        del expected["format"]
        expected.update(WHOLE_NUMBER)
    if required is not None:
        expected["required"] = required.get(where, [])
    return expected


def differences(
    contract: dict[str, Any],
    schema: dict[str, Any],
    node: dict[str, Any],
    where: str = "$",
    required: dict[str, list[str]] | None = REQUIRED,
) -> list[str]:
    """Every way the generated node departs from the contract node, recursively.

    ``required`` maps places to the fields required there; None compares the
    contract's own required lists.
    """
    node = resolve(schema, node)
    expected, actual = expected_node(contract, where, required), normalized(schema, node)
    found = [
        f"{where}: {key} is {actual.get(key)!r}, the contract says {expected.get(key)!r}"
        for key in sorted(set(expected) | set(actual))
        if expected.get(key) != actual.get(key)
    ]
    expected_properties = contract.get("properties", {})
    actual_properties = node.get("properties", {})
    for name in sorted(set(expected_properties) - set(actual_properties)):
        found.append(f"{where}.{name}: missing from the generated schema")
    for name in sorted(set(actual_properties) - set(expected_properties)):
        if f"{where}.{name}" in ADDITIVE and name not in node.get("required", []):
            continue
        found.append(f"{where}.{name}: not in the contract")
    for name in sorted(set(expected_properties) & set(actual_properties)):
        found += differences(
            expected_properties[name],
            schema,
            actual_properties[name],
            f"{where}.{name}",
            required,
        )
    if "items" in contract or "items" in node:
        if "items" not in contract or "items" not in node:
            found.append(f"{where}[]: items on one side only")
        else:
            found += differences(contract["items"], schema, node["items"], f"{where}[]", required)
    return found


def get_bulk_task_200(schema: dict[str, Any]) -> dict[str, Any]:
    return response_schema(schema, *GET_BULK_TASK, 200)


def test_the_200_body_matches_the_contract_field_for_field():
    schema = generated_schema()

    assert differences(SUCCESS, schema, get_bulk_task_200(schema)) == []


@pytest.mark.parametrize(
    ("component", "field", "change"),
    [
        ("BulkTaskFile", "originalName", {"maxLength": 255}),
        ("BulkTaskReport", "numItems", {"type": "number"}),
        ("BulkTaskSkippedLine", "line", {"minimum": None}),
        ("UserSummary", "id", {"pattern": "^[a-f0-9]{24}$"}),
        ("UserSummary", "email", {"format": None}),
        ("BulkTaskConfig", "override", {"type": "string"}),
    ],
)
def test_drift_in_a_field_fails_the_comparison(component, field, change):
    """The comparison itself can fail: each of these changes is reported."""
    schema = generated_schema()
    target = schema["components"]["schemas"][component]["properties"][field]
    for key, value in change.items():
        if value is None:
            target.pop(key)
        else:
            target[key] = value

    assert differences(SUCCESS, schema, get_bulk_task_200(schema)) != []


def test_drift_in_names_enums_and_required_fails_the_comparison():
    schema = generated_schema()
    components = schema["components"]["schemas"]
    components["BulkTask"]["properties"]["errorMessage"] = {"type": "string"}
    components["BulkTaskStatusEnum"]["enum"].append("cancelled")
    components["BulkTaskReport"]["required"] = ["numItems"]
    components["UserSummary"]["required"].append("picture")
    del components["BulkTaskFile"]["properties"]["checksum"]

    found = "\n".join(differences(SUCCESS, schema, get_bulk_task_200(schema)))

    assert "errorMessage: not in the contract" in found
    assert "cancelled" in found
    assert "$.data.report: required" in found
    assert "$.data.createdBy: required" in found
    assert "checksum: missing" in found


def test_the_path_parameters_match_the_contract():
    schema = generated_schema()
    parameters = {
        parameter["name"]: parameter
        for parameter in operation(schema, *GET_BULK_TASK)["parameters"]
        if parameter["in"] == "path"
    }

    assert set(parameters) == set(REQUEST["pathParameters"])
    for name, expected in REQUEST["pathParameters"].items():
        assert parameters[name]["required"] is True
        assert parameters[name]["schema"] == expected, name


def test_every_required_field_is_a_property_and_every_place_is_in_the_body():
    """REQUIRED itself names real places and fields: a typo would check nothing."""
    schema = generated_schema()
    places: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any], where: str) -> None:
        node = resolve(schema, node)
        places[where] = node
        for name, child in node.get("properties", {}).items():
            walk(child, f"{where}.{name}")
        if "items" in node:
            walk(node["items"], f"{where}[]")

    walk(get_bulk_task_200(schema), "$")

    for where, names in REQUIRED.items():
        assert set(names) <= set(places[where]["properties"]), where


def test_the_operation_needs_the_bearer_token():
    schema = generated_schema()

    assert operation(schema, *GET_BULK_TASK)["security"] == [{"bearerAuth": []}]
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schema["components"]["securitySchemes"]["bearerAuth"]["description"],
    }


@pytest.mark.parametrize(("status", "codes"), sorted(REQUEST["errorCodes"].items()))
def test_the_contract_error_responses_carry_its_codes(status, codes):
    schema = generated_schema()
    response = operation(schema, *GET_BULK_TASK)["responses"][status]

    assert set(codes) <= set(response["x-error-codes"])


def test_every_error_response_of_every_operation_is_the_one_error_envelope():
    """One shared component, error.schema.json's shape; each response lists its codes beside it."""
    schema = generated_schema()
    envelope = schema["components"]["schemas"]["ErrorEnvelope"]

    assert differences(ERROR, schema, envelope, required=None) == []
    for path, methods in schema["paths"].items():
        for method, item in methods.items():
            for status, response in item["responses"].items():
                if int(status) < 400:
                    continue
                body = response["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/ErrorEnvelope"}, (path, method)
                assert response["x-error-codes"], (path, method, status)
