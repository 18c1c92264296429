"""The pipeline's services, run in-process: what each kind of file and line becomes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bulktasks.actions import action_get
from bulktasks.models import BulkTask, BulkTaskChunk, BulkTaskLine, IdempotencyKey
from bulktasks.processing import (
    LeaseLost,
    bulk_task_claim,
    bulk_task_process,
    bulk_task_scan,
    bulk_task_sweep,
)
from bulktasks.processing import scan as scan_module
from bulktasks.processing import sweep as sweep_module
from bulktasks.processing.claim import chunk_claim
from bulktasks.processing.dispatch import organization_dispatch
from bulktasks.services import bulk_task_create, bulk_task_retry
from bulktasks.tasks import flush_expired_idempotency_keys
from tests.bulktasks.files import csv_file, people_rows, raw_file
from tests.bulktasks.pipeline import pending, scanned
from tests.factories import MembershipFactory, UserFactory
from users.models import Membership, User

pytestmark = pytest.mark.django_db


def run(organization, upload, *, override: bool = False) -> BulkTask:
    """Create a task from an upload and process it to its end, in this process."""
    task = pending(organization, upload=upload, override=override)
    finished = bulk_task_process(bulk_task_id=task.pk)
    assert finished is not None
    return finished


def lines_of(task: BulkTask, kind: int) -> list[tuple[int, str]]:
    return list(task.lines.filter(kind=kind).order_by("line").values_list("line", "reason"))


def test_new_people_become_users_and_members(acme):
    task = run(acme, csv_file(people_rows(3)))

    assert task.status == BulkTask.Status.COMPLETED
    assert (
        task.num_items,
        task.num_inserts,
        task.num_updates,
        task.num_skips,
        task.num_errors,
    ) == (3, 3, 0, 0, 0)
    user = User.objects.get(email="person1@example.com")
    assert not user.has_usable_password()
    membership = Membership.objects.get(organization=acme, user=user, is_active=True)
    assert (membership.first_name, membership.last_name) == ("First1", "Last1")
    # The profile is the organization's; the account's own stays the person's to fill.
    assert (user.first_name, user.last_name, user.picture) == ("", "", "")


def test_an_existing_member_is_skipped_without_override(acme):
    membership = MembershipFactory(
        organization=acme, user=UserFactory(email="person2@example.com"), first_name="Old"
    )

    task = run(acme, csv_file(people_rows(3)))

    assert (task.num_inserts, task.num_skips) == (2, 1)
    assert lines_of(task, BulkTaskLine.Kind.SKIPPED) == [(3, "already a member")]
    membership.refresh_from_db()
    assert membership.first_name == "Old"


def test_with_override_an_existing_members_profile_here_is_updated(acme):
    membership = MembershipFactory(
        organization=acme,
        user=UserFactory(email="person2@example.com", first_name="Own"),
        first_name="Old",
    )

    task = run(acme, csv_file(people_rows(3)), override=True)

    assert (task.num_inserts, task.num_updates, task.num_skips) == (2, 1, 0)
    membership.refresh_from_db()
    assert (membership.first_name, membership.last_name) == ("First2", "Last2")
    membership.user.refresh_from_db()
    assert membership.user.first_name == "Own"


def test_with_override_a_line_that_changes_nothing_is_skipped(acme):
    MembershipFactory(
        organization=acme,
        user=UserFactory(email="person1@example.com"),
        first_name="First1",
        last_name="Last1",
    )

    task = run(acme, csv_file(people_rows(1)), override=True)

    assert (task.num_updates, task.num_skips) == (0, 1)
    assert lines_of(task, BulkTaskLine.Kind.SKIPPED) == [(2, "no changes")]


def test_an_account_of_another_organization_joins_without_its_profile_changing(acme):
    outsider = MembershipFactory(
        user=UserFactory(email="person1@example.com", first_name="Keep"), first_name="There"
    )

    task = run(acme, csv_file(people_rows(1)), override=True)

    assert task.num_inserts == 1
    outsider.refresh_from_db()
    outsider.user.refresh_from_db()
    assert (outsider.user.first_name, outsider.first_name) == ("Keep", "There")
    here = Membership.objects.get(organization=acme, user=outsider.user)
    assert (here.first_name, here.last_name) == ("First1", "Last1")


def test_an_email_that_lengthens_when_lower_cased_is_one_errored_line(acme):
    # 169 characters as written, 269 once "İ" is lower-cased to "i̇": too long
    # for the column, which only PostgreSQL enforces; the other lines go in.
    lengthening = "x" * 60 + "@" + ".".join(["İ" * 20] * 5) + ".com"
    rows = [*people_rows(2), f"{lengthening},First,Last", *people_rows(1, start=3)]

    task = run(acme, csv_file(rows))

    assert task.status == BulkTask.Status.COMPLETED, task.error
    assert (task.num_inserts, task.num_errors) == (3, 1)
    assert lines_of(task, BulkTaskLine.Kind.ERRORED) == [
        (4, "email: longer than 256 characters once lower-cased")
    ]


def test_a_deactivated_member_is_not_restored_by_an_import(acme):
    membership = MembershipFactory(
        organization=acme, user=UserFactory(email="person1@example.com"), is_active=False
    )

    task = run(acme, csv_file(people_rows(1)), override=True)

    assert lines_of(task, BulkTaskLine.Kind.SKIPPED) == [(2, "membership is deactivated")]
    membership.refresh_from_db()
    assert membership.is_active is False


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (",Ann,Lee", "email: is required"),
        ("not-an-email,Ann,Lee", "email: 'not-an-email' is not a valid e-mail address"),
        ("ann@example.com," + "A" * 129 + ",Lee", "firstName: longer than 128 characters"),
        ("ann@example.com,Ann," + "L" * 129, "lastName: longer than 128 characters"),
    ],
)
def test_an_invalid_line_is_errored_with_a_reason_naming_the_column(acme, row, reason):
    task = run(acme, csv_file(["good@example.com,Good,One", row]))

    assert task.status == BulkTask.Status.COMPLETED
    assert lines_of(task, BulkTaskLine.Kind.ERRORED) == [(3, reason)]
    assert (task.num_items, task.num_inserts, task.num_errors) == (2, 1, 1)


def test_an_invalid_picture_url_is_errored(acme):
    task = run(acme, csv_file(["ann@example.com,javascript:alert(1)"], header="email,picture"))

    assert lines_of(task, BulkTaskLine.Kind.ERRORED) == [(2, "picture: not a valid http(s) URL")]


def test_an_email_repeated_in_the_file_is_errored_even_across_chunks(acme, settings):
    settings.BULK_TASK_CHUNK_SIZE = 2
    rows = [
        "a@example.com,A,1",
        "b@example.com,B,2",
        "c@example.com,C,3",
        "A@Example.com,A,4",
        "b@example.com,B,5",
    ]

    task = run(acme, csv_file(rows))

    assert lines_of(task, BulkTaskLine.Kind.ERRORED) == [
        (5, "email: duplicate of line 2"),
        (6, "email: duplicate of line 3"),
    ]
    assert task.num_inserts == 3
    assert User.objects.filter(email="a@example.com").count() == 1


def test_one_bad_line_never_stops_the_others(acme, settings):
    settings.BULK_TASK_CHUNK_SIZE = 3
    rows = [*people_rows(4), "broken", "x@example.com,too,many,fields", *people_rows(4, start=5)]

    task = run(acme, csv_file(rows))

    assert task.status == BulkTask.Status.COMPLETED
    assert task.num_inserts == 8
    assert [line for line, _ in lines_of(task, BulkTaskLine.Kind.ERRORED)] == [6, 7]


def test_json_lines_are_imported_with_physical_line_numbers(acme):
    content = b'{"email": "a@example.com", "firstName": "A"}\n\n{"email": "bad"}\n{"email": "b@example.com"}\n'

    task = run(acme, raw_file(content, name="people.jsonl"))

    assert task.file_mimetype == "application/x-ndjson"
    assert (task.num_items, task.num_inserts, task.num_errors) == (3, 2, 1)
    assert lines_of(task, BulkTaskLine.Kind.ERRORED) == [
        (3, "email: 'bad' is not a valid e-mail address")
    ]


def test_crlf_bom_and_quoted_newlines_are_read_as_a_person_would(acme):
    content = '\ufeffemail,firstName,lastName\r\nann@example.com,"Ann, Jr.","Multi\r\nLine"\r\nbad-email,X,Y\r\n'.encode()

    task = run(acme, raw_file(content))

    assert (task.num_inserts, task.num_errors) == (1, 1)
    assert lines_of(task, BulkTaskLine.Kind.ERRORED)[0][0] == 4
    assert Membership.objects.get(user__email="ann@example.com").first_name == "Ann, Jr."


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "file is empty"),
        (b"email,firstName\n", "file has a header row but no data rows"),
        (b"email\nj\xe9r\xf4me@example.com\n", "UTF-8"),
        (b'email,firstName\nann@example.com,"never closed\nbob@example.com,Bob\n', "unterminated"),
        (b"email,email\nann@example.com,ann@example.com\n", "duplicate column email"),
        (b"mail,firstName\nann@example.com,Ann\n", "missing column email"),
        (b"email,frstName\nann@example.com,Ann\n", "unknown column frstName"),
    ],
    ids=[
        "empty",
        "header-only",
        "latin-1",
        "unterminated-quote",
        "duplicate-columns",
        "missing-column",
        "unknown-column",
    ],
)
def test_a_malformed_file_ends_as_a_failed_task_with_a_clear_error_and_nothing_applied(
    acme, content, error
):
    users_before = User.objects.count()

    task = run(acme, raw_file(content))

    assert task.status == BulkTask.Status.FAILED
    assert error in task.error
    assert User.objects.count() == users_before
    assert task.lines.count() == 0
    assert task.lease_owner == ""


def test_binary_bytes_deep_in_a_file_fail_the_task_before_anything_is_applied(acme):
    """The upload's first 8 KiB look like CSV, so only reading the file finds the binary part."""
    head = ("email,firstName,lastName\n" + "\n".join(people_rows(400))).encode()
    assert len(head) > 8192
    content = head + b"\n" + bytes(range(256)) * 4 + b"\nbob@example.com,Bob\n"

    task = run(acme, raw_file(content))

    assert task.status == BulkTask.Status.FAILED
    assert "not valid UTF-8" in task.error
    assert not User.objects.filter(email="person1@example.com").exists()


