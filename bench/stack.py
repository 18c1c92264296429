"""The service as production runs it, for the load and fault tests.

gunicorn with production settings on PostgreSQL, Celery workers (with the
sweeper) on Redis, a fresh database with the demo organization, and the
checks that every uploaded task ended with the right report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import PYTHON, ROOT, django_env, fresh_postgres_database, manage

if TYPE_CHECKING:
    # bench/load.py needs aiohttp (the bench extra); the scenarios that only
    # start a stack do not.
    from bench.load import Upload

DEFAULT_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Stack:
    """gunicorn + Celery worker on a fresh PostgreSQL database and a Redis broker."""

    database: str
    port: int
    redis_url: str = DEFAULT_REDIS_URL
    web_workers: int = 2
    # None: Celery's default, one pool process per CPU.
    worker_concurrency: int | None = 1
    admin_url: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-stack-")))

    def __post_init__(self) -> None:
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.env: dict[str, str] = {}
        self.demo: dict[str, Any] = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    def prepare(self) -> None:
        """Create the database, migrate it and seed the demo organization."""
        self.env = django_env(
            DJANGO_SETTINGS_MODULE="config.settings.production",
            DATABASE_URL=fresh_postgres_database(self.database, admin_url=self.admin_url),
            CONN_MAX_AGE="600",
            CELERY_BROKER_URL=self.redis_url,
            MEDIA_ROOT=str(self.logs / "media"),
            **self.settings,
        )
        manage("migrate", "--noinput", env=self.env)
        self.demo = json.loads(manage("seed_demo", "--json", "--allow-production", env=self.env))

    def start(self) -> None:
        """Start gunicorn and one Celery worker with the sweeper; wait until both serve."""
        self._spawn(
            "gunicorn",
            [
                PYTHON,
                "-m",
                "gunicorn",
                "config.wsgi",
                f"--workers={self.web_workers}",
                f"--bind=127.0.0.1:{self.port}",
                "--log-level=info",
                "--timeout=30",
            ],
        )
        self.start_worker()
        deadline = time.monotonic() + 60
        while not self.answers():
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"gunicorn did not answer:\n{self.log_tail('gunicorn')}")
            time.sleep(0.2)

    def start_worker(self) -> None:
        """Start the Celery worker (with the sweeper) at ``worker_concurrency``; wait until ready."""
        concurrency = (
            [] if self.worker_concurrency is None else [f"--concurrency={self.worker_concurrency}"]
        )
        # The log is appended to across restarts: wait for a "ready." after this point.
        logged = len(self.log("worker"))
        self._spawn(
            "worker",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--beat",
                f"--schedule={self.logs / 'beat-schedule'}",
                "--loglevel=INFO",
                *concurrency,
                "--without-gossip",
                "--without-mingle",
                f"--hostname=bench-{self.database}-{os.getpid()}@%h",
            ],
        )
        self._wait_for("worker", "ready.", after=logged)

    def stop_worker(self) -> None:
        """Stop the Celery worker alone (a warm shutdown), leaving gunicorn serving."""
        self._stop("worker")

    def stop(self) -> None:
        """Stop every process this stack started: a warm shutdown, then SIGKILL to the group."""
        for name in list(self.processes):
            self._stop(name)

    def _stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            # To the main process only: it stops its own children (gunicorn's
            # workers, Celery's pool) after their current request or task.
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def __enter__(self) -> Stack:
        self.prepare()
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- What the scripts need to know ---------------------------------------------

    @property
    def organization(self) -> str:
        return str(self.demo["organization"]["slug"])

    @property
    def token(self) -> str:
        return str(self.demo["tokens"]["reader"])

    @property
    def task_ids(self) -> list[str]:
        return [task["id"] for task in self.demo["bulkTasks"]]

    @property
    def completed_task_id(self) -> str:
        return next(t["id"] for t in self.demo["bulkTasks"] if t["status"] == "completed")

    def answers(self) -> bool:
        """True when GET of a demo task answers 200."""
        url = (
            f"{self.base}/v1/organizations/{self.organization}/bulk-tasks/{self.completed_task_id}"
        )
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def web_worker_boots(self) -> int:
        """How many gunicorn workers were booted: more than ``web_workers`` means some died."""
        return self.log("gunicorn").count("Booting worker with pid")

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.log(name).splitlines()[-lines:])

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
            command,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _wait_for(self, name: str, text: str, timeout: float = 60, after: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log(name)[after:]:
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready:\n{self.log_tail(name)}")
            time.sleep(0.2)

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{self.log_tail(name)}")


# --- Checking the outcome -------------------------------------------------------------


def tasks_report(database_url: str, task_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Status, counters and errored line numbers of the given tasks, read from the database."""
    import psycopg

    if not task_ids:
        return {}
    with psycopg.connect(database_url, connect_timeout=5) as connection:
        rows = connection.execute(
            "SELECT id, status, num_items, num_inserts, num_updates, num_skips, num_errors,"
            " attempts, error FROM bulktasks_bulktask WHERE id = ANY(%s)",
            (task_ids,),
        ).fetchall()
        lines = connection.execute(
            "SELECT task_id, line FROM bulktasks_bulktaskline"
            " WHERE task_id = ANY(%s) AND kind = 2 ORDER BY task_id, line",
            (task_ids,),
        ).fetchall()
    report = {
        row[0].strip(): {
            "status": row[1],
            "num_items": row[2],
            "num_inserts": row[3],
            "num_updates": row[4],
            "num_skips": row[5],
            "num_errors": row[6],
            "attempts": row[7],
            "error": row[8],
            "errored_lines": [],
        }
        for row in rows
    }
    for task_id, line in lines:
        report[task_id.strip()]["errored_lines"].append(line)
    return report


