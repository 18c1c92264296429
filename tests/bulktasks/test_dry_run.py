"""A dry run: every line decided and reported as a real run would, and nothing written."""

from __future__ import annotations

import hashlib
import io
import threading

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.urls import reverse

from bulktasks.actions import ActionContext, users_import
from bulktasks.models import BulkTask, BulkTaskChunk, BulkTaskLine, IdempotencyKey
from bulktasks.processing import bulk_task_process
from bulktasks.services import bulk_task_retry
from tests.bulktasks.files import csv_file, people_rows
from tests.bulktasks.outcomes import OUTCOME_HEADER, database_state, outcome_rows, outcome_state
from tests.bulktasks.pipeline import pending, report
from tests.conftest import bearer
from tests.factories import OrganizationFactory, UserFactory
from tests.openapi import TASKS, generated_schema, operation, resolve
from users import catalog
from users.models import Membership, User

pytestmark = pytest.mark.django_db

URL = "/v1/organizations/acme/bulk-tasks"
ROWS = 150


@pytest.fixture
def uploader(organization, make_member):
    return make_member(
        organization, [catalog.BULK_TASK_CREATE, catalog.BULK_TASK_GET, catalog.BULK_TASK_LIST]
    )


@pytest.fixture
def client(api_client, uploader):
    api_client.credentials(HTTP_AUTHORIZATION=bearer(uploader))
    return api_client


def post(client, upload, **fields: str):
    headers = {k: v for k, v in fields.items() if k.startswith("HTTP_")}
    data = {k: v for k, v in fields.items() if not k.startswith("HTTP_")}
    return client.post(
        URL, {"action": "users.import", "file": upload, **data}, format="multipart", **headers
    )


def outcome_file():
    return csv_file(outcome_rows(ROWS), header=OUTCOME_HEADER)


def processed(task: BulkTask) -> BulkTask:
    finished = bulk_task_process(bulk_task_id=task.pk)
    assert finished is not None
    assert finished.status == BulkTask.Status.COMPLETED, finished.error
    return finished


def chunk_counters(task: BulkTask) -> list[tuple[int, int, int, int, int]]:
    return list(
        BulkTaskChunk.objects.filter(task=task)
        .order_by("index")
        .values_list("index", "num_inserts", "num_updates", "num_skips", "num_errors")
    )


# --- The field ------------------------------------------------------------------------------


def test_a_dry_run_upload_is_201_and_its_config_says_so(client):
    response = post(client, csv_file(people_rows(2)), dryRun="true")

    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["config"] == {"override": False, "dryRun": True}
    assert BulkTask.objects.get().dry_run is True
    shown = client.get(f"{URL}/{data['id']}").json()["data"]
    assert shown["config"] == {"override": False, "dryRun": True}


def test_without_the_field_a_task_is_a_real_run_and_says_so(client):
    response = post(client, csv_file(people_rows(2)))

    assert response.json()["data"]["config"] == {"override": False, "dryRun": False}
    listed = client.get(URL).json()["data"]["items"]
    assert [item["config"] for item in listed] == [{"override": False, "dryRun": False}]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("True", True), ("1", True), ("false", False), ("0", False), ("", False)],
)
def test_dry_run_takes_the_booleans_override_takes(client, value, expected):
    response = post(client, csv_file(people_rows(1)), dryRun=value)

    assert response.status_code == 201, response.content
    assert response.json()["data"]["config"]["dryRun"] is expected
    assert BulkTask.objects.get().dry_run is expected


@pytest.mark.parametrize("value", ["maybe", "2", "truee", "null", "yes please", "[true]"])
def test_a_bad_dry_run_value_is_400_in_the_envelope_and_stores_nothing(client, value):
    response = post(client, csv_file(people_rows(1)), dryRun=value)

    assert response.status_code == 400
    body = response.json()
    assert body["status"] is False
    assert body["error"]["code"] == 1002
    assert body["error"]["message"].startswith("dryRun: ")
    assert BulkTask.objects.count() == 0


@pytest.mark.parametrize("field", ["dryRun", "override", "action"])
def test_a_field_given_twice_is_400_rather_than_the_last_one_winning(client, field):
    values = {"dryRun": ["true", "false"], "override": ["false", "true"]}
    values["action"] = ["users.import", "users.import"]
    data = {"action": "users.import", "file": csv_file(people_rows(1)), field: values[field]}

    response = client.post(URL, data, format="multipart")

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": 1002,
        "message": f"{field}: given more than once; send it once",
    }
    assert BulkTask.objects.count() == 0


def test_the_schema_describes_the_field_and_config_dry_run():
    schema = generated_schema()
    create = operation(schema, TASKS, "post")
    body = resolve(schema, create["requestBody"]["content"]["multipart/form-data"]["schema"])
    config = schema["components"]["schemas"]["BulkTaskConfig"]

    assert body["properties"]["dryRun"]["type"] == "boolean"
    assert body["properties"]["dryRun"]["default"] is False
    assert "dryRun" not in body.get("required", [])
    assert "write nothing" in body["properties"]["dryRun"]["description"]
    assert config["properties"]["dryRun"]["type"] == "boolean"
    assert "dryRun" in config["required"]


