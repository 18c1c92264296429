"""How soon a cancel stops the workers: from the cancel request to their last activity on the task.

    python bench/cancel.py [--chunk-lines 60000] [--scan-lines 300000] [--repeats 5]

The service runs as in production (bench/stack.py): gunicorn on a fresh
PostgreSQL database and one ``celery -A config worker --concurrency=2`` on
Redis (BENCH_REDIS_URL), with the default chunk size (5,000 records). The demo's
bulk operator uploads a file and cancels it through the API
(``POST .../bulk-tasks/{id}/cancel``), in two situations:

- **chunks**: a file of ``--chunk-lines`` new people, cancelled once its first
  chunk is done and the next ones are being applied, at a random moment within
  a chunk's time. The workers' last activity is the moment no chunk of the task
  is held any more (queued or running): a worker that was applying one has
  reached its chunk's end, rolled it back and given it back. The database is
  polled every 5 ms for it.
- **scan**: a file of ``--scan-lines`` people, cancelled while it is still
  being read through. The last activity is the worker's log line saying that
  the scan stopped.

Each figure is the time from sending the cancel to that moment; the medians and
maxima of the repeats go to bench/results/cancel.json, with each run's answer
time and what the cancelled task kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, median, save
from bench.stack import Stack
from bench.tenants import (
    DEMO_PASSWORD,
    ORGANIZATION_A,
    Member,
    add_stack_options,
    people_csv,
    scenario_parser,
    start_quiet,
    worker_concurrency,
)

_HELD = "SELECT count(*) FROM bulktasks_bulktaskchunk WHERE task_id = %s AND status IN ('queued', 'running')"
_TASK = (
    "SELECT status, error, scanned_at IS NOT NULL, num_items, "
    "num_inserts + num_updates + num_skips + num_errors FROM bulktasks_bulktask WHERE id = %s"
)
_DONE = "SELECT count(*) FROM bulktasks_bulktaskchunk WHERE task_id = %s AND status = 'done'"


def parser() -> argparse.ArgumentParser:
    parser = scenario_parser(__doc__)
    parser.add_argument("--chunk-lines", type=int, default=60_000, help="lines of the chunks' file")
    parser.add_argument("--scan-lines", type=int, default=300_000, help="lines of the scan's file")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each situation")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    parser.add_argument("--seed", type=int, default=7, help="of the random moments of cancel")
    add_stack_options(
        parser,
        database="bulktasks_bench_cancel",
        port=8184,
        timeout_help="give up on a run after this",
    )
    return parser


def command(args: argparse.Namespace) -> str:
    """The command line that reproduces these figures (where the services are is left out)."""
    return (
        f"python bench/cancel.py --chunk-lines {args.chunk_lines} --scan-lines {args.scan_lines}"
        f" --repeats {args.repeats} --concurrency {args.concurrency}"
    )


def cancel(member: Member, task_id: str) -> tuple[float, float, dict[str, Any]]:
    """POST the cancel; return when it was sent (wall and monotonic clocks) and the task answered."""
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{member.collection}/{task_id}/cancel", data=b"", headers=member.headers, method="POST"
    )
    wall, sent = time.time(), time.monotonic()
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        data = json.loads(response.read())["data"]
    return wall, sent, {"answered_after": round(time.monotonic() - sent, 3), **_kept(data)}


def _kept(data: dict[str, Any]) -> dict[str, Any]:
    report = data["report"]
    done = sum(report[key] for key in ("numInserts", "numUpdates", "numSkips", "numErrors"))
    return {"status": data["status"], "error": data.get("error"), "lines_done": done}


def wait(predicate: Any, *, timeout: float, interval: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"not within {timeout} s")


def chunks_run(
    db: Any, member: Member, number: int, args: argparse.Namespace, rng: random.Random
) -> dict[str, Any]:
    """Cancel a file while its chunks are applied; seconds until no worker holds one of them."""
    upload = member.upload(
        f"cancel-chunks-{number}.csv",
        people_csv(f"c{number}-{time.time_ns():x}", args.chunk_lines),
        args.chunk_lines,
    )
    task_id = upload.task_id

    def first_chunk_done() -> bool:
        return bool(db.execute(_DONE, [task_id]).fetchone()[0])

    wait(first_chunk_done, timeout=args.timeout, interval=0.01)
    # Somewhere within a chunk's work (about a third of a second on a quiet machine).
    time.sleep(rng.uniform(0.0, 0.4))
    held_before = db.execute(_HELD, [task_id]).fetchone()[0]
    _, sent, answer = cancel(member, task_id)
    wait(
        lambda: db.execute(_HELD, [task_id]).fetchone()[0] == 0,
        timeout=args.timeout,
        interval=0.005,
    )
    stopped = time.monotonic() - sent
    done_chunks = db.execute(_DONE, [task_id]).fetchone()[0]
    return {
        "task": task_id,
        "chunks_held_at_cancel": held_before,
        "done_chunks": done_chunks,
        "stopped_after": round(stopped, 3),
        **answer,
    }


def scan_run(
    db: Any, stack: Stack, member: Member, number: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Cancel a file while it is read through; seconds until the worker's scan says it stopped."""
    logged = len(stack.log("worker"))
    upload = member.upload(
        f"cancel-scan-{number}.csv",
        people_csv(f"s{number}-{time.time_ns():x}", args.scan_lines),
        args.scan_lines,
    )
    task_id = upload.task_id
    wait(
        lambda: db.execute(_TASK, [task_id]).fetchone()[0] == "inProgress",
        timeout=args.timeout,
        interval=0.01,
    )
    time.sleep(0.5)  # well into the read
    scanned = db.execute(_TASK, [task_id]).fetchone()[2]
    wall, _, answer = cancel(member, task_id)

    def stopped_line() -> dict[str, Any] | None:
        for line in stack.log("worker")[logged:].splitlines():
            if task_id in line and "bulk task scan stopped" in line:
                return dict(json.loads(line[line.index("{") :]))
        return None

    entry = wait(stopped_line, timeout=args.timeout, interval=0.02)
    at = dt.datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
    return {
        "task": task_id,
        "scanned_before_cancel": scanned,
        "stopped_after": round(at - wall, 3),
        **answer,
    }


