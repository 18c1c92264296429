"""``make run`` serves, and Ctrl-C or SIGTERM stops all of it quickly and quietly.

Each case runs the real ``make run`` in a process group and session of its own,
on a free port, with its database, files, queue and beat schedule in a
temporary folder: the developer's ``var/`` is never touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
# Starting includes migrating a fresh database and seeding the demo data.
START_TIMEOUT = 180.0
# Generous for CI: the target, checked by hand, is 5 seconds (docs/development.md).
STOP_TIMEOUT = 15.0
# Settings the test process has that must not reach `make run`: it uses its
# own SQLite file and the embedded file-system queue, as a newcomer's would.
INHERITED = ("DATABASE_URL", "REDIS_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE", "MEDIA_ROOT")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def session_processes(session_id: int) -> list[str]:
    """The live (not zombie) processes of a session, as ``pid state command`` strings."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # it exited while we looked
        command = text[text.index("(") + 1 : text.rindex(")")]
        state, _parent, _group, session = text[text.rindex(")") + 2 :].split()[:4]
        if int(session) == session_id and state != "Z":
            found.append(f"{stat.parent.name} {state} {command}")
    return found


class MakeRun:
    """``make run`` in its own session, its output collected in a file."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.output_path = folder / f"make-run-{self.port}.log"
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in INHERITED and not key.startswith("CELERY_")
        }
        env.update(
            DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
            MEDIA_ROOT=str(folder / "media"),
            CELERY_BROKER_FOLDER=str(folder / "broker"),
            PYTHONUNBUFFERED="1",
        )
        with self.output_path.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
                [  # noqa: S607 - make from PATH, as a developer runs it
                    "make",
                    "run",
                    f"PORT={self.port}",
                    f"VENV={sys.prefix}",
                    f"BEAT_SCHEDULE={folder / 'celerybeat-schedule'}",
                ],
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def serving(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self) -> None:
        """Until the server answers and the worker takes tasks."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"make run exited with {self.process.returncode}:\n{self.output()}")
            if self.serving() and " ready." in self.output():
                return
            time.sleep(0.5)
        pytest.fail(f"make run not serving after {START_TIMEOUT}s:\n{self.output()}")

    def kill(self) -> None:
        """Leave nothing behind, whatever the test found."""
        for pid in [int(line.split()[0]) for line in session_processes(self.process.pid)]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the module: the second start finds the database migrated."""
    return tmp_path_factory.mktemp("make-run")


@pytest.fixture
def make_run(run_folder: Path) -> Iterator[MakeRun]:
    running = MakeRun(run_folder)
    try:
        yield running
    finally:
        running.kill()


@pytest.mark.parametrize(
    ("signum", "to_the_group", "exit_statuses"),
    [
        # Ctrl-C: the terminal signals the whole foreground process group.
        # make re-raises it once its recipe is done: a shell reports 130.
        (signal.SIGINT, True, {0, 130, -signal.SIGINT}),
        # A process manager's stop: SIGTERM to make alone, which passes it on.
        (signal.SIGTERM, False, {0, 143, -signal.SIGTERM}),
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_make_run_stops_the_server_and_the_worker_quickly_and_quietly(
    make_run: MakeRun, signum: signal.Signals, to_the_group: bool, exit_statuses: set[int]
) -> None:
    make_run.wait_ready()
    lines_before = len(make_run.output().splitlines())

    if to_the_group:
        os.killpg(make_run.process.pid, signum)
    else:
        make_run.process.send_signal(signum)
    try:
        status = make_run.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make run still running {STOP_TIMEOUT}s after {signum.name}")

    after = make_run.output().splitlines()[lines_before:]
    assert status in exit_statuses, "\n".join(after)
    assert "Stopped." in after
    # Once at most: a worker busy in a long database call is killed before it says it.
    assert sum("Warm shutdown" in line for line in after) <= 1, "\n".join(after)
    assert len(after) < 20, "\n".join(after)
    assert not any("Segmentation fault" in line or "Error" in line for line in after)
    with pytest.raises(ProcessLookupError):
        os.killpg(make_run.process.pid, 0)
    assert session_processes(make_run.process.pid) == []
    assert not make_run.serving()
