"""The OpenAPI schema at /v1/schema/ and Swagger UI at /v1/docs/: public, valid, true to the API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from rest_framework.throttling import SimpleRateThrottle

from bulktasks.models import BulkTaskLine
from bulktasks.views import (
    BulkTaskCancelViewSet,
    BulkTaskCollectionViewSet,
    BulkTaskErrorsCsvViewSet,
    BulkTaskViewSet,
)
from core import errors
from core.openapi_views import SchemaView
from tests.bulktasks.files import csv_file, people_rows
from tests.conftest import bearer
from tests.factories import BulkTaskFactory, BulkTaskLineFactory
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
    operation,
    operations,
    resolve,
    response_problems,
)
from users import catalog
from users.views import LogoutView, TokenObtainView, TokenRefreshView
from webhooks.views import WebhookEndpointCollectionViewSet, WebhookEndpointViewSet

# The statuses every operation can answer with whatever it does.
COMMON = {"400": [1003], "406": [1005], "500": [5000], "503": [5003]}
ORGANIZATION = {"400": [1001, 1003], "401": [4002, 4004], "403": [4003], "404": [3001]}
BODY = {"411": [1010], "413": [1006], "415": [1004]}

DOCUMENTED_ERRORS = {
    ("get", TASK): {**COMMON, **ORGANIZATION},
    ("get", LINES): {**COMMON, **ORGANIZATION},
    ("get", ERRORS_CSV): {**COMMON, **ORGANIZATION, "409": [3012], "410": [3006]},
    # The file whatever Accept asks: never 406.
    ("get", RESULT): {
        **{status: codes for status, codes in COMMON.items() if status != "406"},
        **ORGANIZATION,
        "409": [3007, 3008, 3009],
        "410": [3006],
    },
    ("get", TASKS): {**COMMON, **ORGANIZATION},
    ("post", TASKS): {
        **COMMON,
        **ORGANIZATION,
        "400": [1001, 1002, 1003, 1008, 1012, 1013, 1014],
        "409": [3004],
        "411": [1010],
        "413": [1006],
        "415": [1004, 1009, 1011],
    },
    # No body: only one over the server's limit is refused (413).
    ("post", CANCEL): {**COMMON, **ORGANIZATION, "409": [3005], "413": [1006]},
    ("post", TOKEN): {**COMMON, **BODY, "400": [1002, 1003], "401": [4001]},
    ("post", REFRESH): {**COMMON, **BODY, "400": [1002, 1003], "401": [4004]},
    ("post", LOGOUT): {**COMMON, **BODY, "400": [1002, 1003], "401": [4004]},
    ("get", WEBHOOKS): {**COMMON, **ORGANIZATION},
    ("post", WEBHOOKS): {
        **COMMON,
        **ORGANIZATION,
        "400": [1001, 1002, 1003, 1020, 1021, 1022],
        "409": [3010, 3011],
        "411": [1010],
        "413": [1006],
        "415": [1004],
    },
    ("delete", WEBHOOK): {**COMMON, **ORGANIZATION},
}


def documented_codes(item: dict) -> dict[str, list[int]]:
    return {
        status: response["x-error-codes"]
        for status, response in item["responses"].items()
        if int(status) >= 400
    }


@pytest.mark.parametrize("path", ["/v1/schema/", "/v1/schema", "/v1/schema/?format=json"])
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
def test_the_schema_is_public(api_client, path, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = api_client.get(path, **headers)

    assert response.status_code == 200
    assert re.search(rb'^\{?\s*"?openapi"?: "?3\.0\.3', response.content), response.content[:100]


def test_the_schema_is_built_once_per_process(api_client, monkeypatch):
    builds = []
    build = SchemaGenerator.get_schema

    def counting_build(generator, *args, **kwargs):
        builds.append(generator)
        return build(generator, *args, **kwargs)

    monkeypatch.setattr(SchemaView, "_built", None)
    monkeypatch.setattr(SchemaGenerator, "get_schema", counting_build)

    for path in ["/v1/schema/", "/v1/schema/?format=json", "/v1/schema/?lang=fr"]:
        assert api_client.get(path).status_code == 200

    assert len(builds) == 1


def test_the_schema_as_json_names_every_endpoint(api_client):
    response = api_client.get("/v1/schema/?format=json")

    schema = json.loads(response.content)
    assert set(schema["paths"]) == {
        TASKS,
        TASK,
        LINES,
        CANCEL,
        ERRORS_CSV,
        RESULT,
        TOKEN,
        REFRESH,
        LOGOUT,
        WEBHOOKS,
        WEBHOOK,
    }


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
def test_swagger_ui_is_public(client, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = client.get("/v1/docs/", **headers)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"SwaggerUIBundle" in response.content
    assert b'url: "/v1/schema"' in response.content


def test_swagger_ui_loads_its_files_from_this_service_not_a_cdn(client, settings):
    html = client.get("/v1/docs/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)

    assert len(assets) == 4  # favicon, stylesheet and two scripts
    for asset in assets:
        assert asset.startswith(settings.STATIC_URL), asset
        assert finders.find(asset.removeprefix(settings.STATIC_URL)), asset


def test_the_schema_validates_without_a_warning(tmp_path: Path):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert target.read_text().startswith("openapi: 3.0.3")


def test_each_operation_documents_the_error_codes_it_can_answer_with():
    """Every operation is rate-limited, so each documents 429 (1007) too."""
    schema = generated_schema()

    documented = {
        (method, path): documented_codes(item) for path, method, item in operations(schema)
    }

    assert documented == {
        operation: {**codes, "429": [1007]} for operation, codes in DOCUMENTED_ERRORS.items()
    }


@pytest.mark.parametrize(
    ("view", "path", "method"),
    [
        (BulkTaskViewSet, TASK, "get"),
        (BulkTaskViewSet, LINES, "get"),
        (BulkTaskErrorsCsvViewSet, ERRORS_CSV, "get"),
        (BulkTaskViewSet, RESULT, "get"),
        (BulkTaskCollectionViewSet, TASKS, "get"),
        (BulkTaskCollectionViewSet, TASKS, "post"),
        (BulkTaskCancelViewSet, CANCEL, "post"),
        (TokenObtainView, TOKEN, "post"),
        (TokenRefreshView, REFRESH, "post"),
        (LogoutView, LOGOUT, "post"),
        (WebhookEndpointCollectionViewSet, WEBHOOKS, "get"),
        (WebhookEndpointCollectionViewSet, WEBHOOKS, "post"),
        (WebhookEndpointViewSet, WEBHOOK, "delete"),
    ],
)
def test_429_is_documented_exactly_where_a_view_has_throttles(view, path, method, monkeypatch):
    throttled = bool(view.throttle_classes)
    item = operation(generated_schema(), path, method)
    assert ("429" in item["responses"]) is throttled

    class Throttle(SimpleRateThrottle):
        rate = "10/min"

        def get_cache_key(self, request, view):
            return None

    monkeypatch.setattr(view, "throttle_classes", [Throttle])
    item = operation(SchemaGenerator().get_schema(request=None, public=True), path, method)

    assert documented_codes(item)["429"] == [1007]
    assert "Retry-After" in item["responses"]["429"]["headers"]


def test_every_code_of_the_catalog_is_documented_except_those_of_no_operation():
    """Unknown routes (3002) and methods (3003) belong to no operation."""
    schema = generated_schema()
    documented = {
        code
        for _, _, item in operations(schema)
        for codes in documented_codes(item).values()
        for code in codes
    }
    catalog_codes = {spec.code for spec in errors.CATALOG}

    assert documented <= catalog_codes
    assert catalog_codes - documented <= {3002, 3003}


def test_every_success_is_the_envelope():
    """Except a file download: an export's result is the file itself."""
    schema = generated_schema()

    for path, method, item in operations(schema):
        for status, response in item["responses"].items():
            if int(status) >= 400 or path == RESULT:
                continue
            if path == ERRORS_CSV:
                # The one file: the CSV itself, not an envelope.
                assert set(response["content"]) == {"text/csv"}
                assert response["headers"]["Content-Disposition"]["required"] is True
                continue
            if status == "204":
                assert "content" not in response, (method, path)  # no body at all
                continue
            body = response["content"]["application/json"]["schema"]
            assert body["properties"]["status"] == {"type": "boolean", "enum": [True]}, path
            assert set(body["properties"]) == {"status", "data"}, (method, path)


