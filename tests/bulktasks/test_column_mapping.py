"""The ``columns`` option: a file's headers mapped to the action's columns, on every surface."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from bulktasks.actions import action_get
from bulktasks.columns import column_mapping_clean, column_mapping_parse
from bulktasks.models import BulkTask, IdempotencyKey
from bulktasks.processing import bulk_task_process
from core.exceptions import InvalidColumnMapping
from tests.bulktasks.files import csv_file, raw_file
from tests.bulktasks.pipeline import pending, report
from tests.bulktasks.workbooks import xlsx_file
from tests.conftest import bearer
from users import catalog
from users.models import Membership

pytestmark = pytest.mark.django_db

URL = "/v1/organizations/acme/bulk-tasks"
EXPORTED = "E-mail address,Given name,Family name"
MAPPING = {"E-mail address": "email", "Given name": "firstName", "Family name": "lastName"}


@pytest.fixture
def client(api_client, organization, make_member):
    uploader = make_member(
        organization, [catalog.BULK_TASK_CREATE, catalog.BULK_TASK_GET, catalog.BULK_TASK_LIST]
    )
    api_client.credentials(HTTP_AUTHORIZATION=bearer(uploader))
    return api_client


def post(client, upload, columns, **headers):
    data = {"action": "users.import", "file": upload}
    if columns is not None:
        data["columns"] = columns if isinstance(columns, str) else json.dumps(columns)
    return client.post(URL, data, format="multipart", **headers)


def exported_csv(*rows: str, header: str = EXPORTED):
    return csv_file(list(rows), header=header, name="export.csv")


def members(organization) -> set[tuple[str, str, str]]:
    return set(
        Membership.objects.filter(
            organization=organization, user__email__endswith="@example.com"
        ).values_list("user__email", "first_name", "last_name")
    )


# -- Parsing and checking the mapping ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"E-mail": "email"', "columns: not valid JSON (Expecting"),
        ('["email"]', "columns: must be a JSON object"),
        ('"email"', "columns: must be a JSON object"),
        ('{"E-mail": 1}', "columns: the column for header E-mail must be a string"),
        ('{"  ": "email"}', "columns: a header must not be empty"),
        ('{"E-mail": "email\\u0000"}', "must not hold NUL"),
        ("[" * 100_000, "columns: not valid JSON"),
    ],
)
def test_text_that_is_not_a_json_object_of_strings_is_refused(text, message):
    with pytest.raises(InvalidColumnMapping) as raised:
        column_mapping_parse(text)

    assert message in raised.value.message


@pytest.mark.parametrize("text", [None, "", "  ", "{}"])
def test_an_empty_field_or_object_is_no_mapping(text):
    cleaned = column_mapping_clean(column_mapping_parse(text), action=action_get("users.import"))

    assert cleaned is None


def test_columns_are_spelled_as_the_action_declares_them():
    cleaned = column_mapping_clean({"Given name": " FIRSTNAME "}, action=action_get("users.import"))

    assert cleaned == {"Given name": "firstName"}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"E-mail address": "mail"},
            "columns: unknown column mail (for header E-mail address); users.import has "
            "columns: email, firstName, lastName, picture",
        ),
        (
            {"E-mail": "email", "Mail": "EMAIL"},
            "columns: duplicate column email: headers E-mail, Mail are both mapped to it",
        ),
        (
            {"E-mail": "email", " e-MAIL ": "firstName"},
            "columns: headers E-mail,  e-MAIL  are the same header (headers are matched "
            "ignoring case and surrounding spaces)",
        ),
    ],
)
def test_an_unknown_or_duplicate_column_is_refused_naming_it(mapping, message):
    with pytest.raises(InvalidColumnMapping) as raised:
        column_mapping_clean(mapping, action=action_get("users.import"))

    assert raised.value.message == message


# -- Through the API --------------------------------------------------------------------


def test_a_csv_exported_by_another_tool_is_imported_through_its_mapping(client, acme):
    response = post(client, exported_csv("ada@example.com,Ada,Lovelace"), MAPPING)

    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["config"] == {"override": False, "dryRun": False, "columns": MAPPING}
    task = BulkTask.objects.get(pk=data["id"])
    assert task.column_mapping == MAPPING

    bulk_task_process(bulk_task_id=task.pk)

    assert report(task)[0] == (1, 1, 0, 0, 0)
    assert members(acme) == {("ada@example.com", "Ada", "Lovelace")}
    shown = client.get(f"{URL}/{task.pk}").json()["data"]
    assert shown["config"]["columns"] == MAPPING
    listed = client.get(URL).json()["data"]["items"]
    assert listed[0]["config"]["columns"] == MAPPING


def test_without_columns_the_config_has_none(client):
    for columns in (None, "", "{}"):
        response = post(client, csv_file(["ada@example.com,Ada,L"]), columns)
        assert response.status_code == 201
        assert response.json()["data"]["config"] == {"override": False, "dryRun": False}


def test_headers_are_matched_ignoring_case_and_spaces_before_the_mapping(client, acme):
    upload = exported_csv(
        "ada@example.com,Ada,Lovelace", header=" E-MAIL ADDRESS ,given NAME,lastName"
    )

    response = post(client, upload, {"e-mail address": "email", "Given Name": "firstName"})

    assert response.status_code == 201, response.content
    bulk_task_process(bulk_task_id=response.json()["data"]["id"])
    assert members(acme) == {("ada@example.com", "Ada", "Lovelace")}


def test_two_columns_can_swap_through_the_mapping(client, acme):
    upload = csv_file(["ada@example.com,Lovelace,Ada"])

    response = post(client, upload, {"firstName": "lastName", "lastName": "firstName"})

    bulk_task_process(bulk_task_id=response.json()["data"]["id"])
    assert members(acme) == {("ada@example.com", "Ada", "Lovelace")}


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ('{"E-mail address": ', "columns: not valid JSON"),
        ("[1, 2]", "columns: must be a JSON object"),
        ({"E-mail address": "mail"}, "columns: unknown column mail"),
        (
            {"E-mail address": "email", "Given name": "email"},
            "columns: duplicate column email: headers E-mail address, Given name",
        ),
        (
            {"Mail": "email"},
            "columns: header Mail not in the file's header row (it has: E-mail address",
        ),
    ],
)
def test_a_mapping_that_cannot_work_is_400_1013_naming_it_and_nothing_is_stored(
    client, columns, message
):
    response = post(client, exported_csv("ada@example.com,Ada,Lovelace"), columns)

    assert response.status_code == 400
    body = response.json()
    assert body["status"] is False
    assert body["error"]["code"] == 1013
    assert message in body["error"]["message"]
    assert not BulkTask.objects.exists()


def test_a_mapped_column_the_csv_already_has_is_400(client):
    upload = exported_csv("ada@example.com,a@x.io,Ada", header="E-mail address,email,firstName")

    response = post(client, upload, {"E-mail address": "email"})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": 1013,
        "message": "columns: duplicate column email: header E-mail address is mapped to it "
        "and the file also has a header email",
    }


def test_the_mapping_is_part_of_the_idempotency_key_fingerprint(client):
    content = exported_csv("ada@example.com,Ada,Lovelace").read()

    def upload():
        return raw_file(content, name="export.csv")

    first = post(client, upload(), MAPPING, HTTP_IDEMPOTENCY_KEY="k1")
    reordered = dict(reversed(MAPPING.items()))
    again = post(client, upload(), reordered, HTTP_IDEMPOTENCY_KEY="k1")
    other = post(
        client,
        upload(),
        {**MAPPING, "Family name": "firstName", "Given name": "lastName"},
        HTTP_IDEMPOTENCY_KEY="k1",
    )

    assert first.status_code == 201
    # The same mapping, written in another order, is the same request.
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert other.status_code == 409
    assert other.json()["error"]["code"] == 3004
    assert "column mapping" in other.json()["error"]["message"]


def test_a_fingerprint_without_a_mapping_is_what_it_was_before_mappings(client):
    content = csv_file(["ada@example.com,Ada,L"]).read()

    post(client, raw_file(content), None, HTTP_IDEMPOTENCY_KEY="k2")

    expected = hashlib.sha256(
        f"users.import\nFalse\n{hashlib.sha256(content).hexdigest()}".encode()
    )
    assert IdempotencyKey.objects.get(key="k2").fingerprint == expected.hexdigest()


# -- JSON Lines and spreadsheets: checked by the scan -----------------------------------


def test_json_lines_keys_are_mapped(acme):
    lines = [
        {"E-mail address": "ada@example.com", "Given name": "Ada"},
        {"E-mail address": "grace@example.com", "Family name": "Hopper", "email": "g@x.io"},
    ]
    upload = raw_file("".join(json.dumps(line) + "\n" for line in lines).encode(), name="p.jsonl")
    task = pending(acme, upload=upload, columns=MAPPING)

    bulk_task_process(bulk_task_id=task.pk)

    counters, lines_ = report(task)
    assert counters == (2, 1, 0, 0, 1)
    assert lines_ == [(2, 2, "duplicate field email (E-mail address is mapped to it)")]
    assert members(acme) == {("ada@example.com", "Ada", "")}


def test_a_json_lines_file_without_a_mapped_key_fails_naming_it(acme):
    upload = raw_file(b'{"email": "ada@example.com"}\n', name="p.jsonl")
    task = pending(acme, upload=upload, columns={"Given name": "firstName"})

    finished = bulk_task_process(bulk_task_id=task.pk)

    assert finished is not None
    assert finished.status == "failed"
    assert (
        finished.error == "the column mapping names header Given name, which the file does not have"
    )
    assert not members(acme)


def test_a_spreadsheet_is_imported_through_its_mapping(acme):
    rows = [["E-mail address", "Given name"], ["ada@example.com", "Ada"], [12345, "Bad"]]
    task = pending(
        acme, upload=xlsx_file(rows), columns={"E-mail address": "email", "Given name": "firstName"}
    )

    bulk_task_process(bulk_task_id=task.pk)

    counters, lines = report(task)
    assert counters == (2, 1, 0, 0, 1)
    assert lines == [(2, 3, "email: '12345' is not a valid e-mail address")]


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (
            ["Mail", "Given name"],
            "the column mapping names header E-mail address, which the file does not have",
        ),
        (
            ["E-mail address", "email"],
            "header row has duplicate column email (E-mail address is mapped to it)",
        ),
    ],
)
def test_a_spreadsheet_that_does_not_fit_its_mapping_fails_naming_why(acme, header, error):
    task = pending(
        acme,
        upload=xlsx_file([header, ["ada@example.com", "a@x.io"]]),
        columns={"E-mail address": "email"},
    )

    finished = bulk_task_process(bulk_task_id=task.pk)

    assert finished is not None
    assert (finished.status, finished.error) == ("failed", error)


# -- Admin and command line -------------------------------------------------------------


def test_the_admin_upload_takes_a_mapping_and_the_task_page_shows_it(staff_client, acme):
    response = staff_client.post(
        reverse("admin:bulktasks_bulktask_upload"),
        {
            "organization": acme.pk,
            "action": "users.import",
            "file": exported_csv("ada@example.com,Ada,Lovelace"),
            "columns": json.dumps(MAPPING),
        },
    )

    task = BulkTask.objects.get()
    assert response.status_code == 302
    assert task.column_mapping == MAPPING
    page = staff_client.get(reverse("admin:bulktasks_bulktask_change", args=[task.pk]))
    assert "Column mapping" in page.content.decode()
    assert "E-mail address \u2192 email" in page.content.decode()


@pytest.mark.parametrize(
    ("columns", "error"),
    [("{broken", "columns: not valid JSON"), ('{"E-mail address": "mail"}', "unknown column mail")],
)
def test_the_admin_upload_shows_a_bad_mapping_as_a_form_error(staff_client, acme, columns, error):
    response = staff_client.post(
        reverse("admin:bulktasks_bulktask_upload"),
        {
            "organization": acme.pk,
            "action": "users.import",
            "file": exported_csv("ada@example.com,Ada,Lovelace"),
            "columns": columns,
        },
    )

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not BulkTask.objects.exists()


def test_bulk_import_takes_columns(tmp_path: Path, acme):
    path = tmp_path / "export.csv"
    path.write_text(f"{EXPORTED}\nada@example.com,Ada,Lovelace\n")
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "bulk_import", str(path), "--organization", "acme", "--action", "users.import",
        "--columns", json.dumps(MAPPING), stdout=out, stderr=err,
    )  # fmt: skip

    assert "Inserted: 1" in out.getvalue()
    assert BulkTask.objects.get().column_mapping == MAPPING


def test_bulk_import_refuses_a_bad_mapping(tmp_path: Path, acme):
    path = tmp_path / "export.csv"
    path.write_text(f"{EXPORTED}\nada@example.com,Ada,Lovelace\n")

    with pytest.raises(CommandError, match="columns: unknown column mail"):
        call_command(
            "bulk_import", str(path), "--organization", "acme", "--action", "users.import",
            "--columns", '{"E-mail address": "mail"}',
        )  # fmt: skip
    assert not BulkTask.objects.exists()
