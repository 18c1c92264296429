"""Fault test: stop PostgreSQL, then Redis, under a light load of reads and uploads; lose nothing.

    python bench/faults.py [--rate 12] [--outage 5] [--settle 12] [--only postgres|redis]
                           [--shared-services]

The service runs as in production (gunicorn, production settings, a Celery
worker with the sweeper, PostgreSQL, Redis). While an open-loop load runs:

1. PostgreSQL is stopped (fast shutdown: sessions are cut), kept down for
   --outage seconds, and started again;
2. Redis is shut down without saving (its queue is lost) and started again.

Every answer is classified. During an outage the API must answer a coded 503
(the envelope, code 5003, Retry-After), never a 500, an HTML page or a cut
connection, and gunicorn must not lose a worker. Afterwards it must answer 2xx
again. Uploads refused during an outage are sent again with their
Idempotency-Key, as a client honouring Retry-After would; then every upload
must have exactly one task, completed with the counters its file implies, and
the people imported must be exactly the valid lines, once each.

By default it runs against a throw-away PostgreSQL cluster and Redis server on
free ports, so that nothing else on the machine loses its services.
--shared-services stops and starts the machine's own PostgreSQL cluster and
Redis server instead (found at run time, see bench/outages.py): run that as root
(or as the services' own user), and not while others rely on them. Both are
always started again, even if the test fails or is interrupted; but a server
started again by this script is no longer supervised by whatever started it at
boot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import POSTGRES_ADMIN_URL, machine, save
from bench.load import (
    Client,
    Sample,
    open_loop,
    percentile,
    print_table,
    send_again,
    session,
    summarize,
)
from bench.outages import Postgres, PrivateServers, Redis
from bench.stack import DEFAULT_REDIS_URL, Stack, check_uploads, wait_until_finished

PORT = 8767
MIX = {"get": 40, "list": 20, "lines": 20, "upload": 20}
# Short timings, so that what the outages leave behind is picked up within the test.
WORKER_SETTINGS = {
    "BULK_TASK_CHUNK_SIZE": "100",
    "BULK_TASK_LEASE_SECONDS": "10",
    "BULK_TASK_SWEEP_SECONDS": "2",
    "BULK_TASK_PENDING_GRACE_SECONDS": "5",
}
ACCEPTABLE = ("ok", "503 coded")


class Timeline:
    """What happened when, relative to the start of the load."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.events: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        at = time.monotonic()
        self.events.append((name, at))
        print(f"  {at - self.start:6.1f} s  {name}")

    def at(self, name: str) -> float | None:
        return next((at for event, at in self.events if event == name), None)

    def phase(self, when: float) -> str:
        """The phase a moment falls in: before, <service> outage, after <service>."""
        phase = "before"
        for event, at in self.events:
            if at > when:
                break
            service, _, what = event.partition(" ")
            if what == "stop":
                phase = f"{service} outage"
            elif what == "up":
                phase = f"after {service}"
        return phase


async def outage(timeline: Timeline, service: Postgres | Redis, name: str, seconds: float) -> None:
    """Stop the service, keep it down, start it again; the load goes on meanwhile."""
    timeline.mark(f"{name} stop")
    try:
        await asyncio.to_thread(service.stop)
        timeline.mark(f"{name} down")
        await asyncio.sleep(seconds)
    finally:
        timeline.mark(f"{name} start")
        await asyncio.to_thread(service.start)
        timeline.mark(f"{name} up")