def test_a_nul_character_deep_in_a_file_is_an_errored_line(acme):
    head = ("email,firstName,lastName\n" + "\n".join(people_rows(400))).encode()
    content = head + b"\nnul\x00@example.com,X,Y\nbob@example.com,Bob,Z\n"

    task = run(acme, raw_file(content))

    assert task.status == BulkTask.Status.COMPLETED
    assert task.num_inserts == 401
    assert [line for line, _ in lines_of(task, BulkTaskLine.Kind.ERRORED)] == [402]


def test_a_10_mb_single_line_is_an_errored_line_not_a_crash(acme):
    content = b"email,firstName\n" + b"a" * 10_000_000 + b"\nann@example.com,Ann\n"

    task = run(acme, raw_file(content))

    assert task.status == BulkTask.Status.COMPLETED
    assert task.num_inserts == 1
    assert [line for line, _ in lines_of(task, BulkTaskLine.Kind.ERRORED)] == [2]


def test_processing_a_finished_task_again_does_nothing(acme):
    task = run(acme, csv_file(people_rows(2)))

    assert bulk_task_process(bulk_task_id=task.pk) is None
    task.refresh_from_db()
    assert (task.num_inserts, task.status) == (2, BulkTask.Status.COMPLETED)


def test_a_task_held_by_a_live_worker_cannot_be_claimed_by_another(acme):
    task = pending(acme)

    first = bulk_task_claim(bulk_task_id=task.pk, owner="worker-a")
    second = bulk_task_claim(bulk_task_id=task.pk, owner="worker-b")

    assert first is not None
    assert second is None
    assert bulk_task_process(bulk_task_id=task.pk, owner="worker-c") is None


