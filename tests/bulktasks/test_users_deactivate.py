"""users.deactivate: bulk offboarding ends memberships of this organization and nothing else."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection, connections

from bulktasks.actions import users_deactivate
from bulktasks.models import BulkTask, BulkTaskLine
from bulktasks.processing import bulk_task_process
from bulktasks.services import bulk_task_create
from core.exceptions import ValidationFailed
from tests.bulktasks.files import csv_file
from tests.bulktasks.pipeline import report
from tests.conftest import bearer
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from users import catalog
from users.models import Membership, Organization, User

pytestmark = pytest.mark.django_db

SKIPPED, ERRORED = BulkTaskLine.Kind.SKIPPED, BulkTaskLine.Kind.ERRORED
NOT_A_MEMBER = "email: not a member of this organization"


def deactivated(
    organization: Organization, upload: SimpleUploadedFile, **fields: object
) -> BulkTask:
    """Run a users.deactivate task of the upload to its end, in this process."""
    task, _ = bulk_task_create(
        organization=organization,
        action="users.deactivate",
        file=upload,
        original_name=upload.name,
        enqueue=False,
        **{"created_by": None, **fields},  # type: ignore[arg-type]
    )
    finished = bulk_task_process(bulk_task_id=task.pk)
    assert finished is not None
    assert finished.status == BulkTask.Status.COMPLETED, finished.error
    return finished


def emails_file(*emails: str, header: str = "email") -> SimpleUploadedFile:
    return csv_file(list(emails), header=header, name="leavers.csv")


def member(organization: Organization, email: str, **fields: object) -> Membership:
    return MembershipFactory(organization=organization, user=UserFactory(email=email), **fields)


def test_each_line_is_an_update_a_skip_or_an_error_with_its_reason(acme: Organization) -> None:
    ann = member(acme, "ann@example.com")
    member(acme, "bob@example.com", is_active=False)
    held = member(acme, "cy@example.com", is_active=False, pending_approval=True)

    task = deactivated(
        acme,
        emails_file(
            "Ann@Example.com",  # line 2: active, matched whatever the case
            "bob@example.com",  # line 3: already inactive
            "nobody@example.com",  # line 4: no account anywhere
            "ann@example.com",  # line 5: repeats line 2
            "not-an-email",  # line 6
            "cy@example.com",  # line 7: waiting for approval
        ),
    )

    assert report(task) == (
        (6, 0, 2, 1, 3),
        [
            (SKIPPED, 3, "membership is already deactivated"),
            (ERRORED, 4, NOT_A_MEMBER),
            (ERRORED, 5, "email: duplicate of line 2"),
            (ERRORED, 6, "email: 'not-an-email' is not a valid e-mail address"),
        ],
    )
    ann.refresh_from_db()
    held.refresh_from_db()
    assert (ann.is_active, ann.pending_approval) == (False, False)
    # Approving it later must not bring back someone the organization offboarded.
    assert (held.is_active, held.pending_approval) == (False, False)


def test_an_address_outside_the_organization_reads_the_same_whoever_holds_it(
    acme: Organization,
) -> None:
    member(OrganizationFactory(), "elsewhere@example.com")
    UserFactory(email="account@example.com")
    UserFactory(email="staff@example.com", is_staff=True)
    UserFactory(email="root@example.com", is_superuser=True)

    task = deactivated(
        acme,
        emails_file(
            "elsewhere@example.com",
            "account@example.com",
            "staff@example.com",
            "root@example.com",
            "unknown@example.com",
        ),
    )

    assert report(task) == (
        (5, 0, 0, 0, 5),
        [(ERRORED, line, NOT_A_MEMBER) for line in range(2, 7)],
    )


def test_the_account_and_its_other_memberships_are_never_touched(acme: Organization) -> None:
    here = member(acme, "ann@example.com", first_name="Ann")
    other = MembershipFactory(organization=OrganizationFactory(), user=here.user)
    account = User.objects.get(pk=here.user_id)
    before = (account.is_active, account.first_name, account.last_name, account.password)

    deactivated(acme, emails_file("ann@example.com"))

    account.refresh_from_db()
    other.refresh_from_db()
    here.refresh_from_db()
    assert (account.is_active, account.first_name, account.last_name, account.password) == before
    assert other.is_active is True
    assert (here.is_active, here.first_name) == (False, "Ann")


def test_a_deactivated_members_token_is_refused_on_their_next_request_here_only(
    acme: Organization, api_client
) -> None:
    leaver = member(acme, "ann@example.com").user
    other = OrganizationFactory(slug="globex")
    MembershipFactory(organization=other, user=leaver)
    for organization in (acme, other):
        role = organization.roles.create(name="reader", permissions=[catalog.BULK_TASK_LIST])
        Membership.objects.get(user=leaver, organization=organization).roles.add(role)
    api_client.credentials(HTTP_AUTHORIZATION=bearer(leaver))
    assert api_client.get("/v1/organizations/acme/bulk-tasks").status_code == 200

    deactivated(acme, emails_file("ann@example.com"))

    refused = api_client.get("/v1/organizations/acme/bulk-tasks")
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == 3001
    assert api_client.get("/v1/organizations/globex/bulk-tasks").status_code == 200


def test_the_uploaders_own_membership_is_an_error_and_stays(acme: Organization) -> None:
    uploader = member(acme, "ops@example.com")
    colleague = member(acme, "ann@example.com")

    task = deactivated(
        acme, emails_file("ops@example.com", "ann@example.com"), created_by=uploader.user
    )

    assert report(task) == (
        (2, 0, 1, 0, 1),
        [(ERRORED, 2, users_deactivate.OWN_MEMBERSHIP)],
    )
    uploader.refresh_from_db()
    colleague.refresh_from_db()
    assert (uploader.is_active, colleague.is_active) == (True, False)


def test_chunks_on_their_own_add_up_to_the_whole_file(acme: Organization, settings) -> None:
    settings.BULK_TASK_CHUNK_SIZE = 3
    for n in range(1, 8):
        member(acme, f"p{n}@example.com", is_active=n % 2 == 1)
    rows = [f"p{n}@example.com" for n in range(1, 8)] + ["p1@example.com", "zz@example.com"]

    task = deactivated(acme, emails_file(*rows))

    assert task.chunks.count() == 3
    counters, lines = report(task)
    assert counters == (9, 0, 4, 3, 2)
    assert [line for _, line, _ in lines] == [3, 5, 7, 9, 10]
    assert not Membership.objects.filter(organization=acme, is_active=True).exists()


def test_json_lines_are_read_like_csv(acme: Organization) -> None:
    member(acme, "ann@example.com")
    body = b'{"email": "ann@example.com"}\n{"email": "bob@example.com"}\n'
    upload = SimpleUploadedFile("leavers.jsonl", body, content_type="application/x-ndjson")

    task = deactivated(acme, upload)

    assert report(task) == ((2, 0, 1, 0, 1), [(ERRORED, 2, NOT_A_MEMBER)])


def test_a_file_without_an_email_column_fails_before_any_change(acme: Organization) -> None:
    ann = member(acme, "ann@example.com")
    task, _ = bulk_task_create(
        organization=acme,
        created_by=None,
        action="users.deactivate",
        file=emails_file("ann@example.com", header="mail"),
        original_name="leavers.csv",
        enqueue=False,
    )

    finished = bulk_task_process(bulk_task_id=task.pk)

    assert finished is not None
    assert finished.status == BulkTask.Status.FAILED
    assert "email" in finished.error
    ann.refresh_from_db()
    assert ann.is_active is True


def test_override_means_nothing_here_and_asking_for_it_is_refused(acme: Organization) -> None:
    with pytest.raises(ValidationFailed, match="override"):
        bulk_task_create(
            organization=acme,
            created_by=None,
            action="users.deactivate",
            file=emails_file("ann@example.com"),
            original_name="leavers.csv",
            override=True,
            enqueue=False,
        )
    assert not BulkTask.objects.exists()


class TestApi:
    @pytest.fixture
    def uploader(self, acme: Organization, make_member, api_client):
        user = make_member(acme, [catalog.BULK_TASK_CREATE, catalog.BULK_TASK_GET])
        api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
        return api_client

    def test_an_upload_creates_a_pending_deactivation(self, uploader) -> None:
        response = uploader.post(
            "/v1/organizations/acme/bulk-tasks",
            {"action": "users.deactivate", "file": emails_file("ann@example.com")},
            format="multipart",
        )

        assert response.status_code == 201, response.content
        assert response.json()["data"]["action"] == "users.deactivate"

    def test_override_true_is_a_400_naming_it_and_stores_nothing(self, uploader) -> None:
        response = uploader.post(
            "/v1/organizations/acme/bulk-tasks",
            {"action": "users.deactivate", "override": "true", "file": emails_file("a@b.co")},
            format="multipart",
        )

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == 1002
        assert "override" in error["message"]
        assert not BulkTask.objects.exists()

    def test_override_false_is_the_default_and_accepted(self, uploader) -> None:
        response = uploader.post(
            "/v1/organizations/acme/bulk-tasks",
            {"action": "users.deactivate", "override": "false", "file": emails_file("a@b.co")},
            format="multipart",
        )

        assert response.status_code == 201, response.content


class TestCommand:
    def run(self, *args: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        call_command("bulk_import", *args, stdout=out, stderr=err)
        return out.getvalue()

    def test_the_command_offboards_a_file(self, tmp_path: Path, acme: Organization) -> None:
        ann = member(acme, "ann@example.com")
        path = tmp_path / "leavers.csv"
        path.write_text("email\nann@example.com\nbob@example.com\n", encoding="utf-8")

        stdout = self.run(str(path), "--organization", "acme", "--action", "users.deactivate")

        ann.refresh_from_db()
        assert ann.is_active is False
        assert "Updated:" in stdout
        task = BulkTask.objects.get()
        assert report(task)[0] == (2, 0, 1, 0, 1)

    def test_the_command_refuses_override(self, tmp_path: Path, acme: Organization) -> None:
        path = tmp_path / "leavers.csv"
        path.write_text("email\nann@example.com\n", encoding="utf-8")

        with pytest.raises(CommandError, match="override"):
            self.run(
                str(path), "--organization", "acme", "--action", "users.deactivate", "--override"
            )


def test_the_action_is_registered_beside_users_import() -> None:
    from bulktasks.actions import action_names

    assert {"users.import", "users.deactivate"} <= set(action_names())


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite lets one writer in at a time: a chunk holds it from its first write, "
    "so two tasks cannot interleave there",
)
@pytest.mark.django_db(transaction=True)
def test_two_tasks_offboarding_the_same_person_at_once_report_one_update_and_one_skip(
    monkeypatch,
) -> None:
    organization = OrganizationFactory()
    member(organization, "ann@example.com")
    first, second = (
        bulk_task_create(
            organization=organization,
            created_by=None,
            action="users.deactivate",
            file=emails_file("ann@example.com"),
            original_name="leavers.csv",
            enqueue=False,
        )[0]
        for _ in range(2)
    )
    original = users_deactivate._memberships_locked
    owner = threading.get_ident()
    others: list[threading.Thread] = []
    failures: list[BaseException] = []

    def other_task() -> None:
        try:
            bulk_task_process(bulk_task_id=second.pk)
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)
        finally:
            connections.close_all()

    def lookup(**kwargs: object) -> dict[str, tuple[str, bool, str]]:
        found = original(**kwargs)  # type: ignore[arg-type]
        if threading.get_ident() == owner and not others:
            # The second task runs while the first holds the row between its
            # lookup and its update: it must wait, then find it ended.
            others.append(threading.Thread(target=other_task))
            others[0].start()
            others[0].join(timeout=1)
        return found

    monkeypatch.setattr(users_deactivate, "_memberships_locked", lookup)

    bulk_task_process(bulk_task_id=first.pk)
    others[0].join()

    assert not failures, failures
    assert report(first) == ((1, 0, 1, 0, 0), [])
    assert report(second) == ((1, 0, 0, 1, 0), [(SKIPPED, 2, "membership is already deactivated")])