def outage_report(
    samples: list[Sample], timeline: Timeline, name: str, settle: float
) -> dict[str, Any]:
    """What the API answered while a service was away, and how soon it recovered.

    Recovered means: every answer in the second half of the settle window after
    the service came back (until the next fault) was a 2xx.
    """
    stop, up = timeline.at(f"{name} stop"), timeline.at(f"{name} up")
    if stop is None or up is None:
        return {"recovered": False}
    later_stops = [at for event, at in timeline.events if event.endswith(" stop") and at > up]
    end = min(later_stops, default=float("inf"))
    during = [s for s in samples if s.done >= stop and s.sent <= up]  # overlapping the outage
    # Answered before the next fault began, or that fault would be counted here.
    after = sorted((s for s in samples if s.sent > up and s.done < end), key=lambda s: s.sent)
    tail = [s for s in after if s.sent > up + settle / 2]
    not_ok_after = [s for s in after if not s.ok]
    first_ok = next((s for s in after if s.ok), None)
    answers: dict[str, dict[str, int]] = {}
    for sample in during:
        row = answers.setdefault(sample.kind, {})
        row[sample.outcome] = row.get(sample.outcome, 0) + 1
    return {
        "down_seconds": round(up - stop, 1),
        "answers_during": answers,
        "p99_ms_during": round(percentile([s.latency_ms for s in during], 0.99), 1),
        "first_2xx_after_up_s": round(first_ok.sent - up, 2) if first_ok else None,
        "last_non_2xx_after_up_s": round(not_ok_after[-1].sent - up, 2) if not_ok_after else 0,
        "recovered": bool(tail) and all(s.ok for s in tail),
        # [sent, answered] (s from the stop), kind, status, outcome: each request of the outage.
        "requests_during": [
            [round(s.sent - stop, 2), round(s.done - stop, 2), s.kind, s.status, s.outcome]
            for s in sorted(during, key=lambda s: s.sent)
        ],
    }


async def run(args: argparse.Namespace, stack: Stack, services: dict[str, Any]) -> dict[str, Any]:
    prefix = f"faults{int(time.time())}"
    timeline = Timeline()
    async with session(timeout=30) as http:
        client = Client.for_stack(
            http,
            stack,
            prefix=prefix,
            upload_lines=args.upload_lines,
            big_every=args.big_every,
            big_lines=args.big_lines,
        )
        stop = asyncio.Event()
        longest = args.settle * (len(services) + 1) + (args.outage + 90) * len(services)
        load = asyncio.create_task(
            open_loop(client, rate=args.rate, seconds=longest, mix=MIX, stop=stop)
        )
        timeline.start = time.monotonic()
        print(f"Load: {args.rate} req/s ({MIX})")
        try:
            await asyncio.sleep(args.settle)
            for name, service in services.items():
                await outage(timeline, service, name, args.outage)
                await asyncio.sleep(args.settle)
        finally:
            stop.set()
            samples = await load
        timeline.mark("load stopped")
        retries = await send_again(client, samples)
        task_ids = [task_id for upload in client.uploads for task_id in upload.task_ids]
        drain_seconds, _ = wait_until_finished(
            stack.database_url, task_ids, timeout=args.drain_timeout
        )
        timeline.mark("every task finished" if drain_seconds < args.drain_timeout else "gave up")
        checks = check_uploads(stack.database_url, client.uploads, prefix)

    bad = [s for s in samples if s.outcome not in ACCEPTABLE]
    phases: dict[str, list[Sample]] = {}
    for sample in samples:
        phases.setdefault(timeline.phase(sample.done), []).append(sample)  # when it was answered
    outages = {name: outage_report(samples, timeline, name, args.settle) for name in services}
    return {
        "timeline": [(event, round(at - timeline.start, 2)) for event, at in timeline.events],
        "requests": len(samples),
        "by_phase": {phase: summarize(chosen) for phase, chosen in phases.items()},
        "outages": outages,
        "bad_answers": len(bad),
        "bad_answer_examples": [
            {
                "kind": s.kind,
                "at_s": round(s.sent - timeline.start, 2),
                "outcome": s.outcome,
                "detail": s.detail,
            }
            for s in bad[:20]
        ],
        "recovered": all(outage["recovered"] for outage in outages.values()),
        "retries": retries,
        "drain_seconds": round(drain_seconds, 1),
        "checks": checks,
        "sweeper_runs_that_queued_tasks": stack.log("worker").count(" swept "),
        "web_worker_boots": stack.web_worker_boots(),
        "celery_worker_alive": stack.processes["worker"].poll() is None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=12, help="requests/s (a light load)")
    parser.add_argument("--outage", type=float, default=5, help="seconds each service stays down")
    parser.add_argument("--settle", type=float, default=12, help="seconds of load between faults")
    parser.add_argument("--only", choices=["postgres", "redis"], help="one fault only")
    parser.add_argument("--upload-lines", type=int, default=300)
    parser.add_argument("--big-every", type=int, default=5, help="every Nth upload is big")
    parser.add_argument("--big-lines", type=int, default=3000, help="lines of a big upload")
    parser.add_argument("--web-workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--drain-timeout", type=float, default=180)
    parser.add_argument(
        "--detect-only",
        action="store_true",
        help="print how each service would be stopped and started, and stop nothing",
    )
    parser.add_argument(
        "--shared-services",
        action="store_true",
        help="stop and start the machine's own PostgreSQL and Redis instead of throw-away ones",
    )
    args = parser.parse_args()
    # A plain SIGTERM would skip the finally blocks that start the services again.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))

    private = None if args.shared_services else PrivateServers()
    result: dict[str, Any] | None = None
    postgres: Postgres | None = None
    redis: Redis | None = None
    try:
        if private is not None:
            private.start()
        admin_url = private.postgres_admin_url if private else POSTGRES_ADMIN_URL
        redis_url = private.redis_url if private else DEFAULT_REDIS_URL
        postgres = Postgres.detect(admin_url)
        redis = Redis.detect(redis_url)
        print(f"PostgreSQL: {postgres.how}\nRedis: {redis.how}")
        if args.detect_only:
            for service in (postgres, redis):
                print(f"  stop:  {' '.join(service.stop_command)}")
                print(
                    f"  start: {' '.join(repr(a) if not a or ' ' in a else a for a in service.start_command)}"
                )
            return
        services: dict[str, Any] = {"postgres": postgres, "redis": redis}
        if args.only:
            services = {args.only: services[args.only]}
        stack = Stack(
            "bulktasks_bench_faults",
            port=PORT,
            redis_url=redis_url,
            web_workers=args.web_workers,
            admin_url=admin_url,
            settings=WORKER_SETTINGS,
        )
        print(f"Starting gunicorn and a Celery worker; logs in {stack.logs}")
        with stack:
            result = asyncio.run(run(args, stack, services))
        result["services"] = {name: service.how for name, service in services.items()}
    finally:
        # Whatever happened, leave both services running.
        for maybe_service in (postgres, redis):
            if maybe_service is not None and not maybe_service.is_up():
                print(f"starting {maybe_service.how} again")
                maybe_service.start()
        if private is not None:
            private.stop()

    params = vars(args)
    command = "python bench/faults.py " + " ".join(
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
        for k, v in params.items()
        if v not in (None, False)
    )
    name = "faults" if args.shared_services else "faults-private"
    path = save(name, {"command": command, "machine": machine(), "params": params, **result})
    report(result)
    print(f"saved {path}")
    if not passed(result, args.web_workers):
        print("FAULT TEST FAILED: see above")
        sys.exit(1)


