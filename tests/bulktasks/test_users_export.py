"""users.export through the pipeline: exact content in each format, who is in it, chunks, resume."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.db import OperationalError, connections
from django.utils import timezone
from openpyxl import load_workbook

from bulktasks.actions import action_get
from bulktasks.models import BulkTask, BulkTaskChunk
from bulktasks.processing import (
    bulk_task_chunk_process,
    bulk_task_claim,
    bulk_task_process,
    bulk_task_start,
    bulk_task_sweep,
    organization_dispatch,
)
from bulktasks.processing.export import export_assemble, export_snapshot
from bulktasks.storage import bulk_task_storage, export_parts_folder, storage_folder_for
from tests.bulktasks.exports import JOINED, export_pending, many_members, member, result_bytes
from tests.bulktasks.pipeline import pending
from tests.factories import MembershipFactory, OrganizationFactory, RoleFactory, UserFactory
from users.models import Membership

pytestmark = pytest.mark.django_db

HEADER = "email,firstName,lastName,picture,roles,joinedAt"


@pytest.fixture
def people(acme):
    """Two active members, and everyone who must not be exported."""
    member(
        acme,
        "ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        picture="https://img.example.com/ada.png",
        roles=("ops", "Admins"),
    )
    member(acme, "zoe@example.com", first_name="Zoë", last_name='Ñúñez, "Jr"')
    member(acme, "gone@example.com", first_name="Gone", is_active=False)
    member(acme, "held@example.com", is_active=False, pending_approval=True)
    member(acme, "locked@example.com", user_fields={"is_active": False})
    other = OrganizationFactory(slug="globex")
    member(other, "outsider@example.com", roles=("ops",))
    # A role of another organization on an acme membership grants nothing here.
    both = member(acme, "both@example.com", joined=JOINED + timedelta(days=1))
    both.roles.add(RoleFactory(organization=other, name="globex-only"))
    MembershipFactory(user=both.user, organization=other)
    return acme


def exported(organization, result_format="csv"):
    task = export_pending(organization, result_format)
    done = bulk_task_process(bulk_task_id=task.pk)
    assert done is not None
    assert done.status == BulkTask.Status.COMPLETED, done.error
    return done, result_bytes(done)


def test_a_csv_export_holds_exactly_the_active_members_with_roles_and_joining_dates(people):
    task, content = exported(people)

    assert content.decode("utf-8") == (
        f"{HEADER}\r\n"
        "ada@example.com,Ada,Lovelace,https://img.example.com/ada.png,Admins; ops,"
        "2026-01-02T03:04:05Z\r\n"
        'zoe@example.com,Zoë,"Ñúñez, ""Jr""",,,2026-01-02T03:04:05Z\r\n'
        "both@example.com,,,,,2026-01-03T03:04:05Z\r\n"
    )
    counters = (task.num_items, task.num_inserts, task.num_updates, task.num_skips)
    assert (*counters, task.num_errors) == (3, 0, 0, 0, 0)
    assert task.lines.count() == 0
    assert task.result_size == len(content)


def test_a_json_lines_export_has_the_roles_as_an_array(people):
    task, content = exported(people, "jsonl")

    lines = content.decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "email": "ada@example.com",
            "firstName": "Ada",
            "lastName": "Lovelace",
            "picture": "https://img.example.com/ada.png",
            "roles": ["Admins", "ops"],
            "joinedAt": "2026-01-02T03:04:05Z",
        },
        {
            "email": "zoe@example.com",
            "firstName": "Zoë",
            "lastName": 'Ñúñez, "Jr"',
            "picture": "",
            "roles": [],
            "joinedAt": "2026-01-02T03:04:05Z",
        },
        {
            "email": "both@example.com",
            "firstName": "",
            "lastName": "",
            "picture": "",
            "roles": [],
            "joinedAt": "2026-01-03T03:04:05Z",
        },
    ]
    # UTF-8 as it is, not \u escapes.
    assert "Zoë" in lines[1]
    assert task.num_items == 3


