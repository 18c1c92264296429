"""Fairness: how long a small task of one organization waits while another's big files run.

    python bench/fairness.py [--lines 200000] [--big 2] [--small 10] [--spacing 1.5]

The service runs as in production (bench/stack.py): gunicorn on a fresh
PostgreSQL database, and ONE ``celery -A config worker`` at its default
concurrency (one prefork process per CPU) on Redis (BENCH_REDIS_URL).
Organization A's member logs in and uploads ``--big`` files of ``--lines`` new
people; ``--delay`` seconds after A's last upload was answered, organization
B's member uploads ``--small`` files of ``--small-lines`` people, one every
``--spacing`` seconds, while A's files run. Each task is followed through the
contract's GET until it has finished.

For each small task: from its upload's answer to the first GET that showed it
completed (polled every ``--poll`` seconds), and from its creation to its finish
as its own row records them; p50, p95 and max of each. For A: the time from its
first upload to both files finished. Every task must complete with the counters
its file implies. Results go to bench/results/fairness.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SMALL_TASK_TARGET_SECONDS, machine, save
from bench.stack import Stack
from bench.tenants import (
    DEMO_PASSWORD,
    ORGANIZATION_A,
    ORGANIZATION_B,
    Member,
    Upload,
    add_stack_options,
    chunk_spans,
    distribution,
    people_csv,
    scenario_parser,
    since,
    start_quiet,
    task_rows,
    worker_concurrency,
)


def parser() -> argparse.ArgumentParser:
    parser = scenario_parser(__doc__)
    parser.add_argument("--lines", type=int, default=200_000, help="lines of each big file (A)")
    parser.add_argument("--big", type=int, default=2, help="big files organization A uploads")
    parser.add_argument("--small", type=int, default=10, help="small files organization B uploads")
    parser.add_argument("--small-lines", type=int, default=3, help="lines of each small file")
    parser.add_argument("--spacing", type=float, default=1.5, help="seconds between B's uploads")
    parser.add_argument(
        "--delay", type=float, default=2.0, help="seconds from A's last upload to B's first"
    )
    add_stack_options(
        parser,
        database="bulktasks_bench_fairness",
        port=8772,
        timeout_help="give up after this long",
    )
    return parser


def command(args: argparse.Namespace) -> str:
    """The command line that reproduces these figures (where the services are is left out)."""
    return (
        f"python bench/fairness.py --lines {args.lines} --big {args.big} --small {args.small}"
        f" --small-lines {args.small_lines} --spacing {args.spacing} --delay {args.delay}"
    )


def scenario(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """Run the uploads against a started stack; return what each task took."""
    a = Member(stack.base, ORGANIZATION_A[0], ORGANIZATION_A[1], DEMO_PASSWORD)
    b = Member(stack.base, ORGANIZATION_B[0], ORGANIZATION_B[1], DEMO_PASSWORD)
    run = f"{time.time_ns():x}"
    contents = [people_csv(f"a{n}-{run}", args.lines) for n in range(args.big)]
    origin, origin_wall = time.monotonic(), time.time()
    big = [
        a.upload(f"a-{n}.csv", content, args.lines) for n, content in enumerate(contents, start=1)
    ]
    small: list[Upload] = []
    next_small = big[-1].answered + args.delay
    last_big_poll = 0.0
    deadline = origin + args.timeout
    while len(small) < args.small or any(u.seen_finished is None for u in small + big):
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"tasks still running after {args.timeout} s")
        if len(small) < args.small and now >= next_small:
            number = len(small) + 1
            small.append(
                b.upload(
                    f"b-{number}.csv",
                    people_csv(f"b{number}-{run}", args.small_lines),
                    args.small_lines,
                )
            )
            next_small += args.spacing
        b.poll(small)
        if now - last_big_poll >= 1.0:
            a.poll(big)
            last_big_poll = now
        time.sleep(args.poll)
    task_rows(stack.database_url, big + small)

    def describe(upload: Upload) -> dict[str, Any]:
        row = upload.row
        return {
            "name": upload.name,
            "task_id": upload.task_id,
            "lines": upload.lines,
            "status": row.get("status"),
            "num_inserts": row.get("num_inserts"),
            "num_errors": row.get("num_errors"),
            "sent_s": round(upload.sent - origin, 3),
            "answered_s": round(upload.answered - origin, 3),
            "seen_finished_s": round((upload.seen_finished or origin) - origin, 3),
            # The row's own timestamps, on the same axis (this machine's clock).
            "created_s": since(origin_wall, row.get("created_at")),
            "started_s": since(origin_wall, row.get("started_at")),
            "finished_s": since(origin_wall, row.get("finished_at")),
            "seen_seconds": round(upload.seen_seconds or 0.0, 3),
            "recorded_seconds": upload.recorded_seconds,
        }

    smalls = [describe(upload) for upload in small]
    bigs = [describe(upload) for upload in big]
    for row in bigs:
        if row["recorded_seconds"]:
            row["lines_per_second"] = round(row["lines"] / row["recorded_seconds"])
    wrong = [
        row["name"]
        for row in smalls + bigs
        if row["status"] != "completed" or row["num_inserts"] != row["lines"]
    ]
    seen = [row["seen_seconds"] for row in smalls]
    recorded = [row["recorded_seconds"] for row in smalls if row["recorded_seconds"] is not None]
    return {
        "small": smalls,
        "big": bigs,
        "small_seen_seconds": distribution(seen),
        "small_recorded_seconds": distribution(recorded),
        "small_within_target": sum(1 for value in seen if value <= SMALL_TASK_TARGET_SECONDS),
        "target_seconds": SMALL_TASK_TARGET_SECONDS,
        # From A's first upload to the last GET that showed one of A's files finished.
        "big_total_seconds": round(max(u.seen_finished or origin for u in big) - origin, 3),
        "chunks": chunk_spans(stack.database_url, big + small),
        "wrong": wrong,
        "ok": not wrong,
    }


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    stack = Stack(
        database=args.database, port=args.port, redis_url=args.redis_url, worker_concurrency=None
    )
    load_before = os.getloadavg()[0]
    try:
        start_quiet(stack)
        pool = worker_concurrency(stack)
        result = scenario(stack, args)
    finally:
        stack.stop()
    # Other work on the machine shows here: the figures are only as quiet as it was.
    load = {"before": load_before, "after": os.getloadavg()[0]}
    s, r = result["small_seen_seconds"], result["small_recorded_seconds"]
    print(f"worker concurrency: {pool}")
    print(
        f"B's {args.small} small tasks, upload answered -> GET completed: p50 {s['p50']:.2f} s,"
        f" p95 {s['p95']:.2f} s, max {s['max']:.2f} s;"
        f" {result['small_within_target']}/{args.small} within {SMALL_TASK_TARGET_SECONDS:.0f} s"
    )
    print(
        f"  as the task rows record it (created -> finished): p50 {r['p50']:.2f} s,"
        f" p95 {r['p95']:.2f} s, max {r['max']:.2f} s"
    )
    for row in result["big"]:
        print(
            f"A {row['name']}: {row['lines']:,} lines in {row['recorded_seconds'] or 0:.1f} s"
            f" ({row.get('lines_per_second', 0):,} lines/s), {row['status']}"
        )
    print(
        f"A's {args.big} files, first upload -> all finished: {result['big_total_seconds']:.1f} s"
    )
    if not result["ok"]:
        print(f"WRONG: tasks not completed with the expected counters: {result['wrong']}")
    payload = {
        "command": command(args),
        "machine": machine(),
        "parameters": {
            key: getattr(args, key)
            for key in ("lines", "big", "small", "small_lines", "spacing", "delay", "poll")
        },
        "worker": {"command": "celery -A config worker", "concurrency": pool},
        "load_average": load,
        **result,
    }
    print(f"saved {save('fairness', payload)}")
    if not result["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