# --- Idempotency ----------------------------------------------------------------------------


class TestIdempotency:
    def test_a_dry_run_and_a_real_run_of_one_file_are_different_requests(self, client):
        first = post(client, csv_file(people_rows(2)), dryRun="true", HTTP_IDEMPOTENCY_KEY="k1")

        again = post(client, csv_file(people_rows(2)), dryRun="false", HTTP_IDEMPOTENCY_KEY="k1")

        assert first.status_code == 201
        assert again.status_code == 409
        assert again.json()["error"]["code"] == 3004
        assert "dryRun" in again.json()["error"]["message"]
        assert BulkTask.objects.count() == 1

    def test_a_repeated_dry_run_is_replayed(self, client):
        first = post(client, csv_file(people_rows(2)), dryRun="true", HTTP_IDEMPOTENCY_KEY="k2")

        again = post(client, csv_file(people_rows(2)), dryRun="1", HTTP_IDEMPOTENCY_KEY="k2")

        assert again.status_code == 201
        assert again["Idempotent-Replayed"] == "true"
        assert again.json()["data"]["id"] == first.json()["data"]["id"]
        assert BulkTask.objects.count() == 1

    def test_a_real_run_keeps_the_fingerprint_it_had_before_dry_runs(self, client):
        """A key remembered before an upgrade still matches its repeat after it."""
        upload = csv_file(people_rows(2))
        checksum = hashlib.sha256(upload.read()).hexdigest()
        upload.seek(0)

        post(client, upload, HTTP_IDEMPOTENCY_KEY="k3")

        expected = hashlib.sha256(f"users.import\nFalse\n{checksum}".encode()).hexdigest()
        assert IdempotencyKey.objects.get().fingerprint == expected


# --- Nothing written, the same decisions ----------------------------------------------------


@pytest.mark.parametrize("override", [False, True], ids=["skip", "override"])
def test_a_dry_run_writes_nothing_to_any_table_but_its_report(acme, settings, override):
    settings.BULK_TASK_CHUNK_SIZE = 25
    outcome_state(acme, ROWS)
    before = database_state()

    task = processed(pending(acme, upload=outcome_file(), override=override, dry_run=True))

    assert database_state() == before
    counters, lines = report(task)
    # It decided: inserts, skips and errors, and updates with override, all reported.
    items, inserts, updates, skips, errors = counters
    assert (items, inserts > 0, updates > 0, skips > 0, errors > 0) == (
        ROWS,
        True,
        override,
        True,
        True,
    )
    assert len(lines) == skips + errors
    assert BulkTaskChunk.objects.filter(task=task).count() == 6


@pytest.mark.parametrize("override", [False, True], ids=["skip", "override"])
def test_the_real_run_after_a_dry_run_gives_the_same_report(acme, settings, override):
    settings.BULK_TASK_CHUNK_SIZE = 25
    outcome_state(acme, ROWS)
    members_before = Membership.objects.filter(organization=acme).count()

    dry = processed(pending(acme, upload=outcome_file(), override=override, dry_run=True))
    real = processed(pending(acme, upload=outcome_file(), override=override))

    assert report(real) == report(dry)
    assert chunk_counters(real) == chunk_counters(dry)
    # The real run did write what the dry run only reported.
    assert Membership.objects.filter(organization=acme).count() == members_before + dry.num_inserts
    if override:
        assert Membership.objects.filter(
            organization=acme, last_import_task_id=real.pk
        ).count() == (dry.num_inserts + dry.num_updates)
    # Each reason a real run gives, the dry run gave on the same line.
    reasons = {reason for _, _, reason in report(dry)[1]}
    assert "email: duplicate of line 2" in reasons
    assert "membership is deactivated" in reasons
    assert ("no changes" if override else "already a member") in reasons
    assert any(reason.startswith("picture: ") for reason in reasons)
    assert any("expected" in reason and "fields" in reason for reason in reasons)


def test_a_staff_account_named_by_a_dry_run_gets_no_membership_awaiting_approval(acme):
    staff = UserFactory(email="admin@example.com", is_staff=True)

    task = processed(pending(acme, ["admin@example.com,Ad,Min"], dry_run=True))

    assert report(task) == ((1, 1, 0, 0, 0), [])
    assert not Membership.objects.filter(user=staff).exists()


def test_the_action_is_told_it_is_a_dry_run(acme, monkeypatch):
    seen: list[ActionContext] = []
    original = users_import.UsersImport.apply

    def spy(self, *, context, rows):
        seen.append(context)
        return original(self, context=context, rows=rows)

    monkeypatch.setattr(users_import.UsersImport, "apply", spy)

    processed(pending(acme, people_rows(2), dry_run=True))
    processed(pending(acme, people_rows(2)))

    assert [context.dry_run for context in seen] == [True, False]


def test_a_failed_dry_run_retried_stays_a_dry_run(acme):
    task = pending(acme, people_rows(3), dry_run=True)
    BulkTask.objects.filter(pk=task.pk).update(status=BulkTask.Status.FAILED, error="boom")

    retried = bulk_task_retry(bulk_task=task)
    finished = processed(retried)

    assert finished.dry_run is True
    assert report(finished) == ((3, 3, 0, 0, 0), [])
    assert not User.objects.filter(email__startswith="person").exists()