def test_an_xlsx_export_is_one_sheet_of_text_cells_with_a_header_row(people):
    task, content = exported(people, "xlsx")

    workbook = load_workbook(io.BytesIO(content))
    assert workbook.sheetnames == ["users"]
    rows = list(workbook["users"].iter_rows(values_only=True))
    assert rows == [
        tuple(HEADER.split(",")),
        (
            "ada@example.com",
            "Ada",
            "Lovelace",
            "https://img.example.com/ada.png",
            "Admins; ops",
            "2026-01-02T03:04:05Z",
        ),
        ("zoe@example.com", "Zoë", 'Ñúñez, "Jr"', None, None, "2026-01-02T03:04:05Z"),
        ("both@example.com", None, None, None, None, "2026-01-03T03:04:05Z"),
    ]
    assert task.num_items == 3


FORMULAS = ['=HYPERLINK("http://evil.example")', "+1+1", "-2", "@SUM(A1)", "\tx", "\rx", "'=q"]


def formula_people(organization):
    for n, value in enumerate(FORMULAS):
        member(organization, f"f{n}@example.com", first_name=value, last_name="plain")
    member(organization, "-dash@example.com", first_name="Dash")


def test_csv_cells_a_spreadsheet_would_run_get_a_leading_quote(acme):
    formula_people(acme)

    _, content = exported(acme)

    rows = list(csv.reader(io.StringIO(content.decode(), newline="")))
    assert rows[-1][0] == "'-dash@example.com"
    assert [row[1] for row in rows[1:]] == [
        '\'=HYPERLINK("http://evil.example")',
        "'+1+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "''=q",
        "Dash",
    ]
    assert [row[2] for row in rows[1:]] == ["plain"] * len(FORMULAS) + [""]


def test_xlsx_cells_are_neutralized_too_and_never_formulas(acme):
    formula_people(acme)

    _, content = exported(acme, "xlsx")

    sheet = load_workbook(io.BytesIO(content))["users"]
    cells = [row[1] for row in sheet.iter_rows(min_row=2)]
    # XML reads a carriage return back as a line feed (its line-end normalization).
    assert [cell.value for cell in cells] == [
        '\'=HYPERLINK("http://evil.example")',
        "'+1+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\nx",
        "''=q",
        "Dash",
    ]
    assert {cell.data_type for cell in cells} == {"s"}


def test_json_lines_keep_the_values_as_they_are(acme):
    formula_people(acme)

    _, content = exported(acme, "jsonl")

    values = [json.loads(line)["firstName"] for line in content.decode().splitlines()]
    assert values == [*FORMULAS, "Dash"]


@pytest.mark.parametrize("result_format", ["csv", "jsonl", "xlsx"])
def test_an_export_of_many_chunks_has_every_member_once_in_order(acme, settings, result_format):
    settings.BULK_TASK_CHUNK_SIZE = 3
    many_members(acme, 10)

    task, content = exported(acme, result_format)

    chunks = list(BulkTaskChunk.objects.filter(task=task).order_by("index"))
    assert [(c.status, c.num_records) for c in chunks] == [("done", 3)] * 3 + [("done", 1)]
    assert task.num_items == 10
    if result_format == "xlsx":
        emails = [row[0] for row in load_workbook(io.BytesIO(content))["users"].values][1:]
    elif result_format == "jsonl":
        emails = [json.loads(line)["email"] for line in content.decode().splitlines()]
    else:
        emails = [line.split(",")[0] for line in content.decode().split("\r\n")[1:-1]]
    assert emails == [f"member{n}@example.com" for n in range(10)]
    # Only the result is left in storage: every part was deleted, and is no longer named.
    assert _stored(task) == [task.result_key]
    assert {c.part_key for c in chunks} == {""}


def test_an_organization_without_members_exports_the_header_alone(acme):
    task, content = exported(acme)

    assert content == f"{HEADER}\r\n".encode()
    assert task.num_items == 0
    assert task.chunks.count() == 1


