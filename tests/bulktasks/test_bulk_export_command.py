"""``manage.py bulk_export``: an export in this process, written to a local file, with a progress bar."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from bulktasks.models import BulkTask
from tests.bulktasks.exports import many_members, result_bytes

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("bulk_export", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("result_format", ["csv", "jsonl", "xlsx"])
def test_the_export_is_written_to_the_output_path(acme, tmp_path, settings, result_format):
    settings.BULK_TASK_CHUNK_SIZE = 4
    many_members(acme, 10)
    output = tmp_path / f"members.{result_format}"

    stdout, stderr = run(
        "--organization", "acme", "--format", result_format, "--output", str(output)
    )

    task = BulkTask.objects.get()
    assert (task.status, task.num_items, task.result_format) == ("completed", 10, result_format)
    assert output.read_bytes() == result_bytes(task)
    assert "Rows:     10" in stdout
    assert f"Output:   {output}" in stdout
    # Not a terminal: a bar line at each 10% step, the last one full.
    assert "[##############################] 10 rows, 3/3 chunks (100%)" in stderr
    if result_format == "jsonl":
        assert len(output.read_text().splitlines()) == 10
        assert json.loads(output.read_text().splitlines()[0])["email"] == "member0@example.com"
    if result_format == "xlsx":
        assert load_workbook(output)["users"].max_row == 11


def test_csv_is_the_default_format(acme, tmp_path):
    output = tmp_path / "members.csv"

    run("--organization", "ACME", "--output", str(output))

    assert output.read_bytes() == b"email,firstName,lastName,picture,roles,joinedAt\r\n"


def test_an_unknown_organization_is_refused(db, tmp_path):
    with pytest.raises(CommandError, match="No organization 'nope'"):
        run("--organization", "nope", "--output", str(tmp_path / "x.csv"))
    assert not BulkTask.objects.exists()


def test_an_action_that_reads_a_file_is_refused(acme, tmp_path):
    with pytest.raises(CommandError, match="is not an action that exports a file"):
        run("--organization", "acme", "--action", "users.import", "--output", str(tmp_path / "x"))


def test_an_output_in_a_missing_folder_is_refused_before_anything_runs(acme, tmp_path):
    with pytest.raises(CommandError, match="name a file in an existing folder"):
        run("--organization", "acme", "--output", str(tmp_path / "missing" / "x.csv"))
    assert not BulkTask.objects.exists()


def test_an_unknown_format_is_refused(acme, tmp_path):
    with pytest.raises(CommandError, match="invalid choice"):
        run("--organization", "acme", "--format", "pdf", "--output", str(tmp_path / "x"))