def main() -> None:
    args = parser().parse_args()
    import psycopg

    rng = random.Random(args.seed)  # noqa: S311 - when to cancel, not a secret
    stack = Stack(
        args.database,
        args.port,
        redis_url=args.redis_url,
        worker_concurrency=args.concurrency,
        # The scan's "stopped" line is an INFO one.
        settings={"LOG_LEVEL": "INFO"},
    )
    start_quiet(stack)
    try:
        organization, email = ORGANIZATION_A
        member = Member(stack.base, organization, email, DEMO_PASSWORD)
        runs: dict[str, list[dict[str, Any]]] = {"chunks": [], "scan": []}
        with psycopg.connect(
            stack.database_url.replace("postgres://", "postgresql://", 1), autocommit=True
        ) as db:
            for number in range(args.repeats):
                runs["chunks"].append(chunks_run(db, member, number, args, rng))
                print("chunks", runs["chunks"][-1], flush=True)
                runs["scan"].append(scan_run(db, stack, member, number, args))
                print("scan", runs["scan"][-1], flush=True)
        pool = worker_concurrency(stack)
    finally:
        stack.stop()
    summary = {
        situation: {
            "median_seconds": round(median([run["stopped_after"] for run in found]), 3),
            "max_seconds": max(run["stopped_after"] for run in found),
            "median_answer_seconds": round(median([run["answered_after"] for run in found]), 3),
        }
        for situation, found in runs.items()
    }
    path = save(
        "cancel",
        {
            "command": command(args),
            "machine": machine(),
            "worker_pool": pool,
            "summary": summary,
            "runs": runs,
        },
    )
    print(json.dumps(summary, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