def test_members_who_join_after_the_export_started_are_not_in_it(acme, settings):
    settings.BULK_TASK_CHUNK_SIZE = 2
    many_members(acme, 3)
    task = export_pending(acme)
    claimed = bulk_task_claim(bulk_task_id=task.pk, owner="w")
    export_snapshot(bulk_task=claimed, owner="w", action=action_get("users.export"), dispatch=False)
    many_members(acme, 2, prefix="late")

    done = bulk_task_process(bulk_task_id=task.pk)

    assert done.num_items == 3
    assert b"late" not in result_bytes(done)


def test_a_file_exported_from_one_organization_imports_cleanly_into_another(acme):
    formula_people(acme)
    member(acme, "+plus@example.com", first_name="Plus", roles=("ops",))
    globex = OrganizationFactory(slug="globex")
    _, content = exported(acme)

    imported = pending(globex, upload=ContentFile(content, name="acme.csv"))
    done = bulk_task_process(bulk_task_id=imported.pk)

    assert done.status == "completed", done.error
    assert (done.num_items, done.num_inserts, done.num_errors, done.num_skips) == (9, 9, 0, 0)
    profiles = {
        m.user.email: (m.first_name, m.last_name) for m in globex.memberships.select_related("user")
    }
    # An import trims every cell, whatever file it reads: "\tx" arrives as "x".
    assert profiles == {
        m.user.email: (m.first_name.strip(), m.last_name)
        for m in acme.memberships.select_related("user")
    }
    assert profiles["f0@example.com"] == ('=HYPERLINK("http://evil.example")', "plain")


def test_a_json_lines_export_imports_cleanly_too_its_roles_array_ignored(acme):
    member(acme, "ada@example.com", first_name="Ada", roles=("ops", "admins"))
    globex = OrganizationFactory(slug="globex")
    _, content = exported(acme, "jsonl")

    imported = pending(globex, upload=ContentFile(content, name="acme.jsonl"))
    done = bulk_task_process(bulk_task_id=imported.pk)

    assert (done.status, done.num_inserts, done.num_errors) == ("completed", 1, 0), done.error
    assert globex.memberships.get().first_name == "Ada"
    # Roles are the organization's own: an import never grants any.
    assert globex.memberships.get().roles.count() == 0


def test_an_export_imported_back_into_its_organization_changes_nothing(acme):
    many_members(acme, 4)
    _, content = exported(acme)

    again = pending(acme, upload=ContentFile(content, name="acme.csv"), override=True)
    done = bulk_task_process(bulk_task_id=again.pk)

    assert (done.num_inserts, done.num_updates, done.num_skips) == (0, 0, 4)
    assert set(done.lines.values_list("reason", flat=True)) == {"no changes"}


def _stored(task):
    storage = bulk_task_storage()
    folder = storage_folder_for(organization_id=task.organization_id, bulk_task_id=task.pk)
    found = []
    for sub in ("parts/", "result/"):
        try:
            _, files = storage.listdir(folder + sub)
        except FileNotFoundError:
            continue
        found += [folder + sub + name for name in files]
    return sorted(found)


# -- Crashes: each is resumed with exactly the result of an uninterrupted run ---------


@pytest.fixture
def reference(acme, settings):
    """Ten members in chunks of three, and the bytes an uninterrupted export of them gives."""
    settings.BULK_TASK_CHUNK_SIZE = 3
    settings.BULK_TASK_LEASE_SECONDS = 60
    many_members(acme, 10)
    _, content = exported(acme)
    return content


def scanned_export(organization):
    task = export_pending(organization)
    claimed = bulk_task_claim(bulk_task_id=task.pk, owner="scanner")
    export_snapshot(
        bulk_task=claimed, owner="scanner", action=action_get("users.export"), dispatch=False
    )
    return task, list(BulkTaskChunk.objects.filter(task=task).order_by("index"))