def passed(result: dict[str, Any], web_workers: int) -> bool:
    """Every check of the fault test."""
    return (
        result["bad_answers"] == 0
        and result["recovered"]
        and result["retries"]["never_accepted"] == 0
        and result["checks"]["ok"]
        and result["web_worker_boots"] == web_workers
        and result["celery_worker_alive"]
    )


def report(result: dict[str, Any]) -> None:
    """Print what happened, phase by phase."""
    for phase, table in result["by_phase"].items():
        print(f"\n{phase}:")
        print_table(table)
    for name, outage in result["outages"].items():
        print(
            f"\n{name}: down {outage['down_seconds']} s; answers meanwhile {outage['answers_during']};"
            f" first 2xx {outage['first_2xx_after_up_s']} s after it was back,"
            f" last non-2xx {outage['last_non_2xx_after_up_s']} s after"
        )
    checks = result["checks"]
    print(
        f"\nbad answers (500, HTML, cut connections): {result['bad_answers']}; recovered:"
        f" {result['recovered']}; uploads sent again: {result['retries']}"
    )
    print(
        f"uploads {checks['uploads']}, tasks {checks['tasks_in_database']},"
        f" completed right {checks['tasks_completed_right']}; people {checks['people_imported']}"
        f" (distinct {checks['people_distinct']}, memberships {checks['memberships_imported']})"
        f" / expected {checks['people_expected']}; every task finished"
        f" {result['drain_seconds']} s after the load; gunicorn worker boots"
        f" {result['web_worker_boots']}; Celery worker alive {result['celery_worker_alive']}"
    )
    print(
        f"tasks by claims (more than 1: resumed after an interruption): {checks['tasks_by_attempts']};"
        f" sweeper runs that queued tasks again: {result['sweeper_runs_that_queued_tasks']}"
    )


if __name__ == "__main__":
    main()
