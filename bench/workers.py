"""One file, one worker process against two: does a big import use every worker?

    python bench/workers.py [--lines 200000] [--repeats 3] [--concurrency 1 2]

The service runs as in production (bench/stack.py): gunicorn on a fresh
PostgreSQL database and one ``celery -A config worker --concurrency=N``
(prefork) on Redis (BENCH_REDIS_URL). For each run, the worker is started
afresh at the run's concurrency, a member uploads one file of ``--lines`` new
people through the API, and the task is followed through the contract's GET
until it has finished. The runs interleave, in alternating order (1 2, 2 1,
1 2 ...), so that the machine's drift and the tables' growth fall on both.

Throughput is the lines over the time from the task's creation to its finish,
as its row records them; the median of the repeats of each concurrency, and
their ratio. For each run, the CPU seconds each of the worker's processes and
the database's backends used, and how busy the machine's CPUs were, show
whether one pool process, the database or the CPU is the limit. Results go to
bench/results/workers.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import WORKERS_SPEEDUP_TARGET, machine, median, save
from bench.cpu import DatabaseCpu, machine_cpu_ticks, process_tree_cpu_seconds
from bench.stack import Stack
from bench.tenants import (
    DEMO_PASSWORD,
    ORGANIZATION_A,
    Member,
    add_stack_options,
    chunk_spans,
    people_csv,
    scenario_parser,
    start_quiet,
    task_rows,
    wait_finished,
    worker_concurrency,
)


def parser() -> argparse.ArgumentParser:
    parser = scenario_parser(__doc__)
    parser.add_argument("--lines", type=int, default=200_000, help="lines of the file")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each concurrency")
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs=2,
        default=[1, 2],
        metavar=("FEW", "MANY"),
        help="the two worker concurrencies compared",
    )
    add_stack_options(
        parser,
        database="bulktasks_bench_workers",
        port=8773,
        timeout_help="give up on a run after this",
    )
    return parser


def command(args: argparse.Namespace) -> str:
    """The command line that reproduces these figures (where the services are is left out)."""
    few, many = args.concurrency
    return (
        f"python bench/workers.py --lines {args.lines} --repeats {args.repeats}"
        f" --concurrency {few} {many}"
    )


def schedule(concurrencies: list[int], repeats: int) -> list[int]:
    """The runs' concurrencies, interleaved in alternating order: 1 2, 2 1, 1 2 ..."""
    runs: list[int] = []
    for round_ in range(repeats):
        runs += concurrencies if round_ % 2 == 0 else concurrencies[::-1]
    return runs