def test_resuming_after_a_crash_never_counts_a_line_twice(acme, settings):
    """Simulate a worker that died after two committed chunks: a new run finishes the rest."""
    settings.BULK_TASK_CHUNK_SIZE = 2
    upload = csv_file([*people_rows(7), "bad,1,2"])
    task = pending(acme, upload=upload)
    progress: list[int] = []

    class Crash(BaseException):
        pass

    def crash_after_two_chunks(current: BulkTask) -> None:
        progress.append(current.num_done)
        if current.num_done >= 4:
            raise Crash

    with pytest.raises(Crash):
        bulk_task_process(
            bulk_task_id=task.pk, owner="dead-worker", progress=crash_after_two_chunks
        )
    assert list(task.chunks.values_list("status", flat=True)) == [
        "done", "done", "pending", "pending",
    ]  # fmt: skip

    finished = bulk_task_process(bulk_task_id=task.pk, owner="new-worker")

    assert finished is not None
    assert finished.status == BulkTask.Status.COMPLETED
    assert (finished.num_items, finished.num_inserts, finished.num_errors) == (8, 7, 1)
    assert Membership.objects.filter(organization=acme).count() == 7
    assert finished.attempts == 1


def test_a_failed_task_can_be_retried_and_resumes(acme):
    task = run(acme, raw_file(b"mail\nx@example.com\n"))
    assert task.status == BulkTask.Status.FAILED

    retried = bulk_task_retry(bulk_task=task)

    assert retried.status == BulkTask.Status.PENDING
    assert retried.error == ""