def test_tenant_operations_need_the_bearer_token_and_token_operations_do_not():
    """``[]``, not ``[{}]`` ("optional"): a generated client then logs in without credentials."""
    schema = generated_schema()

    for path, _, item in operations(schema):
        expected = [] if path.startswith("/v1/auth/") else [{"bearerAuth": []}]
        assert item["security"] == expected, path


@pytest.mark.parametrize("path", [TOKEN, REFRESH, LOGOUT])
def test_token_operations_take_json_only(path):
    """One body type: generators then build one request, and send what they label."""
    body = operation(generated_schema(), path, "post")["requestBody"]

    assert list(body["content"]) == ["application/json"]
    assert body["required"] is True


def test_the_schema_names_its_servers_tags_license_and_contact():
    schema = generated_schema()
    used = {tag for _, _, item in operations(schema) for tag in item["tags"]}

    assert schema["servers"] == [{"url": "/", "description": "This server"}]
    assert {tag["name"] for tag in schema["tags"]} == used
    assert all(tag["description"] for tag in schema["tags"])
    assert schema["info"]["license"]["name"]
    assert schema["info"]["contact"]["name"]


def test_the_error_catalog_is_in_the_error_schema_not_above_the_operations():
    """Swagger UI shows info.description above every operation, and schemas below them all."""
    schema = generated_schema()
    error = schema["components"]["schemas"]["Error"]

    for spec in errors.CATALOG:
        assert f"| {spec.code} | {spec.status} | {spec.message} |" in error["description"]
    assert "| 4004 |" not in schema["info"]["description"]
    assert len(schema["info"]["description"].splitlines()) < 20


