"""Tenants of a running stack, through its public interfaces only.

An organization's member logs in (``POST /v1/auth/token``), uploads a file
(multipart ``POST .../bulk-tasks``) and polls the contract's
``GET .../bulk-tasks/{id}`` until the task has finished; the task's own
timestamps and counters are then read from its row. Nothing here knows how the
workers split or schedule the work, so the same scenarios measure any pipeline
behind the same API.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.common import PYTHON, ROOT, manage
from bench.stack import DEFAULT_REDIS_URL

if TYPE_CHECKING:
    from bench.stack import Stack

# The demo seed's two organizations and their bulk operators (bulktasks/demo.py):
# each may create, list and read its own organization's tasks.
DEMO_PASSWORD = "demo-password-2024"  # noqa: S105 - the demo's published password
ORGANIZATION_A = ("acme", "reader@acme.example")
ORGANIZATION_B = ("globex", "member@globex.example")
FINISHED = ("completed", "failed")


def scenario_parser(doc: str | None) -> argparse.ArgumentParser:
    """A scenario's parser: the first paragraph of its docstring, and every default in --help."""
    return argparse.ArgumentParser(
        description=doc.split("\n\n", 1)[0] if doc else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


def add_stack_options(
    parser: argparse.ArgumentParser, *, database: str, port: int, timeout_help: str
) -> None:
    """The options every scenario against a started stack takes: polling, and where it runs."""
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between GETs of a task")
    parser.add_argument("--timeout", type=float, default=1800, help=timeout_help)
    parser.add_argument("--database", default=database)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)


def people_csv(prefix: str, lines: int) -> bytes:
    """A users.import CSV of ``lines`` new people, unique to ``prefix``."""
    rows = [f"{prefix}-{n}@bench.example,First{n},Last{n}\n" for n in range(lines)]
    return ("email,firstName,lastName\n" + "".join(rows)).encode()