def test_an_unsupported_file_is_refused_before_anything_is_stored(acme, settings, tmp_path):
    from core.exceptions import UnsupportedFileType

    with pytest.raises(UnsupportedFileType):
        bulk_task_create(
            organization=acme,
            created_by=None,
            action="users.import",
            file=raw_file(b"%PDF-1.7\n..."),
            original_name="x.csv",
        )

    assert BulkTask.objects.count() == 0


def test_a_file_gone_from_storage_fails_the_task_clearly(acme):
    from bulktasks.storage import bulk_task_storage

    task = pending(acme, people_rows(2))
    bulk_task_storage().delete(task.file_key)

    finished = bulk_task_process(bulk_task_id=task.pk)

    assert finished is not None
    assert finished.status == BulkTask.Status.FAILED
    assert finished.error == "the uploaded file is no longer stored"


def _scan_of(acme, settings, lines: int) -> tuple[BulkTask, str]:
    settings.BULK_TASK_LEASE_SECONDS = 0  # renew at every look at the clock
    task = pending(acme, people_rows(lines))
    claimed = bulk_task_claim(bulk_task_id=task.pk, owner="worker-a")
    assert claimed is not None
    return claimed, "worker-a"


def test_a_long_scan_renews_its_lease_as_it_reads(acme, settings, monkeypatch):
    task, owner = _scan_of(acme, settings, 25_000)
    renewals: list[int] = []
    monkeypatch.setattr(scan_module, "_renew_lease", lambda task, owner: renewals.append(1))

    scanned, _ = bulk_task_scan(bulk_task=task, owner=owner, action=action_get("users.import"))

    assert scanned.num_items == 25_000
    # Twice while reading (after 10,000 and 20,000 records), once as it records the count.
    assert len(renewals) == 3


def test_a_scan_whose_lease_was_taken_over_stops_and_records_nothing(acme, settings):
    task, owner = _scan_of(acme, settings, 25_000)
    BulkTask.objects.filter(pk=task.pk).update(lease_owner="worker-b")

    with pytest.raises(LeaseLost):
        bulk_task_scan(bulk_task=task, owner=owner, action=action_get("users.import"))

    task.refresh_from_db()
    assert (task.scanned_at, task.num_items) == (None, 0)