# --- Real responses conform to the documented ones ------------------------------------


@pytest.fixture
def operator(organization, make_member):
    return make_member(
        organization,
        [catalog.BULK_TASK_GET, catalog.BULK_TASK_LIST, catalog.BULK_TASK_CREATE],
    )


@pytest.mark.django_db
def test_responses_of_every_operation_conform_to_the_schema(api_client, organization, operator):
    schema = generated_schema()
    task = BulkTaskFactory(organization=organization, created_by=operator, num_errors=1)
    BulkTaskLineFactory(task=task, kind=BulkTaskLine.Kind.ERRORED, line=3, reason="email: bad")
    BulkTaskLineFactory(task=task, kind=BulkTaskLine.Kind.SKIPPED, line=2, reason="exists")
    auth = {"HTTP_AUTHORIZATION": bearer(operator)}
    tasks, one = "/v1/organizations/acme/bulk-tasks", f"/v1/organizations/acme/bulk-tasks/{task.id}"
    operator.set_password("a-long-password-0123")
    operator.save()
    calls = [
        (TASK, "get", api_client.get(one, **auth)),
        (TASK, "get", api_client.get(one)),
        (TASK, "get", api_client.get(one, HTTP_AUTHORIZATION="Bearer x.y.z")),
        (TASK, "get", api_client.get(tasks + "/123", **auth)),
        (TASK, "get", api_client.get(tasks + "/" + "a" * 24, **auth)),
        (TASK, "get", api_client.get(one, HTTP_ACCEPT="text/html", **auth)),
        (LINES, "get", api_client.get(one + "/lines?limit=1", **auth)),
        (LINES, "get", api_client.get(one + "/lines?kind=nope", **auth)),
        (ERRORS_CSV, "get", api_client.get(one + "/errors.csv", HTTP_ACCEPT="text/csv")),
        (
            ERRORS_CSV,
            "get",
            api_client.get(one + "/errors.csv", HTTP_ACCEPT="application/json", **auth),
        ),
        (ERRORS_CSV, "get", api_client.get(tasks + "/123/errors.csv", **auth)),
        (TASKS, "get", api_client.get(tasks + "?limit=1", **auth)),
        (TASKS, "get", api_client.get(tasks + "?status=done", **auth)),
        (
            TASKS,
            "post",
            api_client.post(
                tasks, {"action": "users.import", "file": csv_file(people_rows(1))}, **auth
            ),
        ),
        (TASKS, "post", api_client.post(tasks, {"action": "nope"}, **auth)),
        (
            TASKS,
            "post",
            api_client.post(tasks, b"%PDF", content_type="application/pdf", **auth),
        ),
        (
            TOKEN,
            "post",
            api_client.post(
                TOKEN, {"email": operator.email, "password": "a-long-password-0123"}, format="json"
            ),
        ),
        (
            TOKEN,
            "post",
            api_client.post(TOKEN, {"email": operator.email, "password": "x"}, format="json"),
        ),
        (TOKEN, "post", api_client.post(TOKEN, {"email": operator.email, "password": "x"})),
        (TOKEN, "post", api_client.post(TOKEN, "{", content_type="application/json")),
        (REFRESH, "post", api_client.post(REFRESH, {"refresh": "x.y.z"}, format="json")),
        (REFRESH, "post", api_client.post(REFRESH, {}, format="json")),
    ]
    statuses = set()

    for path, method, response in calls:
        statuses.add(response.status_code)
        assert response["Content-Type"] == "application/json", (path, response.content)
        problems = response_problems(schema, path, method, response.status_code, response.json())
        assert problems == [], (path, response.status_code, response.content)

    assert statuses == {200, 201, 400, 401, 404, 406, 415}


@pytest.mark.parametrize("path", [TASKS, LINES])
def test_a_cursor_has_one_type_both_ways(path):
    """``nextCursor`` goes back as ``cursor`` unchanged: both strings, of the same pattern."""
    schema = generated_schema()
    item = operation(schema, path, "get")
    (parameter,) = [p for p in item["parameters"] if p["name"] == "cursor"]
    page = resolve(schema, item["responses"]["200"]["content"]["application/json"]["schema"])
    next_cursor = resolve(schema, page["properties"]["data"])["properties"]["nextCursor"]

    assert parameter["schema"]["type"] == next_cursor["type"] == "string"
    assert parameter["schema"]["pattern"] == next_cursor["pattern"]


def test_the_result_download_documents_its_three_file_types_and_no_envelope():
    success = operation(generated_schema(), RESULT, "get")["responses"]["200"]
    content = success["content"]

    disposition = success["headers"]["Content-Disposition"]
    assert disposition["required"] is True
    assert "<organization slug>-<title>-<bulkTaskId>" in disposition["description"]

    assert set(content) == {
        "text/csv; charset=utf-8",
        "application/x-ndjson",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    assert {media_type: media["schema"] for media_type, media in content.items()} == {
        "text/csv; charset=utf-8": {"type": "string"},
        "application/x-ndjson": {"type": "string"},
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
            "type": "string",
            "format": "binary",
        },
    }
