"""errors.csv: peak memory and time while streaming it, for 10,000 and 1,000,000 errored lines.

    python bench/errors_csv.py [--sizes 10000 1000000] [--repeats 3]

Each size gets a task whose CSV has that many lines, every one of them errored
(its report lines written straight into PostgreSQL with COPY), then a fresh
process streams the task's errors.csv to nowhere and reports its peak resident
memory (``ru_maxrss``), the part of it the streaming added over the process
after start-up, and the time. Memory must stay flat: the same for a million
lines as for ten thousand. Results go to bench/results/errors_csv.json.

The database is DATABASE_URL when set, else a new one on BENCH_POSTGRES_URL's
server (named with BENCH_DATABASE_PREFIX).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

from bench.common import (
    PYTHON,
    ROOT,
    django_env,
    fresh_postgres_database,
    machine,
    manage,
    median,
    save,
)


def child(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run this script's ``args`` step in a process of its own; its last output line is JSON."""
    result = subprocess.run(  # noqa: S603 - our interpreter, our arguments
        [PYTHON, __file__, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def setup(lines: int) -> dict[str, Any]:
    """A completed users.import task of ``lines`` invalid lines, each in its report."""
    import io

    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.db import connection
    from django.utils import timezone

    from bulktasks.models import BulkTask
    from bulktasks.storage import bulk_task_storage, storage_key_for
    from core.ids import object_id
    from users.models import Organization

    organization, _ = Organization.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    task_id = object_id()
    body = io.StringIO()
    body.write("email,firstName,lastName\n")
    for n in range(lines):
        body.write(f"not-an-email-{n},=First{n},Last {n}\n")
    content = body.getvalue().encode()
    key = bulk_task_storage().save(
        storage_key_for(
            organization_id=organization.pk, bulk_task_id=task_id, original_name="big.csv"
        ),
        ContentFile(content),
    )
    now = timezone.now()
    BulkTask.objects.create(
        id=task_id,
        organization=organization,
        action="users.import",
        status=BulkTask.Status.COMPLETED,
        file_original_name="big.csv",
        file_mimetype="text/csv",
        file_size=len(content),
        file_key=key,
        num_items=lines,
        num_errors=lines,
        scanned_at=now,
        finished_at=now,
    )
    with (
        connection.cursor() as cursor,
        cursor.copy("COPY bulktasks_bulktaskline (task_id, kind, line, reason) FROM STDIN") as copy,
    ):
        for n in range(lines):
            reason = f"email: 'not-an-email-{n}' is not a valid e-mail address"
            copy.write_row((task_id, 2, n + 2, reason))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE bulktasks_bulktaskline")
    return {"task": task_id, "lines": lines, "file_bytes": len(content)}


def measure(task_id: str) -> dict[str, Any]:
    """Stream the task's errors.csv in this fresh process: peak memory and time."""
    import resource
    import time

    import django

    django.setup()
    from bulktasks.errorfile.stream import bulk_task_errors_csv
    from bulktasks.models import BulkTask

    bulk_task = BulkTask.objects.get(pk=task_id)
    # Everything imported and connected: what the process holds before streaming.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    size = rows = 0
    for part in bulk_task_errors_csv(bulk_task=bulk_task):
        size += len(part)
        rows += part.count(b"\r\n")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "rows": rows - 1,
        "bytes": size,
        "seconds": round(seconds, 2),
        "rows_per_second": round((rows - 1) / seconds),
        "peak_rss_mib": round(peak / 1024, 1),
        "rss_added_mib": round((peak - before) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--setup", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup is not None:
        print(json.dumps(setup(args.setup)))
        return
    if args.measure is not None:
        print(json.dumps(measure(args.measure)))
        return

    database = os.environ.get("DATABASE_URL") or fresh_postgres_database("bench_errors_csv")
    with tempfile.TemporaryDirectory(prefix="bench-errors-csv-") as media:
        env = django_env(DATABASE_URL=database, MEDIA_ROOT=media)
        manage("migrate", "--noinput", env=env)
        results: dict[str, Any] = {"machine": machine(), "sizes": {}}
        for size in args.sizes:
            task = child(env, "--setup", str(size))
            runs = [child(env, "--measure", task["task"]) for _ in range(args.repeats)]
            assert all(run["rows"] == size for run in runs), runs
            summary = {
                "file_bytes": task["file_bytes"],
                "runs": runs,
                "median_seconds": median([run["seconds"] for run in runs]),
                "median_peak_rss_mib": median([run["peak_rss_mib"] for run in runs]),
                "median_rss_added_mib": median([run["rss_added_mib"] for run in runs]),
            }
            results["sizes"][str(size)] = summary
            print(size, json.dumps(summary, indent=None))
        sizes = [str(size) for size in args.sizes]
        if len(sizes) >= 2:
            small, large = results["sizes"][sizes[0]], results["sizes"][sizes[-1]]
            results["peak_rss_ratio"] = round(
                large["median_peak_rss_mib"] / small["median_peak_rss_mib"], 2
            )
        print("saved", save("errors_csv", results))


if __name__ == "__main__":
    main()