def multipart(fields: dict[str, str], name: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with ``fields`` and one CSV file; returns (body, content type)."""
    boundary = f"bench-{secrets.token_hex(12)}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass
class Upload:
    """One uploaded file: its task, and when (``time.monotonic()``) it was sent, answered, seen done."""

    organization: str
    name: str
    lines: int
    task_id: str
    sent: float
    answered: float
    seen_finished: float | None = None
    status: str | None = None
    row: dict[str, Any] = field(default_factory=dict)

    @property
    def seen_seconds(self) -> float | None:
        """From the upload's answer to the first GET that showed the task finished."""
        return None if self.seen_finished is None else self.seen_finished - self.answered

    @property
    def recorded_seconds(self) -> float | None:
        """From the task's creation to its finish, as its own row records them."""
        created, finished = self.row.get("created_at"), self.row.get("finished_at")
        if created is None or finished is None:
            return None
        return round((finished - created).total_seconds(), 3)


class Member:
    """A member of one organization, logged in over HTTP."""

    def __init__(self, base: str, organization: str, email: str, password: str) -> None:
        self.organization = organization
        self.collection = f"{base}/v1/organizations/{organization}/bulk-tasks"
        token = _request(
            f"{base}/v1/auth/token",
            data=json.dumps({"email": email, "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )["access"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def upload(self, name: str, content: bytes, lines: int) -> Upload:
        """Upload a users.import file as a client would; the answer names its task."""
        body, content_type = multipart({"action": "users.import"}, name, content)
        sent = time.monotonic()
        data = _request(
            self.collection,
            data=body,
            headers={**self.headers, "Content-Type": content_type},
            timeout=120,
        )
        return Upload(self.organization, name, lines, data["id"], sent, time.monotonic())

    def status(self, task_id: str) -> str:
        """The task's status, as the contract's GET gives it."""
        return str(_request(f"{self.collection}/{task_id}", headers=self.headers)["status"])

    def poll(self, uploads: list[Upload]) -> list[Upload]:
        """GET each unfinished upload's task once; mark and return those now finished."""
        done = []
        for upload in uploads:
            if upload.seen_finished is not None:
                continue
            status = self.status(upload.task_id)
            if status in FINISHED:
                upload.seen_finished = time.monotonic()
                upload.status = status
                done.append(upload)
        return done


def wait_finished(
    members: dict[str, Member],
    uploads: list[Upload],
    *,
    interval: float,
    timeout: float,
    each_poll: Callable[[], None] | None = None,
) -> bool:
    """Poll until every upload's task has finished; False if ``timeout`` came first."""
    deadline = time.monotonic() + timeout
    while any(u.seen_finished is None for u in uploads):
        if time.monotonic() > deadline:
            return False
        for organization, member in members.items():
            member.poll([u for u in uploads if u.organization == organization])
        if each_poll is not None:
            each_poll()
        time.sleep(interval)
    return True


def _request(
    url: str, *, data: bytes | None = None, headers: dict[str, str], timeout: float = 30
) -> Any:
    """Send one request to the stack and return the envelope's ``data``; raise on any non-2xx."""
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read())["data"]
    except urllib.error.HTTPError as error:
        raise RuntimeError(
            f"{request.get_method()} {url}: {error.code} {error.read()[:300]!r}"
        ) from error


def start_quiet(stack: Stack) -> None:
    """Prepare and start ``stack`` with no work queued but the scenario's own.

    The demo seed leaves a pending and an in-progress task, which the sweeper
    would hand to the workers in the middle of a measurement; they are deleted.
    Messages an interrupted run left in the broker's queues are purged.
    """
    stack.prepare()
    manage(
        "shell",
        "-c",
        "from bulktasks.models import BulkTask as T; "
        "T.objects.exclude(status__in=['completed', 'failed']).delete()",
        env=stack.env,
    )
    subprocess.run(  # noqa: S603 - our interpreter, our arguments
        [PYTHON, "-m", "celery", "-A", "config", "purge", "-f"],
        cwd=ROOT,
        env=stack.env,
        check=True,
        capture_output=True,
    )
    stack.start()


def worker_concurrency(stack: Stack) -> str:
    """The pool the running worker reports in its banner, e.g. ``2 (prefork)``."""
    found = re.findall(r"concurrency:\s*(.+)", stack.log("worker"))
    return found[-1].strip() if found else "unknown"


def since(origin_wall: float, moment: dt.datetime | None) -> float | None:
    """A row's timestamp as seconds after ``origin_wall`` (a ``time.time()``); None stays None."""
    return None if moment is None else round(moment.timestamp() - origin_wall, 3)


# --- What the task rows record --------------------------------------------------------


def task_rows(database_url: str, uploads: list[Upload]) -> None:
    """Read each upload's task row (status, counters, timestamps) into ``upload.row``."""
    import psycopg
    from psycopg.rows import dict_row

    ids = [upload.task_id for upload in uploads]
    with psycopg.connect(database_url, connect_timeout=5, row_factory=dict_row) as connection:
        rows = connection.execute(
            "SELECT id, status, num_items, num_inserts, num_updates, num_skips, num_errors,"
            " created_at, started_at, finished_at FROM bulktasks_bulktask WHERE id = ANY(%s)",
            (ids,),
        ).fetchall()
    by_id = {str(row["id"]).strip(): row for row in rows}
    for upload in uploads:
        upload.row = by_id.get(upload.task_id, {})


def chunk_spans(database_url: str, uploads: list[Upload]) -> dict[str, list[list[float]]] | None:
    """Per task, each chunk's (start, finish) in seconds from the task's creation; None when
    the pipeline keeps no chunk rows (a ``bulktasks_bulktaskchunk`` table with timestamps)."""
    import psycopg

    with psycopg.connect(database_url, connect_timeout=5) as connection:
        columns = {
            row[0]
            for row in connection.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'bulktasks_bulktaskchunk'"
            ).fetchall()
        }
        task_column = next((c for c in ("task_id", "bulk_task_id") if c in columns), None)
        if task_column is None or not {"started_at", "finished_at"} <= columns:
            return None
        rows = connection.execute(
            f"SELECT c.{task_column}, EXTRACT(EPOCH FROM c.started_at - t.created_at),"  # noqa: S608 - a column name from the catalog
            " EXTRACT(EPOCH FROM c.finished_at - t.created_at)"
            " FROM bulktasks_bulktaskchunk c JOIN bulktasks_bulktask t"
            f" ON t.id = c.{task_column} WHERE c.{task_column} = ANY(%s)"
            " AND c.started_at IS NOT NULL AND c.finished_at IS NOT NULL ORDER BY 2",
            ([upload.task_id for upload in uploads],),
        ).fetchall()
    spans: dict[str, list[list[float]]] = {}
    for task_id, started, finished in rows:
        spans.setdefault(str(task_id).strip(), []).append(
            [round(float(started), 3), round(float(finished), 3)]
        )
    return spans


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (of 10 values, p95 is the largest); NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def distribution(values: list[float]) -> dict[str, float]:
    """p50, p95 and max, rounded to milliseconds."""
    return {
        "p50": round(percentile(values, 0.50), 3),
        "p95": round(percentile(values, 0.95), 3),
        "max": round(max(values), 3) if values else float("nan"),
    }
