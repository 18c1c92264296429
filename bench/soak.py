"""Soak test: a constant rate of mixed reads and uploads at 80% of capacity, for a minute.

    python bench/soak.py [--seconds 60] [--rate RPS | --target 0.8] [--web-workers 2]

The service runs as in production: gunicorn with production settings on a fresh
PostgreSQL database, and a Celery worker (with the sweeper) taking uploads from
Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/0). Without --rate,
capacity is measured first with the same mix: a closed-loop ramp (1, 2, 4...
clients back to back) estimates it, then open-loop steps at rising fractions of
the estimate find the highest rate the service keeps up with (p99 within
--slo-ms, no failure, uploads processed as fast as they come); the soak runs at
--target times that. Every request is classified (2xx, other status,
connection error); at the end every uploaded task must be completed with
exactly the counters its file implies, and the people imported must be the
valid lines, once each. Results go to bench/results/soak.json; the exit status
is 1 if any request failed or any check did not hold.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, save
from bench.load import (
    DEFAULT_MIX,
    Client,
    Sample,
    closed_loop,
    open_loop,
    percentile,
    print_table,
    send_again,
    session,
    summarize,
    windows,
)
from bench.stack import (
    DEFAULT_REDIS_URL,
    Stack,
    check_uploads,
    tasks_report,
    wait_until_finished,
)

PORT = 8766


def task_ids_of(client: Client) -> list[str]:
    """Every task the client's uploads created so far."""
    return [task_id for upload in client.uploads for task_id in upload.task_ids]


def parse_mix(text: str) -> dict[str, int]:
    """``get=45,list=25,lines=20,upload=10`` as a dict."""
    mix = {}
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        mix[kind.strip()] = int(weight)
    unknown = set(mix) - set(DEFAULT_MIX)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown kinds {sorted(unknown)}")
    return mix


async def closed_ramp(
    client: Client, mix: dict[str, int], seconds: float, at_least: int
) -> tuple[float, list[dict[str, Any]], list[Sample]]:
    """Closed loop: double the clients (to ``at_least`` whatever happens) until throughput
    grows by less than 5%; return the best throughput, an estimate of capacity."""
    steps: list[dict[str, Any]] = []
    samples: list[Sample] = []
    best = 0.0
    concurrency = 1
    while concurrency <= 64:
        rps, step_samples = await closed_loop(
            client, concurrency=concurrency, seconds=seconds, mix=mix
        )
        samples.extend(step_samples)
        steps.append({"clients": concurrency, **step_report(step_samples), "rps": round(rps, 1)})
        print(f"  closed loop, {concurrency:2d} clients: {describe(steps[-1])}")
        if rps < best * 1.05 and concurrency >= at_least:
            break
        best = max(best, rps)
        concurrency *= 2
    return best, steps, samples


async def open_ramp(
    client: Client, stack: Stack, args: argparse.Namespace, estimate: float
) -> tuple[float | None, list[dict[str, Any]], list[Sample]]:
    """Open loop at rising fractions of the estimate: the highest rate the service keeps up with.

    Keeping up means: no failed request, p99 within --slo-ms, and the uploads
    of the step processed by its end, give or take one second's worth. A closed
    loop slows down with the server and overstates what it sustains once the
    worker processing the uploads competes for the machine.
    """
    steps: list[dict[str, Any]] = []
    samples: list[Sample] = []
    capacity = None
    upload_share = args.mix.get("upload", 0) / sum(args.mix.values())
    for fraction in (0.4, 0.55, 0.7, 0.85, 1.0):
        rate = round(estimate * fraction, 1)
        # A step that falls behind is tried once more, straight away (what it
        # left behind included): on a shared machine a neighbour's burst can
        # sink one step.
        for _ in range(2):
            step_samples = await open_loop(
                client, rate=rate, seconds=args.ramp_seconds, mix=args.mix
            )
            samples.extend(step_samples)
            task_ids = [s.task_id for s in step_samples if s.task_id]
            report = await asyncio.to_thread(tasks_report, stack.database_url, task_ids)
            backlog = sum(1 for r in report.values() if r["status"] not in ("completed", "failed"))
            step = {"rate": rate, **step_report(step_samples), "upload_backlog": backlog}
            step["keeps_up"] = (
                step["errors"] == 0
                and step["p99_ms"] <= args.slo_ms
                and backlog <= max(2, rate * upload_share)
            )
            steps.append(step)
            print(f"  open loop, {rate:6.1f} req/s: {describe(step)}, upload backlog {backlog}")
            if step["keeps_up"]:
                break
        if not step["keeps_up"]:
            break
        capacity = rate
    return capacity, steps, samples


def step_report(samples: list[Sample]) -> dict[str, Any]:
    latencies = [s.latency_ms for s in samples]
    return {
        "requests": len(samples),
        "errors": sum(1 for s in samples if not s.ok),
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
    }


def describe(step: dict[str, Any]) -> str:
    rate = f"{step['rps']:6.1f} req/s, " if "rps" in step else ""
    return (
        f"{rate}p50 {step['p50_ms']:6.1f} ms, p99 {step['p99_ms']:7.1f} ms, errors {step['errors']}"
    )


