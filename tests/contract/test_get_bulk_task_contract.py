"""Every 200 and error body of GET bulk-task validates against schemas written from the spec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from bulktasks.models import BulkTask, BulkTaskLine
from tests.conftest import bearer
from tests.contract.additions import with_additions
from tests.factories import BulkTaskFactory, BulkTaskLineFactory, UserFactory

pytestmark = pytest.mark.django_db

HERE = Path(__file__).parent


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((HERE / name).read_text())
    if name == "get_bulk_task.schema.json":
        schema = with_additions(schema)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


SUCCESS = validator("get_bulk_task.schema.json")
ERROR = validator("error.schema.json")


def assert_valid(schema: Draft202012Validator, body: dict) -> None:
    problems = [
        f"{list(error.absolute_path)}: {error.message}" for error in schema.iter_errors(body)
    ]
    assert problems == []


def test_the_schema_rejects_what_the_contract_forbids():
    """The schema itself can fail: null, unknown fields, bad enums, long strings, bad ids."""
    bad_bodies = [
        {"status": True, "data": {"error": None}},
        {"status": True, "data": {"unknown": 1}},
        {"status": True, "data": {"status": "done"}},
        {"status": True, "data": {"id": "123"}},
        {"status": True, "data": {"file": {"originalName": "x" * 257}}},
        {"status": True, "data": {"createdBy": {"email": "not-an-email"}}},
        {"status": True, "data": {"createdAt": "2024-01-01T00: 00:00Z"}},
        {"status": True, "data": {"report": {"skippedLines": [{"line": 1, "reason": "x"}]}}},
        # The additions are typed, and nothing else joins them.
        {"status": True, "data": {"config": {"dryRun": "true"}}},
        {"status": True, "data": {"config": {"override": True, "dryrun": True}}},
    ]
    for body in bad_bodies:
        assert list(SUCCESS.iter_errors(body)), body


@pytest.mark.parametrize("status", [choice for choice, _ in BulkTask.Status.choices])
def test_a_task_in_every_status_matches_the_contract(reader_client, organization, reader, status):
    task = BulkTaskFactory(
        organization=organization,
        created_by=reader,
        status=status,
        override=status == "completed",
        file_original_name="a" * 256,
        file_mimetype="text/csv",
        file_bucket="b" * 256,
        file_key="k" * 256,
        file_location="https://storage.example.com/" + "l" * 200,
        file_region="eu-west-1",
        num_items=3,
        num_skips=1,
        num_errors=1,
        error="file is not valid UTF-8" if status == "failed" else "",
    )
    BulkTaskLineFactory(task=task, kind=BulkTaskLine.Kind.SKIPPED, line=2, reason="exists")
    BulkTaskLineFactory(task=task, kind=BulkTaskLine.Kind.ERRORED, line=3, reason="email: bad")

    response = reader_client.get(f"/v1/organizations/acme/bulk-tasks/{task.id}")

    assert response.status_code == 200
    assert_valid(SUCCESS, response.json())


def test_a_bare_task_without_creator_or_file_matches_the_contract(reader_client, organization):
    task = BulkTaskFactory(
        organization=organization,
        created_by=None,
        storage_provider=None,
        file_original_name="",
        file_mimetype="",
        file_size=None,
        file_checksum="",
    )

    response = reader_client.get(f"/v1/organizations/acme/bulk-tasks/{task.id}")

    assert response.status_code == 200
    assert_valid(SUCCESS, response.json())


def test_long_names_are_cut_to_the_contract_limit(api_client, organization, make_member):
    from users import catalog

    creator = UserFactory(first_name="F" * 128, last_name="L" * 128)
    viewer = make_member(organization, [catalog.BULK_TASK_GET])
    task = BulkTaskFactory(organization=organization, created_by=creator)

    response = api_client.get(
        f"/v1/organizations/acme/bulk-tasks/{task.id}", HTTP_AUTHORIZATION=bearer(viewer)
    )

    assert_valid(SUCCESS, response.json())
    assert len(response.json()["data"]["createdBy"]["fullName"]) == 128


@pytest.mark.parametrize(
    ("path", "auth"),
    [
        ("/v1/organizations/acme/bulk-tasks/" + "a" * 24, None),
        ("/v1/organizations/acme/bulk-tasks/" + "a" * 24, "Bearer junk"),
        ("/v1/organizations/acme/bulk-tasks/" + "a" * 24, "reader"),
        ("/v1/organizations/acme/bulk-tasks/xyz", "reader"),
        ("/v1/organizations/zz/bulk-tasks/" + "a" * 24, "reader"),
        ("/v1/unknown", "reader"),
    ],
)
def test_every_error_body_matches_the_envelope(api_client, organization, reader, path, auth):
    if auth == "reader":
        auth = bearer(reader)
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}

    response = api_client.get(path, **headers)

    assert response.status_code >= 400
    assert_valid(ERROR, response.json())