def one_run(
    stack: Stack, member: Member, concurrency: int, number: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Start the worker at ``concurrency``, import one file through the API, stop the worker."""
    stack.worker_concurrency = concurrency
    stack.start_worker()
    try:
        pool = worker_concurrency(stack)
        content = people_csv(f"w{number}-{time.time_ns():x}", args.lines)
        worker_pid = stack.processes["worker"].pid
        cpu_before, ticks_before = process_tree_cpu_seconds(worker_pid), machine_cpu_ticks()
        database = DatabaseCpu(stack.database_url)
        database.sample()
        wall_before = time.monotonic()
        upload = member.upload(f"workers-{number}.csv", content, args.lines)
        if not wait_finished(
            {member.organization: member},
            [upload],
            interval=args.poll,
            timeout=args.timeout,
            each_poll=database.sample,
        ):
            raise TimeoutError(f"run {number} still running after {args.timeout} s")
        cpu_after = process_tree_cpu_seconds(worker_pid)
        database.sample()
        ticks_after, wall = machine_cpu_ticks(), time.monotonic() - wall_before
    finally:
        stack.stop_worker()
    task_rows(stack.database_url, [upload])
    seconds = upload.recorded_seconds or float("nan")
    database_cpu = database.seconds
    # Per process of the worker (its main process, the embedded beat, the pool's):
    # a file that one pool process imports alone shows as one busy process.
    per_process = sorted(
        (seconds - cpu_before.get(pid, 0.0) for pid, seconds in cpu_after.items()), reverse=True
    )
    cpu = sum(per_process)
    busy, total = (after - before for after, before in zip(ticks_after, ticks_before, strict=True))
    spans = chunk_spans(stack.database_url, [upload])
    return {
        "run": number,
        "concurrency": concurrency,
        "pool": pool,
        "status": upload.row.get("status"),
        "num_inserts": upload.row.get("num_inserts"),
        "seconds": round(seconds, 3),
        "seen_seconds": round(upload.seen_seconds or float("nan"), 3),
        "lines_per_second": round(args.lines / seconds),
        # CPU seconds of the worker's processes over the run's wall time: 1.0 is one core.
        "worker_cpu_seconds": round(cpu, 2),
        "worker_cores": round(cpu / wall, 2),
        "worker_process_cpu_seconds": [round(seconds, 2) for seconds in per_process],
        # The same for the PostgreSQL backends serving this database.
        "database_cpu_seconds": round(database_cpu, 2),
        "database_cores": round(database_cpu / wall, 2),
        # Busy share of every CPU of the machine (PostgreSQL, gunicorn and others too).
        "machine_busy": round(busy / total, 3) if total else None,
        "chunks": None if spans is None else spans.get(upload.task_id, []),
    }


def summarize(runs: list[dict[str, Any]], concurrencies: list[int]) -> dict[str, Any]:
    """Median lines/s of each concurrency and their ratio."""
    few, many = concurrencies
    rate = {
        c: median([r["lines_per_second"] for r in runs if r["concurrency"] == c])
        for c in (few, many)
    }
    return {
        "few": few,
        "many": many,
        "few_lines_per_second": rate[few],
        "many_lines_per_second": rate[many],
        "speedup": round(rate[many] / rate[few], 3),
        "target": WORKERS_SPEEDUP_TARGET,
    }


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    stack = Stack(
        database=args.database,
        port=args.port,
        redis_url=args.redis_url,
        worker_concurrency=args.concurrency[0],
    )
    runs: list[dict[str, Any]] = []
    load_before = os.getloadavg()[0]
    try:
        start_quiet(stack)
        member = Member(stack.base, ORGANIZATION_A[0], ORGANIZATION_A[1], DEMO_PASSWORD)
        # Each run starts its own worker; the one start_quiet started goes first.
        stack.stop_worker()
        for number, concurrency in enumerate(schedule(args.concurrency, args.repeats), start=1):
            run = one_run(stack, member, concurrency, number, args)
            runs.append(run)
            print(
                f"run {number}: concurrency {run['pool']:14s} {run['seconds']:7.1f} s"
                f" {run['lines_per_second']:8,} lines/s  worker {run['worker_cores']:.2f} cores,"
                f" PostgreSQL {run['database_cores']:.2f} cores,"
                f" machine {100 * (run['machine_busy'] or 0):.0f}% busy, {run['status']}"
            )
    finally:
        stack.stop()
    # Other work on the machine shows here: the figures are only as quiet as it was.
    load = {"before": load_before, "after": os.getloadavg()[0]}
    summary = summarize(runs, args.concurrency)
    print(
        f"median: {summary['few']} process(es) {summary['few_lines_per_second']:,.0f} lines/s,"
        f" {summary['many']} {summary['many_lines_per_second']:,.0f} lines/s:"
        f" x{summary['speedup']:.2f} (target x{WORKERS_SPEEDUP_TARGET})"
    )
    wrong = [r["run"] for r in runs if r["status"] != "completed" or r["num_inserts"] != args.lines]
    payload = {
        "command": command(args),
        "machine": machine(),
        "lines": args.lines,
        "repeats": args.repeats,
        "worker": {"command": "celery -A config worker --concurrency=N", "pool": "prefork"},
        "load_average": load,
        "runs": runs,
        "summary": summary,
        "wrong": wrong,
        "ok": not wrong,
    }
    print(f"saved {save('workers', payload)}")
    if wrong:
        print(f"WRONG: runs not completed with the expected counters: {wrong}")
        sys.exit(1)


if __name__ == "__main__":
    main()