def test_expired_idempotency_keys_are_forgotten_and_fresh_ones_kept(acme, settings):
    settings.BULK_TASK_IDEMPOTENCY_TTL_SECONDS = 3600
    user = UserFactory()
    keys = {}
    for key in ("old", "fresh"):
        keys[key] = pending(acme, created_by=user, idempotency_key=key)
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=2))

    assert flush_expired_idempotency_keys() == 1

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    # The tasks themselves stay; only the keys' memory goes.
    assert BulkTask.objects.filter(pk__in=[t.pk for t in keys.values()]).count() == 2


def test_the_idempotency_key_flush_runs_on_beat_every_hour(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["bulk-tasks-idempotency-keys-flush"]

    assert entry == {
        "task": flush_expired_idempotency_keys.name,
        "schedule": 3600.0,
    }


def _stale_pending_task(acme, settings) -> BulkTask:
    settings.BULK_TASK_PENDING_GRACE_SECONDS = 60
    task = pending(acme)
    BulkTask.objects.filter(pk=task.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    return task


def _sweeps_at(
    monkeypatch, minutes: list[float], *, start=None, broker_up: bool = True
) -> list[tuple[list[str], list[int]]]:
    """Sweep once at each of these minutes after ``start`` (now).

    For each sweep: the tasks it returned, and the chunks whose message it sent
    again (the broker refusing them all unless ``broker_up``).
    """
    start = start or timezone.now()
    sent: list[int] = []

    def chunk_enqueue(chunk_id: int, countdown: float | None = None) -> bool:
        sent.append(chunk_id)
        return broker_up

    swept = []
    with monkeypatch.context() as patch:
        patch.setattr(sweep_module, "bulk_task_enqueue", lambda bulk_task_id: True)
        patch.setattr(sweep_module, "chunk_enqueue", chunk_enqueue)
        for offset in minutes:
            patch.setattr(
                sweep_module.timezone, "now", lambda m=offset: start + timedelta(minutes=m)
            )
            before = len(sent)
            tasks = bulk_task_sweep()
            swept.append((tasks, sent[before:]))
    return swept


def _chunks_sent(swept: list[tuple[list[str], list[int]]]) -> list[list[int]]:
    return [chunks for _, chunks in swept]


def test_the_sweeper_queues_a_waiting_task_again_with_a_doubling_wait(acme, settings, monkeypatch):
    task = _stale_pending_task(acme, settings)
    minutes = [0, 0.5, 1, 1.9, 2.1, 3, 6.0, 6.2, 14.1, 14.3]

    swept = [tasks for tasks, _ in _sweeps_at(monkeypatch, minutes)]

    # Queued again at once, then after 2 grace periods, then after 4, then after 8:
    # not at every sweep while it waits behind a backlog.
    assert [bool(ids) for ids in swept] == [
        True, False, False, False,  # at 0, then nothing for 2 minutes
        True, False, False,  # at 2.1, then nothing for 4 minutes
        True, False,  # at 6.2, then nothing for 8 minutes
        True,  # at 14.3
    ]  # fmt: skip
    assert all(ids in ([], [task.pk]) for ids in swept)
    task.refresh_from_db()
    assert task.requeues == 4


def test_a_worker_taking_the_task_resets_the_sweepers_backoff(acme, settings, monkeypatch):
    task = _stale_pending_task(acme, settings)
    _sweeps_at(monkeypatch, [0])
    assert BulkTask.objects.get(pk=task.pk).requeues == 1

    claimed = bulk_task_claim(bulk_task_id=task.pk, owner="worker-a")

    assert claimed is not None
    assert (claimed.requeues, claimed.requeued_at) == (0, None)


def _scanned_chunk(acme, settings, **fields) -> BulkTaskChunk:
    settings.BULK_TASK_PENDING_GRACE_SECONDS = 60
    chunk = scanned(pending(acme))[0]
    BulkTaskChunk.objects.filter(pk=chunk.pk).update(**fields)
    return chunk


def test_a_queued_chunk_is_sent_again_a_grace_period_after_its_dispatch_then_with_a_doubling_wait(
    acme, settings, monkeypatch
):
    start = timezone.now()
    chunk = _scanned_chunk(acme, settings, status="queued", queued_at=start)
    minutes = [0.5, 1.1, 2.0, 3.0, 3.2, 7.0, 7.3, 15.2, 15.4]

    swept = _chunks_sent(_sweeps_at(monkeypatch, minutes, start=start))

    # One grace period after its dispatch, then 2, 4 and 8 later: a chunk that
    # only waits behind a long queue gets a few duplicates, not one a minute.
    assert swept == [
        [], [chunk.pk],  # 1 minute after its dispatch
        [], [], [chunk.pk],  # 2 minutes after that
        [], [chunk.pk],  # then 4
        [], [chunk.pk],  # then 8
    ]  # fmt: skip
    assert BulkTaskChunk.objects.get(pk=chunk.pk).requeues == 4


def test_a_running_chunk_whose_lease_ran_out_is_sent_at_once_then_with_a_doubling_wait(
    acme, settings, monkeypatch
):
    start = timezone.now()
    chunk = _scanned_chunk(
        acme, settings, status="running", lease_owner="dead", lease_expires_at=start
    )

    swept = _chunks_sent(_sweeps_at(monkeypatch, [0.1, 0.5, 1.5, 2.2, 4.0, 6.3], start=start))

    assert swept == [[chunk.pk], [], [], [chunk.pk], [], [chunk.pk]]


def test_the_chunks_wait_stops_doubling_at_sixteen_grace_periods(acme, settings, monkeypatch):
    start = timezone.now()
    chunk = _scanned_chunk(acme, settings, status="queued", queued_at=start)
    # Sent at 1, 3, 7 and 15 minutes; from then on every 16.
    moments = [1.1, 3.2, 7.3, 15.4, 31.3, 31.5, 47.6]

    swept = _chunks_sent(_sweeps_at(monkeypatch, moments, start=start))

    assert swept == [[chunk.pk]] * 4 + [[], [chunk.pk], [chunk.pk]]
    assert BulkTaskChunk.objects.get(pk=chunk.pk).requeues == 4


def test_a_message_the_broker_refused_is_not_counted_so_it_is_tried_again_a_grace_period_later(
    acme, settings, monkeypatch
):
    start = timezone.now()
    chunk = _scanned_chunk(acme, settings, status="queued", queued_at=start)

    swept = _chunks_sent(_sweeps_at(monkeypatch, [1.1, 2.2, 3.3], start=start, broker_up=False))

    # An outage of the broker: tried once per grace period, not with a doubling
    # wait, so that the chunk goes as soon as the broker is back.
    assert swept == [[chunk.pk]] * 3
    assert BulkTaskChunk.objects.get(pk=chunk.pk).requeues == 0


def test_a_refused_message_leaves_the_count_as_it_was_even_at_the_cap(acme, settings, monkeypatch):
    start = timezone.now()
    chunk = _scanned_chunk(
        acme, settings, status="queued", queued_at=start - timedelta(minutes=17), requeues=4
    )

    swept = _chunks_sent(_sweeps_at(monkeypatch, [0], start=start, broker_up=False))

    assert swept == [[chunk.pk]]
    assert BulkTaskChunk.objects.get(pk=chunk.pk).requeues == 4


def test_a_claim_or_a_dispatch_starts_the_chunks_backoff_again(acme, settings, monkeypatch):
    start = timezone.now()
    chunk = _scanned_chunk(acme, settings, status="queued", queued_at=start)
    _sweeps_at(monkeypatch, [1.1, 3.2], start=start)
    assert BulkTaskChunk.objects.get(pk=chunk.pk).requeues == 2

    claimed = chunk_claim(chunk_id=chunk.pk, owner="worker-a")
    assert claimed is not None
    assert (claimed.requeues, claimed.queued_at) == (0, None)

    BulkTaskChunk.objects.filter(pk=chunk.pk).update(
        status="pending", lease_owner="", lease_expires_at=None, requeues=3
    )
    BulkTask.objects.filter(pk=chunk.task_id).update(status="inProgress")
    assert organization_dispatch(organization_id=acme.pk) == [chunk.pk]
    assert BulkTaskChunk.objects.get(pk=chunk.pk).requeues == 0