def expire(model, **filters):
    model.objects.filter(**filters).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_a_chunk_whose_worker_died_after_storing_its_part_is_taken_over_without_a_duplicate(
    acme, reference
):
    task, chunks = scanned_export(acme)
    # The dead worker stored its part, then died before its commit: the part was never recorded.
    folder = export_parts_folder(organization_id=acme.pk, bulk_task_id=task.pk)
    orphan = bulk_task_storage().save(folder + "000000-dead.part", ContentFile(b"dead,row\r\n"))
    BulkTaskChunk.objects.filter(pk=chunks[0].pk).update(
        status="running", lease_owner="dead", attempts=1
    )
    BulkTask.objects.filter(pk=task.pk).update(status="inProgress")
    expire(BulkTaskChunk, pk=chunks[0].pk)

    done = bulk_task_process(bulk_task_id=task.pk)

    assert result_bytes(done) == reference
    assert done.num_items == 10
    assert BulkTaskChunk.objects.get(pk=chunks[0].pk).attempts == 2
    assert not bulk_task_storage().exists(orphan)
    assert _stored(done) == [done.result_key]


def test_a_chunk_that_lost_its_lease_deletes_its_part_and_counts_nothing(acme, reference):
    task, chunks = scanned_export(acme)
    BulkTask.objects.filter(pk=task.pk).update(status="inProgress")
    real_save = bulk_task_storage().save
    saved = []

    def save_then_lose_the_lease(name, content, **kwargs):
        key = real_save(name, content, **kwargs)
        saved.append(key)
        BulkTaskChunk.objects.filter(pk=chunks[0].pk).update(lease_owner="someone-else")
        return key

    with mock.patch.object(bulk_task_storage(), "save", save_then_lose_the_lease):
        assert bulk_task_chunk_process(chunk_id=chunks[0].pk, owner="me", dispatch=False) is None

    assert not bulk_task_storage().exists(saved[0])
    assert BulkTask.objects.get(pk=task.pk).num_items == 0
    assert BulkTaskChunk.objects.get(pk=chunks[0].pk).part_key == ""


def test_a_chunk_of_a_task_that_failed_meanwhile_deletes_its_part(acme, reference):
    task, chunks = scanned_export(acme)
    BulkTask.objects.filter(pk=task.pk).update(status="inProgress")
    real_save = bulk_task_storage().save
    saved = []

    def save_then_fail_the_task(name, content, **kwargs):
        key = real_save(name, content, **kwargs)
        saved.append(key)
        BulkTask.objects.filter(pk=task.pk).update(status="failed", error="cancelled")
        return key

    with mock.patch.object(bulk_task_storage(), "save", save_then_fail_the_task):
        assert bulk_task_chunk_process(chunk_id=chunks[0].pk, owner="me", dispatch=False) is None

    assert not bulk_task_storage().exists(saved[0])
    assert BulkTaskChunk.objects.get(pk=chunks[0].pk).status == "pending"
    assert BulkTask.objects.get(pk=task.pk).num_items == 0


def all_chunks_done_without_join(organization):
    """Every chunk applied, as the last chunk's worker leaves them if it dies before joining."""
    task, chunks = scanned_export(organization)
    BulkTask.objects.filter(pk=task.pk).update(status="inProgress")
    with mock.patch("bulktasks.processing.chunks.export_assemble") as join:
        for chunk in chunks:
            bulk_task_chunk_process(chunk_id=chunk.pk, owner="w", dispatch=False)
    assert join.call_count == 1
    return task