def wait_until_finished(
    database_url: str, task_ids: list[str], *, timeout: float
) -> tuple[float, dict[str, dict[str, Any]]]:
    """Poll until every task is completed or failed; return (seconds waited, final report)."""
    start = time.monotonic()
    while True:
        try:
            report = tasks_report(database_url, task_ids)
        except Exception:  # the database may still be coming back
            report = {}
        finished = [r for r in report.values() if r["status"] in ("completed", "failed")]
        if len(finished) == len(task_ids) or time.monotonic() - start > timeout:
            return time.monotonic() - start, report
        time.sleep(0.5)


def check_uploads(database_url: str, uploads: list[Upload], prefix: str) -> dict[str, Any]:
    """Compare what the uploads must have produced with what the database holds.

    Each logical upload must have exactly one task (a retried upload reuses its
    Idempotency-Key), completed with the counters and errored lines its file
    implies; and the people imported must be exactly the valid lines, once each.
    """
    import psycopg

    created = [upload for upload in uploads if upload.task_ids]
    task_ids = [task_id for upload in created for task_id in upload.task_ids]
    report = tasks_report(database_url, task_ids)
    wrong: list[dict[str, Any]] = []
    for upload in created:
        if len(upload.task_ids) != 1:
            wrong.append({"upload": upload.name, "problem": f"{len(upload.task_ids)} tasks"})
            continue
        task_id = next(iter(upload.task_ids))
        got = report.get(task_id)
        expected = {"status": "completed", **upload.expected}
        actual = {key: got.get(key) for key in expected} if got else None
        if actual != expected:
            wrong.append({"upload": upload.name, "task": task_id, "expected": expected, "got": got})
    with psycopg.connect(database_url, connect_timeout=5) as connection:
        counts = connection.execute(
            "SELECT"
            " (SELECT count(*) FROM users_membership m JOIN users_user u ON u.id = m.user_id"
            "  WHERE u.email LIKE %(pattern)s),"
            " (SELECT count(*) FROM users_user WHERE email LIKE %(pattern)s),"
            " (SELECT count(DISTINCT lower(email)) FROM users_user WHERE email LIKE %(pattern)s),"
            " (SELECT count(*) FROM bulktasks_bulktask WHERE file_original_name LIKE %(names)s)",
            {"pattern": f"{prefix}-%", "names": f"{prefix}-%.csv"},
        ).fetchone()
    assert counts is not None, "a SELECT of counts always returns a row"
    members, people, distinct_people, tasks_in_db = counts
    attempts: dict[int, int] = {}
    for row in report.values():
        attempts[row["attempts"]] = attempts.get(row["attempts"], 0) + 1
    expected_people = sum(upload.lines - 2 for upload in created)
    return {
        "uploads": len(uploads),
        "uploads_created": len(created),
        "uploads_never_created": [upload.name for upload in uploads if not upload.task_ids],
        "tasks_in_database": tasks_in_db,
        "tasks_completed_right": len(created) - len(wrong),
        # Claims per task: more than one means a worker resumed it after an interruption.
        "tasks_by_attempts": dict(sorted(attempts.items())),
        "tasks_wrong": wrong[:20],
        "people_expected": expected_people,
        "people_imported": people,
        "people_distinct": distinct_people,
        "memberships_imported": members,
        "ok": not wrong
        and tasks_in_db == len(created)
        and people == distinct_people == members == expected_people,
    }
