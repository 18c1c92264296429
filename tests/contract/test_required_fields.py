"""Every field the schema marks required is in every real response of the demo data.

Generated clients type a required field as always there (``str``, not
``str | Unset``), so a required field the service leaves out breaks them at run
time. This drives every operation through the test client on the demo data
(``manage.py seed_demo``), walks each documented response schema alongside the
real body, and checks every ``required`` property it passes. It also checks that
the walk reached every required field of every response schema, so that a new
required field cannot go unchecked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bulktasks import demo
from bulktasks.processing import bulk_task_process
from tests.bulktasks.files import csv_file, people_rows
from tests.bulktasks.workbooks import xlsx_file
from tests.openapi import (
    CANCEL,
    ERRORS_CSV,
    LINES,
    LOGOUT,
    REFRESH,
    RESULT,
    TASK,
    TASKS,
    TOKEN,
    WEBHOOK,
    WEBHOOKS,
    generated_schema,
    operations,
    response_problems,
)

pytestmark = pytest.mark.django_db

# (where in the schema, required field): a component's name, or the inline
# envelope of an operation's response.
Requirement = tuple[str, str]


def requirements(
    schema: dict[str, Any], node: dict[str, Any], body: Any, place: str
) -> Iterator[tuple[Requirement, bool]]:
    """Each required field the body passes through, and whether the body has it."""
    if "$ref" in node:
        place = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][place]
    if "allOf" in node:
        for part in node["allOf"]:
            yield from requirements(schema, part, body, place)
        return
    if isinstance(body, dict):
        for name in node.get("required", []):
            yield (place, name), name in body
        for name, child in node.get("properties", {}).items():
            if name in body:
                yield from requirements(schema, child, body[name], f"{place}.{name}")
    elif isinstance(body, list) and "items" in node:
        for item in body:
            yield from requirements(schema, node["items"], item, f"{place}[]")


def documented_requirements(schema: dict[str, Any]) -> set[Requirement]:
    """Every required field reachable from a documented response, named as the walk names it."""
    found: set[Requirement] = set()

    def visit(node: dict[str, Any], place: str, seen: frozenset[str]) -> None:
        if "$ref" in node:
            place = node["$ref"].rsplit("/", 1)[-1]
            if place in seen:
                return
            seen |= {place}
            node = schema["components"]["schemas"][place]
        for part in node.get("allOf", []):
            visit(part, place, seen)
        found.update((place, name) for name in node.get("required", []))
        for name, child in node.get("properties", {}).items():
            visit(child, f"{place}.{name}", seen)
        if "items" in node:
            visit(node["items"], f"{place}[]", seen)

    for path, method, item in operations(schema):
        for status, response in item["responses"].items():
            if "application/json" not in response.get("content", {}):
                # No body (204), or a file (errors.csv, an export's result): no JSON field.
                continue
            body = response["content"]["application/json"]["schema"]
            visit(body, f"{method} {path} {status}", frozenset())
    return found


@pytest.fixture
def real_responses(api_client) -> list[tuple[str, str, int, Any]]:
    """(path, method, status, body) of a real request to every operation, on the demo data."""
    data = demo.demo_seed()
    acme = "/v1/organizations/acme/bulk-tasks"
    calls: list[tuple[str, str, Any]] = []

    def call(path: str, method: str, response: Any) -> Any:
        calls.append((path, method, response))
        return response.json() if response.content else None

    credentials = {"email": demo.READER_EMAIL, "password": demo.DEMO_PASSWORD}
    tokens = call(TOKEN, "post", api_client.post(TOKEN, credentials, format="json"))["data"]
    call(TOKEN, "post", api_client.post(TOKEN, {**credentials, "password": "x"}, format="json"))
    call(TOKEN, "post", api_client.post(TOKEN, credentials))  # a form: 415
    refreshed = call(
        REFRESH, "post", api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    )["data"]
    call(REFRESH, "post", api_client.post(REFRESH, {}, format="json"))

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed['access']}")
    upload = {"action": "users.import", "file": csv_file(people_rows(3))}
    call(TASKS, "post", api_client.post(acme, upload))
    call(TASKS, "post", api_client.post(acme, {"action": "nope"}))
    # A spreadsheet with a column mapping (config.columns), and a mapping refused (1013).
    mapped = {
        "action": "users.import",
        "file": xlsx_file([["E-mail address"], ["ada@example.com"]]),
        "columns": '{"E-mail address": "email"}',
    }
    call(TASKS, "post", api_client.post(acme, mapped))
    refused = {"action": "users.import", "file": csv_file(people_rows(1)), "columns": "[1]"}
    call(TASKS, "post", api_client.post(acme, refused))
    first = call(TASKS, "get", api_client.get(acme + "?limit=2"))["data"]
    call(TASKS, "get", api_client.get(f"{acme}?limit=2&cursor={first['nextCursor']}"))
    call(TASKS, "get", api_client.get(acme + "?status=done"))
    for task in [*data.bulk_tasks, data.other_bulk_task]:
        call(TASK, "get", api_client.get(f"{acme}/{task.id}"))  # the last is globex's: 404
    lines = f"{acme}/{demo.COMPLETED_TASK_ID}/lines"
    page = call(LINES, "get", api_client.get(lines + "?limit=2"))["data"]
    call(LINES, "get", api_client.get(f"{lines}?limit=2&cursor={page['nextCursor']}"))
    call(LINES, "get", api_client.get(lines + "?kind=skipped"))
    for task_id in (demo.PENDING_TASK_ID, demo.PENDING_TASK_ID, demo.COMPLETED_TASK_ID):
        # Cancelled, the same again (harmless), then a completed task: 409.
        call(CANCEL, "post", api_client.post(f"{acme}/{task_id}/cancel"))
    call(CANCEL, "post", api_client.post(f"{acme}/{demo.OTHER_TASK_ID}/cancel"))  # globex's: 404
    call(CANCEL, "post", api_client.post(f"{acme}/123/cancel"))  # malformed: 400

    hooks = "/v1/organizations/acme/webhooks"
    events = ["bulkTask.completed", "bulkTask.failed"]
    created = []
    for n in range(3):
        body = {"url": f"http://127.0.0.1:8599/hooks/{n}", "events": events}
        created.append(call(WEBHOOKS, "post", api_client.post(hooks, body, format="json"))["data"])
    call(WEBHOOKS, "post", api_client.post(hooks, body, format="json"))  # the same URL: 409
    unknown = {"url": "http://127.0.0.1:8599/x", "events": ["task.done"]}
    call(WEBHOOKS, "post", api_client.post(hooks, unknown, format="json"))  # 400
    listed = call(WEBHOOKS, "get", api_client.get(hooks + "?limit=2"))["data"]
    call(WEBHOOKS, "get", api_client.get(f"{hooks}?limit=2&cursor={listed['nextCursor']}"))
    call(WEBHOOK, "delete", api_client.delete(f"{hooks}/{created[0]['id']}"))
    call(WEBHOOK, "delete", api_client.delete(f"{hooks}/{created[0]['id']}"))  # 404

    errors_csv = f"{acme}/{demo.COMPLETED_TASK_ID}/errors.csv"
    csv_response = api_client.get(errors_csv)
    assert csv_response.status_code == 200
    assert csv_response["Content-Type"] == "text/csv; charset=utf-8"
    assert b"".join(csv_response.streaming_content).startswith(b'\xef\xbb\xbf"email"')
    call(ERRORS_CSV, "get", api_client.get(f"{acme}/{data.other_bulk_task.id}/errors.csv"))
    call(ERRORS_CSV, "get", api_client.get(f"{acme}/nope/errors.csv"))
    export = call(TASKS, "post", api_client.post(acme, {"action": "users.export"}))["data"]
    call(RESULT, "get", api_client.get(f"{acme}/{export['id']}/result"))  # pending: 409
    call(RESULT, "get", api_client.get(f"{acme}/{demo.COMPLETED_TASK_ID}/result"))  # an import
    call(RESULT, "get", api_client.get(f"{acme}/{demo.FAILED_TASK_ID}/result"))
    call(RESULT, "get", api_client.get(f"{acme}/{data.other_bulk_task.id}/result"))  # 404
    bulk_task_process(bulk_task_id=export["id"])
    downloaded = api_client.get(f"{acme}/{export['id']}/result")
    assert downloaded.status_code == 200, downloaded.content
    assert downloaded["Content-Type"] == "text/csv; charset=utf-8"
    call(LOGOUT, "post", api_client.post(LOGOUT, {"refresh": refreshed["refresh"]}, format="json"))
    call(LOGOUT, "post", api_client.post(LOGOUT, {"refresh": refreshed["refresh"]}, format="json"))
    api_client.credentials()
    call(TASK, "get", api_client.get(f"{acme}/{demo.COMPLETED_TASK_ID}"))

    return [
        (path, method, response.status_code, response.json() if response.content else None)
        for path, method, response in calls
    ]


def test_every_required_field_is_in_every_real_response(real_responses):
    schema = generated_schema()
    checked: set[Requirement] = set()
    missing: list[str] = []

    for path, method, status, body in real_responses:
        assert response_problems(schema, path, method, status, body) == [], (path, status, body)
        response = schema["paths"][path][method]["responses"][str(status)]
        if body is None:
            continue  # a 204, documented without a body
        root = response["content"]["application/json"]["schema"]
        for requirement, present in requirements(schema, root, body, f"{method} {path} {status}"):
            checked.add(requirement)
            if not present:
                missing.append(f"{requirement} in {method.upper()} {path} {status}")

    assert missing == []
    unreached = {
        requirement
        for requirement in documented_requirements(schema) - checked
        # The error statuses no request here provokes (406, 413, 429, 5xx...) share
        # the one ErrorEnvelope, which the 4xx responses above reach.
        if not requirement[0].split()[-1].startswith(("4", "5"))
    }
    assert unreached == set()
    assert {("ErrorEnvelope", "error"), ("Error", "code"), ("Error", "message")} <= checked


def test_the_walk_reports_a_required_field_left_out():
    """The check itself can fail: a task without its ``action`` is caught."""
    schema = generated_schema()
    root = schema["paths"][TASK]["get"]["responses"]["200"]["content"]["application/json"]
    body = {"status": True, "data": {"id": "a" * 24, "status": "pending", "config": {}}}

    found = dict(requirements(schema, root["schema"], body, "get"))

    assert found[("BulkTask", "action")] is False
    assert found[("BulkTaskConfig", "override")] is False
    assert found[("BulkTask", "id")] is True
