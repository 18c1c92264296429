"""``manage.py bulk_import``: run a file through the pipeline in this process, with a report."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from bulktasks.models import BulkTask
from tests.bulktasks.files import people_rows
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from users.models import Membership, Organization, User

pytestmark = pytest.mark.django_db

HEADER = "email,firstName,lastName"


@dataclass
class Output:
    stdout: str
    stderr: str


def run_command(*args: str) -> Output:
    """Call the command with these arguments and return what it wrote."""
    out, err = io.StringIO(), io.StringIO()
    call_command("bulk_import", *args, stdout=out, stderr=err)
    return Output(out.getvalue(), err.getvalue())


def write_csv(
    folder: Path, rows: list[str], *, header: str = HEADER, name: str = "people.csv"
) -> Path:
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def report_value(stdout: str, label: str) -> str:
    """The value after ``Label:`` in the command's report."""
    match = re.search(rf"^{label}:\s+(.*)$", stdout, re.M)
    assert match is not None, f"no {label!r} in the report:\n{stdout}"
    return match.group(1).strip()


@pytest.fixture
def acme() -> Organization:
    return OrganizationFactory(slug="acme")


def test_a_csv_with_invalid_lines_completes_and_reports_them(
    tmp_path: Path, acme: Organization
) -> None:
    rows = people_rows(50)
    rows[9] = "not-an-email,Bad,Address"  # line 11
    rows[29] = ",No,Email"  # line 31
    path = write_csv(tmp_path, rows)

    output = run_command(str(path), "--organization", "acme", "--action", "users.import")

    task = BulkTask.objects.get()
    assert task.status == BulkTask.Status.COMPLETED
    assert task.organization == acme
    assert task.created_by is None
    assert task.file_original_name == "people.csv"
    assert (task.num_items, task.num_inserts, task.num_errors) == (50, 48, 2)
    assert report_value(output.stdout, "Status") == "completed"
    assert report_value(output.stdout, "Items") == "50"
    assert report_value(output.stdout, "Inserted") == "48"
    assert report_value(output.stdout, "Updated") == "0"
    assert report_value(output.stdout, "Skipped") == "0"
    assert report_value(output.stdout, "Errored") == "2"
    assert "line 11: errored: email: 'not-an-email' is not a valid e-mail address" in output.stdout
    assert "line 31: errored: email: is required" in output.stdout
    bar_lines = [line for line in re.split(r"[\r\n]", output.stderr) if "50/50" in line]
    assert bar_lines, output.stderr
    assert "[" + "#" * 30 + "]" in bar_lines[-1]
    assert "(100%)" in bar_lines[-1]
    members = Membership.objects.filter(organization=acme, is_active=True)
    assert members.count() == 48
    assert User.objects.filter(email="person1@example.com").exists()
    assert User.objects.filter(email="person50@example.com").exists()
    assert not User.objects.filter(email="person10@example.com").exists()
    assert not User.objects.filter(email="person30@example.com").exists()


def test_override_updates_an_existing_member(tmp_path: Path, acme: Organization) -> None:
    member = MembershipFactory(
        organization=acme, user=UserFactory(email="person2@example.com"), first_name="Old"
    )
    path = write_csv(tmp_path, people_rows(3))

    output = run_command(
        str(path), "--organization", "acme", "--action", "users.import", "--override"
    )

    task = BulkTask.objects.get()
    assert task.override is True
    assert task.status == BulkTask.Status.COMPLETED
    assert report_value(output.stdout, "Inserted") == "2"
    assert report_value(output.stdout, "Updated") == "1"
    member.refresh_from_db()
    assert (member.first_name, member.last_name) == ("First2", "Last2")


def test_without_override_an_existing_member_is_skipped(tmp_path: Path, acme: Organization) -> None:
    member = MembershipFactory(
        organization=acme, user=UserFactory(email="person2@example.com"), first_name="Old"
    )
    path = write_csv(tmp_path, people_rows(3))

    output = run_command(str(path), "--organization", "acme", "--action", "users.import")

    assert report_value(output.stdout, "Updated") == "0"
    assert report_value(output.stdout, "Skipped") == "1"
    assert "line 3: skipped: already a member" in output.stdout
    member.refresh_from_db()
    assert member.first_name == "Old"


