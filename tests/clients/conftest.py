"""A live server with the demo data and a real worker, its schema, and the Node tools.

What a consumer does starts from the schema a running service serves, so these
tests fetch /v1/schema/ over HTTP from the live test server.

The TypeScript and lint checks need Node.js and npm; the pinned packages come
from package.json and package-lock.json beside this file (``npm ci``). Without
npm those tests skip, unless ``REQUIRE_NODE=1`` (CI sets it), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bulktasks import demo
from tests.workers import start_worker

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command to its end; its output, whatever its status (the caller asserts it)."""
    return subprocess.run(  # noqa: S603 - our own tools and arguments
        command, capture_output=True, text=True, check=False, timeout=300, **kwargs
    )


@pytest.fixture
def live_api(live_server, tmp_path: Path) -> Iterator[str]:
    """The live test server's URL, with the demo data and a real worker processing uploads."""
    demo.demo_seed()
    worker = start_worker(tmp_path, "clients")
    try:
        yield live_server.url
    finally:
        worker.stop()


@pytest.fixture
def live_schema(live_api: str, tmp_path: Path) -> Path:
    """/v1/schema/ as the live server serves it, saved as JSON."""
    with urllib.request.urlopen(f"{live_api}/v1/schema/?format=json", timeout=30) as response:  # noqa: S310 - the live test server
        schema = json.load(response)
    target = tmp_path / "schema.json"
    target.write_text(json.dumps(schema))
    return target


def consumer_run(command: list[str], *, live_api: str, cwd: Path, **env: str) -> dict[str, Any]:
    """Run a usage script against the live API as the demo reader; the summary it prints."""
    used = run(
        command,
        env={
            **os.environ,
            **env,
            "BULK_TASKS_URL": live_api,
            "BULK_TASKS_EMAIL": demo.READER_EMAIL,
            "BULK_TASKS_PASSWORD": demo.DEMO_PASSWORD,
        },
        cwd=cwd,
    )
    assert used.returncode == 0, used.stdout + used.stderr
    return json.loads(used.stdout)


def assert_consumer_summary(summary: dict[str, Any]) -> None:
    """What the usage scripts print after their walk through the API on the demo data."""
    assert summary["created"]["status"] == "pending"
    assert summary["task"] == {
        "status": "completed",
        "items": 4,
        "inserts": 2,
        "errors": 2,
        "createdBy": demo.READER_EMAIL,
    }
    first, second = summary["pages"]
    assert len(first) == 2
    assert len(second) == 2
    assert first[0] == summary["created"]["id"]
    assert not set(first) & set(second)
    assert summary["lines"] == [
        "3 errored: email: 'not-an-email' is not a valid e-mail address",
        "4 errored: email: duplicate of line 2",
    ]
    assert summary["refusedAfterLogout"] == 4004


@pytest.fixture(scope="session")
def node_bin() -> Path:
    """The folder of the pinned Node tools, installed with ``npm ci`` when the lock file changed."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        reason = "no `node` and `npm` on the PATH (apt-get install nodejs npm)"
        if os.environ.get("REQUIRE_NODE") == "1":
            pytest.fail(f"the Node checks are required (REQUIRE_NODE=1) but {reason}")
        pytest.skip(f"the Node checks need Node.js: {reason}")
    stamp = NODE_MODULES / ".package-lock.json"
    lock = HERE / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        installed = run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=HERE)
        assert installed.returncode == 0, installed.stdout + installed.stderr
    return NODE_MODULES / ".bin"
