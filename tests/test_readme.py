"""The README tells the truth: its walk-through is what ``make run`` prints, its numbers are real.

The walk-through's commands come from ``bulktasks/walkthrough.py``; the README
shows them with each command's answer under it (``# ->`` lines), which these
tests take out before comparing.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

PROJECT_ROOT = Path(__file__).resolve().parent.parent
README = (PROJECT_ROOT / "README.md").read_text()
# A command's answer in the README: "# -> first line", then "#    more".
ANSWER_LINE = re.compile(r"^#( ->|   ) ")
TOKEN = re.compile(r"eyJ[\w.-]+")


def walkthrough_block() -> str:
    """The first ``sh`` block under the README's "Walk-through" heading."""
    section = README.split("\n## Walk-through\n", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "no sh block under ## Walk-through"
    return match.group(1)


def without_answers(block: str) -> str:
    """The block as a shell runs it: the answers' lines taken out."""
    return "".join(line for line in block.splitlines(keepends=True) if not ANSWER_LINE.match(line))


def answers(block: str) -> list[str]:
    """Each answer shown in the block, its lines joined back into one."""
    found: list[str] = []
    for line in block.splitlines():
        marker = ANSWER_LINE.match(line)
        if marker and marker.group(1) == " ->":
            found.append(line[marker.end() :])
        elif marker:
            found[-1] += line[marker.end() :]
    return found


@pytest.mark.django_db
def test_the_walkthrough_is_what_make_run_prints(settings: Any) -> None:
    settings.DEBUG = True
    out = io.StringIO()

    # What `make run` prints, on its default address.
    call_command("seed_demo", "--base-url", "http://127.0.0.1:8000", stdout=out)

    printed = TOKEN.sub("eyJ...", out.getvalue())
    commands = without_answers(walkthrough_block())
    assert "export TOKEN=eyJ..." in commands
    assert commands in printed


@pytest.mark.django_db
def test_the_tokens_make_run_prints_are_real(settings: Any) -> None:
    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", stdout=out)

    access = re.search(r"^export TOKEN=(\S+)", out.getvalue(), re.MULTILINE)
    refresh = re.search(r"^export REFRESH=(\S+)", out.getvalue(), re.MULTILINE)
    assert access
    assert refresh

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access.group(1)}")
    assert client.get("/v1/organizations/acme/bulk-tasks").status_code == 200
    renewed = APIClient().post(
        "/v1/auth/token/refresh", {"refresh": refresh.group(1)}, format="json"
    )
    assert renewed.status_code == 200, renewed.content
    assert set(renewed.json()["data"]) == {"access", "refresh"}


def test_every_curl_shows_the_status_code() -> None:
    curls = [line for line in README.splitlines() if re.search(r"\bcurl ", line)]

    assert len(curls) >= 10
    for line in curls:
        assert "curl -s -w ' %{http_code}\\n'" in line, line


def test_every_curl_of_the_walkthrough_shows_its_answer_and_status_code() -> None:
    block = walkthrough_block()
    shown = answers(block)

    assert len(shown) == without_answers(block).count("curl ")
    for answer in shown:
        assert re.fullmatch(r"\{.*\} [1-5]\d\d", answer), answer


def test_the_checksum_and_size_shown_are_those_of_the_file_the_readme_writes() -> None:
    block = walkthrough_block()
    printf = re.search(r"^printf '([^']*)' > \"\$DEMO_DIR/people\.csv\"$", block, re.MULTILINE)
    assert printf, "no printf writing people.csv"
    # Read as printf does, which is simple while \n is its only escape and % none.
    assert "%" not in printf.group(1)
    assert "\\" not in printf.group(1).replace("\\n", "")
    content = printf.group(1).replace("\\n", "\n").encode()

    upload = next(answer for answer in answers(block) if '"originalName":"people.csv"' in answer)
    shown = re.search(r'"size":(\d+),.*"checksum":"([0-9a-f]+)"', upload)
    assert shown, "no size and checksum in the upload's answer"
    assert int(shown.group(1)) == len(content)
    assert shown.group(2) == hashlib.sha256(content).hexdigest()


def test_the_readmes_images_exist_and_docs_img_holds_no_unused_one() -> None:
    documents = [README, *(path.read_text() for path in (PROJECT_ROOT / "docs").glob("*.md"))]
    images = re.findall(r"!\[[^\]]*\]\((docs/img/[^)]+)\)", README)

    assert {
        "docs/img/admin-task-list.png",
        "docs/img/admin-task-page-in-progress.png",
        "docs/img/admin-task-page-completed.png",
        "docs/img/admin-dashboard.png",
        "docs/img/swagger-ui.png",
    } <= set(images)
    for image in images:
        assert (PROJECT_ROOT / image).is_file(), image
    for stored in (PROJECT_ROOT / "docs" / "img").iterdir():
        assert any(stored.name in text for text in documents), f"{stored.name} is unused"