def test_parts_whose_joining_worker_died_before_it_began_are_joined_by_the_sweeper(
    acme, reference, settings
):
    settings.BULK_TASK_PENDING_GRACE_SECONDS = 60
    task = all_chunks_done_without_join(acme)

    with mock.patch("bulktasks.processing.sweep.bulk_task_enqueue") as enqueue:
        assert task.pk not in bulk_task_sweep()  # the last commit is too recent
        BulkTask.objects.filter(pk=task.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
        assert task.pk in bulk_task_sweep()
    enqueue.assert_called_once_with(bulk_task_id=task.pk)
    bulk_task_start(bulk_task_id=task.pk, owner="sweeper")

    done = BulkTask.objects.get(pk=task.pk)
    assert done.status == "completed"
    assert result_bytes(done) == reference
    assert _stored(done) == [done.result_key]


def test_a_join_that_died_before_recording_its_result_is_done_again_and_its_file_deleted(
    acme, reference
):
    task = all_chunks_done_without_join(acme)
    # The dead worker claimed the join and wrote a result it never recorded;
    # dead, it ran no clean-up either.
    with (
        mock.patch("bulktasks.processing.export._result_record", side_effect=SystemExit),
        mock.patch("bulktasks.processing.export._delete_quietly"),
        pytest.raises(SystemExit),
    ):
        export_assemble(bulk_task_id=task.pk, owner="dead")
    orphans = _stored(BulkTask.objects.get(pk=task.pk))
    assert len([key for key in orphans if "/result/" in key]) == 1
    expire(BulkTask, pk=task.pk)

    with mock.patch("bulktasks.processing.sweep.bulk_task_enqueue") as enqueue:
        assert task.pk in bulk_task_sweep()
    enqueue.assert_called_once_with(bulk_task_id=task.pk)
    bulk_task_start(bulk_task_id=task.pk, owner="next")

    done = BulkTask.objects.get(pk=task.pk)
    assert (done.status, done.attempts) == ("completed", 2)
    assert result_bytes(done) == reference
    assert _stored(done) == [done.result_key]


def test_a_join_that_died_after_recording_its_result_completes_with_that_result(acme, reference):
    task = all_chunks_done_without_join(acme)
    with (
        mock.patch("bulktasks.processing.export._leftovers_delete", side_effect=SystemExit),
        pytest.raises(SystemExit),
    ):
        export_assemble(bulk_task_id=task.pk, owner="dead")
    recorded = BulkTask.objects.get(pk=task.pk)
    assert recorded.status == "inProgress"
    assert recorded.result_key
    expire(BulkTask, pk=task.pk)

    bulk_task_start(bulk_task_id=task.pk, owner="next")

    done = BulkTask.objects.get(pk=task.pk)
    assert done.status == "completed"
    assert done.result_key == recorded.result_key
    assert result_bytes(done) == reference
    assert _stored(done) == [done.result_key]


def emails_in(content: bytes) -> list[str]:
    return [line.split(",")[0] for line in content.decode().split("\r\n")[1:-1]]


def committed_then_lost():
    """A COMMIT the database applied, whose answer the connection lost: the caller sees an error."""
    connection = connections["default"]
    commit = connection.commit

    def lost_after_commit():
        commit()
        raise OperationalError("server closed the connection unexpectedly")

    return mock.patch.object(connection, "commit", side_effect=lost_after_commit)


@pytest.mark.django_db(transaction=True)
def test_a_chunk_whose_commit_failed_after_committing_keeps_its_part_and_the_result_is_exact(
    acme, settings
):
    settings.BULK_TASK_CHUNK_SIZE = 3
    many_members(acme, 10)
    task, chunks = scanned_export(acme)
    BulkTask.objects.filter(pk=task.pk).update(status="inProgress")

    with committed_then_lost(), pytest.raises(OperationalError):
        bulk_task_chunk_process(chunk_id=chunks[1].pk, owner="w", dispatch=False)

    # Committed after all: the chunk is done, and the part it names is still stored.
    chunk = BulkTaskChunk.objects.get(pk=chunks[1].pk)
    assert (chunk.status, chunk.num_records) == ("done", 3)
    assert bulk_task_storage().exists(chunk.part_key)
    done = bulk_task_process(bulk_task_id=task.pk)
    assert done.status == "completed", done.error
    assert done.num_items == 10
    assert emails_in(result_bytes(done)) == [f"member{n}@example.com" for n in range(10)]
    assert _stored(done) == [done.result_key]


@pytest.mark.django_db(transaction=True)
def test_a_join_whose_commit_failed_after_recording_the_result_completes_with_it(acme, settings):
    settings.BULK_TASK_CHUNK_SIZE = 3
    many_members(acme, 10)
    task = all_chunks_done_without_join(acme)

    with committed_then_lost(), pytest.raises(OperationalError):
        export_assemble(bulk_task_id=task.pk, owner="w")

    recorded = BulkTask.objects.get(pk=task.pk)
    assert recorded.status == "inProgress"
    assert bulk_task_storage().exists(recorded.result_key)
    done = bulk_task_process(bulk_task_id=task.pk)
    assert (done.status, done.result_key, done.num_items) == ("completed", recorded.result_key, 10)
    assert emails_in(result_bytes(done)) == [f"member{n}@example.com" for n in range(10)]


def test_a_done_chunk_whose_part_is_gone_runs_again_and_the_result_is_exact(acme, reference):
    task = all_chunks_done_without_join(acme)
    lost = BulkTaskChunk.objects.get(task=task, index=1)
    bulk_task_storage().delete(lost.part_key)

    with mock.patch("bulktasks.processing.export.organization_dispatch") as dispatch:
        assert export_assemble(bulk_task_id=task.pk, owner="joiner") is None

    dispatch.assert_called_once_with(organization_id=acme.pk)
    lost.refresh_from_db()
    assert (lost.status, lost.part_key, lost.num_records) == ("pending", "", 0)
    waiting = BulkTask.objects.get(pk=task.pk)
    assert (waiting.status, waiting.num_items, waiting.lease_owner) == ("inProgress", 7, "")
    assert waiting.result_key == ""
    done = bulk_task_process(bulk_task_id=task.pk)
    assert done.status == "completed", done.error
    assert done.num_items == 10
    assert result_bytes(done) == reference
    assert _stored(done) == [done.result_key]


def test_parts_that_keep_vanishing_fail_the_export_after_its_attempts(acme, reference, settings):
    # Parts written on one worker's own disk, never seen by the worker that joins them.
    settings.BULK_TASK_MAX_ATTEMPTS = 3
    task = all_chunks_done_without_join(acme)
    real = bulk_task_storage()
    vanishing = mock.Mock(wraps=real)
    vanishing.exists.side_effect = lambda key: not key.endswith(".part") and real.exists(key)
    vanishing.open.side_effect = lambda key, *args: (
        (_ for _ in ()).throw(FileNotFoundError(key))
        if key.endswith(".part")
        else real.open(key, *args)
    )

    joins = 0
    with mock.patch("bulktasks.processing.export.bulk_task_storage", return_value=vanishing):
        while joins < 10 and not BulkTask.objects.get(pk=task.pk).is_finished:
            joins += 1
            export_assemble(bulk_task_id=task.pk, owner=f"joiner{joins}", dispatch=False)
            with mock.patch("bulktasks.processing.chunks.export_assemble"):
                for chunk in BulkTaskChunk.objects.filter(task=task).exclude(status="done"):
                    bulk_task_chunk_process(chunk_id=chunk.pk, owner=f"w{joins}", dispatch=False)

    failed = BulkTask.objects.get(pk=task.pk)
    assert failed.status == "failed"
    assert "gave up after 3 attempts" in failed.error
    assert joins == 4  # three joins that ran the lost chunks again, then one that gave up


def test_a_recorded_result_no_longer_stored_is_written_again_before_completing(acme, reference):
    task = all_chunks_done_without_join(acme)
    with (
        mock.patch("bulktasks.processing.export._leftovers_delete", side_effect=SystemExit),
        pytest.raises(SystemExit),
    ):
        export_assemble(bulk_task_id=task.pk, owner="dead")
    lost = BulkTask.objects.get(pk=task.pk).result_key
    bulk_task_storage().delete(lost)
    expire(BulkTask, pk=task.pk)

    bulk_task_start(bulk_task_id=task.pk, owner="next")

    done = BulkTask.objects.get(pk=task.pk)
    assert done.status == "completed", done.error
    assert done.result_key not in ("", lost)
    assert result_bytes(done) == reference
    assert _stored(done) == [done.result_key]


def test_a_member_created_after_the_snapshot_is_not_exported_whatever_its_id(acme, settings):
    settings.BULK_TASK_CHUNK_SIZE = 2
    many_members(acme, 3)
    task, chunks = scanned_export(acme)
    end = chunks[-1].key_upto
    # Another process's id, made in the same second: it sorts before the snapshot's end.
    early_id = end[:8] + "0" * 16
    assert early_id < end
    MembershipFactory(id=early_id, organization=acme, user=UserFactory(email="late@example.com"))
    assert (
        Membership.objects.get(pk=early_id).created_at > BulkTask.objects.get(pk=task.pk).scanned_at
    )

    done = bulk_task_process(bulk_task_id=task.pk)

    assert done.num_items == 3
    assert emails_in(result_bytes(done)) == [f"member{n}@example.com" for n in range(3)]


def test_a_live_join_is_not_taken_over(acme, reference):
    task = all_chunks_done_without_join(acme)
    BulkTask.objects.filter(pk=task.pk).update(
        lease_owner="alive", lease_expires_at=timezone.now() + timedelta(minutes=1)
    )

    assert export_assemble(bulk_task_id=task.pk, owner="other") is None
    with mock.patch("bulktasks.processing.sweep.bulk_task_enqueue") as enqueue:
        bulk_task_sweep()
    enqueue.assert_not_called()
    assert BulkTask.objects.get(pk=task.pk).status == "inProgress"


def test_a_failed_export_retried_by_staff_keeps_its_done_chunks(acme, reference):
    from bulktasks.services import bulk_task_retry

    task, chunks = scanned_export(acme)
    BulkTask.objects.filter(pk=task.pk).update(status="inProgress")
    bulk_task_chunk_process(chunk_id=chunks[0].pk, owner="w", dispatch=False)
    BulkTask.objects.filter(pk=task.pk).update(status="failed", error="stopped")

    with mock.patch("bulktasks.services.retry.bulk_task_enqueue"):
        bulk_task_retry(bulk_task=BulkTask.objects.get(pk=task.pk))
    done = bulk_task_process(bulk_task_id=task.pk)

    assert done.status == "completed"
    assert result_bytes(done) == reference
    assert BulkTaskChunk.objects.get(pk=chunks[0].pk).attempts == 1


# -- Fair with other organizations' work ---------------------------------------------


def test_an_export_takes_no_more_than_its_organizations_cap_of_chunks_at_once(acme, settings):
    settings.BULK_TASK_CHUNK_SIZE = 2
    settings.BULK_TASK_ORGANIZATION_CONCURRENCY = 2
    many_members(acme, 12)
    globex = OrganizationFactory(slug="globex")
    small = pending(globex, ["x@example.com,X,Y"])
    task = export_pending(acme)

    with mock.patch("bulktasks.processing.dispatch.chunk_enqueue"):
        claimed = bulk_task_claim(bulk_task_id=task.pk, owner="w")
        export_snapshot(bulk_task=claimed, owner="w", action=action_get("users.export"))
        statuses = list(task.chunks.order_by("index").values_list("status", flat=True))
        assert statuses == ["queued", "queued"] + ["pending"] * 4
        # Another organization's task is dispatched at once, whatever acme has waiting.
        bulk_task_start(bulk_task_id=small.pk, owner="w2")
    assert BulkTask.objects.get(pk=small.pk).status == "completed"
    assert organization_dispatch(organization_id=acme.pk) == []


def test_a_member_of_a_deleted_account_is_not_exported(acme):
    member(acme, "kept@example.com")
    UserFactory(email="other@example.com")

    _, content = exported(acme)

    assert content.decode().count("\r\n") == 2


def test_an_xlsx_result_is_never_continued_on_a_second_sheet(monkeypatch):
    from bulktasks.exports import FORMATS, TooManyRows, result_write

    monkeypatch.setattr("bulktasks.exports.formats.XLSX_MAX_ROWS", 2)

    def parts():
        return [io.BytesIO(b'["a"]\n["b"]\n'), io.BytesIO(b'["c"]\n')]

    with pytest.raises(TooManyRows):
        result_write(FORMATS["xlsx"], ["email"], parts(), io.BytesIO(), title="users")
    fits = io.BytesIO()
    result_write(FORMATS["xlsx"], ["email"], parts()[:1], fits, title="users")
    workbook = load_workbook(fits)
    assert workbook.sheetnames == ["users"]
    assert list(workbook["users"].values) == [("email",), ("a",), ("b",)]
