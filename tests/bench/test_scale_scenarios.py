"""bench/fairness.py and bench/workers.py at toy size: their client, schedule, figures and CLI.

The scenarios themselves need PostgreSQL, Redis and real workers (``make bench``);
what they are built from is checked here without any of them, in seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.tenants import (
    DEMO_PASSWORD,
    ORGANIZATION_A,
    ORGANIZATION_B,
    Member,
    distribution,
    people_csv,
)
from bench.workers import schedule
from bulktasks import demo
from bulktasks.models import BulkTask

ROOT = Path(__file__).resolve().parents[2]

# Runs a bench script as `make test` installs the project: without the bench
# extra, whose packages are made unimportable here.
WITHOUT_BENCH_EXTRA = (
    "import runpy, sys; "
    "sys.modules.update(aiohttp=None, matplotlib=None, import_export=None); "
    "sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


@pytest.mark.parametrize(
    ("script", "option"), [("bench/fairness.py", "--small"), ("bench/workers.py", "--repeats")]
)
def test_help_works_without_the_bench_extra(script: str, option: str) -> None:
    result = subprocess.run(  # noqa: S603 - our interpreter, our script
        [sys.executable, "-c", WITHOUT_BENCH_EXTRA, script, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "--lines" in result.stdout
    assert option in result.stdout


def test_runs_of_the_two_concurrencies_interleave_in_alternating_order() -> None:
    assert schedule([1, 2], 3) == [1, 2, 2, 1, 1, 2]


def test_percentiles_are_nearest_rank() -> None:
    figures = distribution([float(n) for n in range(10, 0, -1)])

    # Of ten waits, p50 is the fifth shortest and p95 the longest.
    assert figures == {"p50": 5.0, "p95": 10.0, "max": 10.0}


def test_the_scenarios_log_in_as_the_demo_seeds_bulk_operators() -> None:
    assert DEMO_PASSWORD == demo.DEMO_PASSWORD
    assert ORGANIZATION_A == (demo.ORGANIZATION_SLUG, demo.READER_EMAIL)
    assert ORGANIZATION_B == (demo.OTHER_ORGANIZATION_SLUG, demo.OUTSIDER_EMAIL)


@pytest.mark.django_db(transaction=True)
def test_a_member_logs_in_uploads_and_sees_the_task_finish(live_server: Any) -> None:
    demo.demo_seed()
    member = Member(live_server.url, ORGANIZATION_B[0], ORGANIZATION_B[1], DEMO_PASSWORD)
    content = people_csv("toy", 3)

    upload = member.upload("toy.csv", content, 3)
    # No worker runs here: the task waits, and the poll leaves it unfinished.
    assert member.poll([upload]) == []
    BulkTask.objects.filter(pk=upload.task_id).update(status=BulkTask.Status.COMPLETED)
    finished = member.poll([upload])

    task = BulkTask.objects.get(pk=upload.task_id)
    assert task.organization.slug == ORGANIZATION_B[0]
    assert task.file_original_name == "toy.csv"
    assert task.file_size == len(content)
    assert finished == [upload]
    assert upload.status == "completed"
    assert upload.seen_seconds is not None
    assert upload.seen_seconds >= 0


def small(n: int, seen: float) -> dict[str, Any]:
    return {"name": f"b-{n}.csv", "answered_s": n, "seen_seconds": seen}


def big(n: int) -> dict[str, Any]:
    return {
        "name": f"a-{n}.csv",
        "lines": 200_000,
        "answered_s": 0.1 * n,
        "started_s": 0.2 * n,
        "finished_s": 30.0,
        "seen_finished_s": 30.2,
        "recorded_seconds": 29.8,
        "lines_per_second": 6_711,
    }


FAIRNESS: dict[str, Any] = {
    "command": "python bench/fairness.py --lines 200000 --big 2 --small 2",
    "machine": {"date": "2026-01-01 00:00 UTC", "nproc": 2, "memory_gib": 8, "cpu": "x", "python": "3.11"},
    "parameters": {"lines": 200_000, "big": 2, "small": 2, "small_lines": 3, "spacing": 1.5, "delay": 2, "poll": 0.25},
    "worker": {"command": "celery -A config worker", "concurrency": "2 (prefork)"},
    "small": [small(1, 3.0), small(2, 24.0)],
    "big": [big(1), big(2)],
    "small_seen_seconds": {"p50": 3.0, "p95": 24.0, "max": 24.0},
    "small_recorded_seconds": {"p50": 2.9, "p95": 23.9, "max": 23.9},
    "small_within_target": 1,
    "target_seconds": 5.0,
    "big_total_seconds": 30.2,
    "chunks": {"t1": [[0.0, 1.0], [0.5, 2.0]], "t2": [[1.0, 2.0]]},
    "wrong": [],
    "ok": True,
}  # fmt: skip


def run(number: int, concurrency: int, rate: int) -> dict[str, Any]:
    return {
        "run": number,
        "concurrency": concurrency,
        "seconds": 200_000 / rate,
        "lines_per_second": rate,
        "worker_cores": 1.0,
        "database_cores": 0.5,
        "machine_busy": 0.9,
        "chunks": None,
    }


WORKERS: dict[str, Any] = {
    "command": "python bench/workers.py --lines 200000 --repeats 1 --concurrency 1 2",
    "machine": FAIRNESS["machine"],
    "lines": 200_000,
    "repeats": 1,
    "worker": {"command": "celery -A config worker --concurrency=N", "pool": "prefork"},
    "runs": [run(1, 1, 10_000), run(2, 2, 13_000)],
    "summary": {
        "few": 1,
        "many": 2,
        "few_lines_per_second": 10_000,
        "many_lines_per_second": 13_000,
        "speedup": 1.3,
        "target": 1.2,
    },
}


def test_each_figure_shows_its_command_and_the_verdict_against_its_target() -> None:
    fairness = "\n".join(report.fairness_section(FAIRNESS))
    workers = "\n".join(report.workers_section(WORKERS))
    targets = report.scale_target_rows(FAIRNESS, WORKERS)

    assert f"Command: `{FAIRNESS['command']}`" in fairness
    assert "| upload answered to GET completed | 3.00 | 24.00 | 24.00 | 1 of 2 |" in fairness
    # The chunk rows of a chunked pipeline are summarized when there are any.
    assert "Chunks recorded: 3 over 2 tasks" in fairness
    assert f"Command: `{WORKERS['command']}`" in workers
    assert "**x1.30**" in workers
    assert targets[0].endswith("| <= 5 | 24.0 | no |")
    assert targets[1].endswith("| >= 1.2x | 1.30 | yes |")


def test_the_targets_read_not_measured_before_a_run() -> None:
    rows = report.scale_target_rows(None, None)

    assert all(row.endswith("| not measured | - |") for row in rows)