async def run(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    prefix = f"soak{int(time.time())}"
    async with session() as http:
        client = Client.for_stack(
            http,
            stack,
            prefix=prefix,
            upload_lines=args.upload_lines,
        )
        _, warm_up = await closed_loop(client, concurrency=2, seconds=3, mix=args.mix)
        ramp: dict[str, list[dict[str, Any]]] = {}
        ramp_samples: list[Sample] = []
        estimate = capacity = None
        if args.rate:
            rate = args.rate
        else:
            print("Measuring capacity with the same mix:")
            # Past four clients per gunicorn worker, requests only queue.
            estimate, ramp["closed_loop"], closed = await closed_ramp(
                client, args.mix, args.ramp_seconds / 2, at_least=4 * args.web_workers
            )
            wait_until_finished(stack.database_url, task_ids_of(client), timeout=args.drain_timeout)
            capacity, ramp["open_loop"], opened = await open_ramp(client, stack, args, estimate)
            ramp_samples = [*closed, *opened]
            # Below the lowest step tried, there is no measured capacity: soak at that step.
            rate = round((capacity or estimate * 0.4) * (args.target if capacity else 1), 1)
        # Start the soak with no backlog left from the ramp.
        backlog_seconds, _ = wait_until_finished(
            stack.database_url, task_ids_of(client), timeout=args.drain_timeout
        )
        print(f"Soak: {rate} req/s for {args.seconds} s ...")
        load_before = os.getloadavg()
        samples = await open_loop(client, rate=rate, seconds=args.seconds, mix=args.mix)
        load_after = os.getloadavg()
        # Learn the outcome of uploads that got no 2xx (there should be none).
        retries = await send_again(client, [*warm_up, *ramp_samples, *samples])
        soak_uploads = {s.upload for s in samples if s.kind == "upload"}
        task_ids = [t for u in client.uploads if u.number in soak_uploads for t in u.task_ids]
        drain_seconds, _ = wait_until_finished(
            stack.database_url, task_ids, timeout=args.drain_timeout
        )
        checks = check_uploads(stack.database_url, client.uploads, prefix)

    table = summarize(samples)
    send_lag = [(s.sent - s.due) * 1000 for s in samples]
    return {
        "rate": rate,
        "closed_loop_estimate_rps": estimate,
        "capacity_rps": capacity,
        "ramp": ramp,
        "ramp_errors": sum(1 for s in ramp_samples if not s.ok),
        "ramp_backlog_drain_seconds": round(backlog_seconds, 1),
        "seconds": args.seconds,
        # Requests sent per second of schedule, and answers per second until the last one.
        "sent_rps": round(len(samples) / (max(s.sent for s in samples) - samples[0].due), 1),
        "answered_rps": round(len(samples) / (max(s.done for s in samples) - samples[0].due), 1),
        "windows_10s": windows(samples),
        "generator_send_lag_p99_ms": round(percentile(send_lag, 0.99), 1),
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "by_kind": table,
        "uploads_during_soak": len(soak_uploads),
        "uploads_sent_again": retries,
        "drain_seconds_after_soak": round(drain_seconds, 1),
        "checks": checks,
        "web_worker_boots": stack.web_worker_boots(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, help="requests/s; default: --target x capacity")
    parser.add_argument("--target", type=float, default=0.8, help="fraction of capacity")
    parser.add_argument("--ramp-seconds", type=float, default=15, help="per open-loop step")
    parser.add_argument(
        "--slo-ms", type=float, default=500, help="p99 a rate must keep to count as capacity"
    )
    parser.add_argument("--mix", type=parse_mix, default=dict(DEFAULT_MIX))
    parser.add_argument("--upload-lines", type=int, default=10, help="lines per uploaded CSV")
    parser.add_argument("--web-workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--worker-concurrency", type=int, default=1)
    parser.add_argument("--drain-timeout", type=float, default=300)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--output", default="soak", help="bench/results/<output>.json")
    args = parser.parse_args()

    stack = Stack(
        "bulktasks_bench_soak",
        port=PORT,
        redis_url=args.redis_url,
        web_workers=args.web_workers,
        worker_concurrency=args.worker_concurrency,
    )
    print(
        f"Starting gunicorn ({args.web_workers} workers) and a Celery worker; logs in {stack.logs}"
    )
    with stack:
        result = asyncio.run(run(args, stack))

    params = {k: v for k, v in vars(args).items() if k not in ("redis_url", "output")}
    command = "python bench/soak.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in params.items() if v is not None and k != "mix"
    )
    path = save(args.output, {"command": command, "machine": machine(), "params": params, **result})
    print()
    print_table(result["by_kind"])
    checks = result["checks"]
    print(
        f"\nrate {result['rate']} req/s (capacity {result['capacity_rps']}); sent"
        f" {result['sent_rps']}/s, answered {result['answered_rps']}/s; generator send lag p99"
        f" {result['generator_send_lag_p99_ms']} ms; load average before/after"
        f" {result['load_average_before_after']}"
    )
    print(
        "every 10 s: "
        + "  ".join(
            f"{w['from_s']:.0f}s p50 {w['p50_ms']:.0f} p99 {w['p99_ms']:.0f} ms"
            for w in result["windows_10s"]
        )
    )
    print(
        f"uploads: {checks['uploads_created']} created, {checks['tasks_completed_right']} completed"
        f" with the right counts; people {checks['people_imported']} / expected"
        f" {checks['people_expected']}; queue drained {result['drain_seconds_after_soak']} s"
        f" after the load; gunicorn worker boots {result['web_worker_boots']}"
    )
    print(f"saved {path}")
    failed = (
        result["by_kind"]["all"]["ok"] != result["by_kind"]["all"]["requests"]
        or result["ramp_errors"]
        or not checks["ok"]
        or result["web_worker_boots"] != args.web_workers
    )
    if failed:
        print("SOAK FAILED: see the errors and checks above")
        sys.exit(1)


if __name__ == "__main__":
    main()