# --- A person created meanwhile: the chunk is applied again ---------------------------------


def test_a_collision_in_a_dry_run_applies_the_chunk_again_and_still_writes_nothing(
    acme, between_lookup_and_insert
):
    # Created inside the chunk's savepoint: the insert collides, the rollback takes
    # both away, and the second try decides afresh.
    lookups = between_lookup_and_insert(lambda: User.objects.create(email="person2@example.com"))

    task = processed(pending(acme, people_rows(3), dry_run=True))

    assert lookups == [0, 0]
    assert report(task) == ((3, 3, 0, 0, 0), [])
    assert not User.objects.filter(email__startswith="person").exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite lets one writer in at a time: two imports cannot race there",
)
@pytest.mark.django_db(transaction=True)
def test_a_dry_run_racing_a_real_import_reports_what_a_real_run_then_would(
    between_lookup_and_insert,
):
    organization = OrganizationFactory()
    dry = pending(organization, people_rows(3), dry_run=True)
    real = pending(organization, people_rows(3))

    def import_in_another_thread() -> None:
        failures: list[BaseException] = []

        def work() -> None:
            try:
                bulk_task_process(bulk_task_id=real.pk)
            except BaseException as exc:  # handed to the test's thread
                failures.append(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        assert not failures, failures

    # The real import commits the three people while the dry run sits between
    # its lookup (nobody known) and its inserts: the dry run collides, applies
    # its chunk again, and finds them members.
    lookups = between_lookup_and_insert(import_in_another_thread)

    finished = processed(dry)

    assert lookups == [0, 3]
    assert report(real) == ((3, 3, 0, 0, 0), [])
    skipped = BulkTaskLine.Kind.SKIPPED
    assert report(finished) == (
        (3, 0, 0, 3, 0),
        [(skipped, line, "already a member") for line in (2, 3, 4)],
    )
    assert Membership.objects.filter(organization=organization).count() == 3
    assert User.objects.filter(email__startswith="person").count() == 3


# --- The command line -----------------------------------------------------------------------


def test_bulk_import_dry_run_reports_and_writes_nothing(tmp_path, acme):
    outcome_state(acme, ROWS)
    path = tmp_path / "people.csv"
    path.write_text("\n".join([OUTCOME_HEADER, *outcome_rows(ROWS)]) + "\n", encoding="utf-8")
    before = database_state()
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "bulk_import", str(path), "--organization", "acme", "--action", "users.import",
        "--override", "--dry-run", stdout=out, stderr=err,
    )  # fmt: skip

    task = BulkTask.objects.get()
    assert task.dry_run is True
    assert task.status == BulkTask.Status.COMPLETED
    assert database_state() == before
    assert "Dry run:  yes, nothing was written" in out.getvalue()
    assert f"Inserted: {task.num_inserts}" in out.getvalue()
    assert task.num_inserts > 0
    assert task.num_updates > 0
    assert "(dry run: nothing will be written)" in err.getvalue()

    out = io.StringIO()
    call_command(
        "bulk_import", str(path), "--organization", "acme", "--action", "users.import",
        "--override", stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    real = BulkTask.objects.exclude(pk=task.pk).get()
    assert real.dry_run is False
    assert "Dry run:  no" in out.getvalue()
    assert report(real) == report(task)


# --- The admin ------------------------------------------------------------------------------


def test_the_admin_upload_form_starts_a_dry_run(staff_client, acme):
    response = staff_client.post(
        reverse("admin:bulktasks_bulktask_upload"),
        {
            "organization": acme.pk,
            "action": "users.import",
            "dry_run": "on",
            "file": csv_file(people_rows(2)),
        },
        follow=True,
    )

    task = BulkTask.objects.get()
    assert task.dry_run is True
    assert response.status_code == 200
    content = response.content.decode()
    assert f"Task {task.pk} created as a dry run (nothing will be written)" in content


def test_the_admin_shows_a_dry_run_in_the_list_and_on_its_page(staff_client, acme):
    dry = pending(acme, people_rows(1), dry_run=True)
    real = pending(acme, people_rows(1, start=5))

    listed = staff_client.get(reverse("admin:bulktasks_bulktask_changelist"))
    only_dry = staff_client.get(
        reverse("admin:bulktasks_bulktask_changelist"), {"dry_run__exact": "1"}
    )
    page = staff_client.get(reverse("admin:bulktasks_bulktask_change", args=[dry.pk]))
    real_page = staff_client.get(reverse("admin:bulktasks_bulktask_change", args=[real.pk]))

    content = listed.content.decode()
    # The status cell carries a "dry run" badge beside the status, on the dry run's row only.
    assert content.count('class="task-badge task-badge--dry-run"') == 1
    assert [task.pk for task in only_dry.context["cl"].result_list] == [dry.pk]
    assert "A dry run: its report shows what importing the file would do" in page.content.decode()
    assert "A dry run" not in real_page.content.decode()