@pytest.mark.parametrize("form", ["id", "upper-case id"])
def test_the_organization_can_be_given_by_id(tmp_path: Path, acme: Organization, form: str) -> None:
    OrganizationFactory(slug="globex")
    path = write_csv(tmp_path, people_rows(2))
    given = acme.pk if form == "id" else acme.pk.upper()

    output = run_command(str(path), "--organization", given, "--action", "users.import")

    task = BulkTask.objects.get()
    assert task.organization == acme
    assert task.status == BulkTask.Status.COMPLETED
    assert report_value(output.stdout, "Inserted") == "2"
    assert Membership.objects.filter(organization=acme).count() == 2


def test_created_by_records_the_user_on_the_task(tmp_path: Path, acme: Organization) -> None:
    operator = UserFactory(email="ops@example.com")
    path = write_csv(tmp_path, people_rows(1))

    run_command(
        str(path),
        "--organization",
        "acme",
        "--action",
        "users.import",
        "--created-by",
        "ops@EXAMPLE.com",
    )

    assert BulkTask.objects.get().created_by == operator


def test_an_unknown_organization_is_refused(tmp_path: Path, acme: Organization) -> None:
    path = write_csv(tmp_path, people_rows(2))

    with pytest.raises(CommandError, match="No organization 'initech'"):
        run_command(str(path), "--organization", "initech", "--action", "users.import")

    assert not BulkTask.objects.exists()
    assert not User.objects.exists()


def test_a_missing_file_is_refused(tmp_path: Path, acme: Organization) -> None:
    missing = tmp_path / "nowhere.csv"

    with pytest.raises(CommandError, match="No such file"):
        run_command(str(missing), "--organization", "acme", "--action", "users.import")

    assert not BulkTask.objects.exists()


def test_an_unknown_action_is_refused_naming_it(tmp_path: Path, acme: Organization) -> None:
    path = write_csv(tmp_path, people_rows(2))

    with pytest.raises(CommandError, match=r"Unknown action 'users\.delete'") as raised:
        run_command(str(path), "--organization", "acme", "--action", "users.delete")

    assert "users.import" in str(raised.value)  # the known actions are listed
    assert not BulkTask.objects.exists()
    assert not User.objects.exists()


def test_an_unknown_created_by_is_refused(tmp_path: Path, acme: Organization) -> None:
    path = write_csv(tmp_path, people_rows(2))

    with pytest.raises(CommandError, match=re.escape("No user 'ghost@example.com'")):
        run_command(
            str(path),
            "--organization",
            "acme",
            "--action",
            "users.import",
            "--created-by",
            "ghost@example.com",
        )

    assert not BulkTask.objects.exists()
    assert not User.objects.exists()


def test_a_bad_header_fails_the_task_and_the_command(tmp_path: Path, acme: Organization) -> None:
    path = write_csv(tmp_path, people_rows(3), header="mail,firstName,lastName")
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="header row is missing column email") as raised:
        call_command(
            "bulk_import",
            str(path),
            "--organization",
            "acme",
            "--action",
            "users.import",
            stdout=out,
            stderr=err,
        )

    task = BulkTask.objects.get()
    assert task.status == BulkTask.Status.FAILED
    assert task.error in str(raised.value)
    assert "unknown column mail" in task.error
    assert report_value(out.getvalue(), "Status") == "failed"
    assert report_value(out.getvalue(), "Error") == task.error
    assert not Membership.objects.filter(organization=acme).exists()


def test_a_json_lines_file_is_imported(tmp_path: Path, acme: Organization) -> None:
    path = tmp_path / "people.jsonl"
    records = [
        {"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee"},
        {"email": "bob@example.com", "firstName": "Bob"},
        {"email": "not-an-email"},
    ]
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")

    output = run_command(str(path), "--organization", "acme", "--action", "users.import")

    task = BulkTask.objects.get()
    assert task.status == BulkTask.Status.COMPLETED
    assert task.file_mimetype.startswith("application/")
    assert report_value(output.stdout, "Inserted") == "2"
    assert report_value(output.stdout, "Errored") == "1"
    assert "line 3: errored: email: 'not-an-email' is not a valid e-mail address" in output.stdout
    ann = Membership.objects.get(organization=acme, user__email="ann@example.com")
    assert (ann.first_name, ann.last_name) == ("Ann", "Lee")
    assert Membership.objects.filter(organization=acme).count() == 2
    assert any("3/3" in line for line in re.split(r"[\r\n]", output.stderr))
