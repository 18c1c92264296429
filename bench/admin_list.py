"""The admin's task list and index page over 1,000,000 tasks: time and queries per page.

    python bench/admin_list.py [--tasks 1000000] [--repeats 7]

A fresh PostgreSQL database (BENCH_POSTGRES_URL's server, named with
BENCH_DATABASE_PREFIX; or DATABASE_URL when set) gets 200 organizations, 1,000
members and the tasks, written straight into the tables with INSERT ... SELECT
(one task every 30 seconds over the last year, most completed, some failed,
cancelled, running or pending, a few exports and dry runs), then VACUUM ANALYZE,
as autovacuum would leave it. Each page is then fetched with Django's test
client, logged in as a superuser, in this process with the production settings:
one request to warm up, then ``--repeats`` timed ones. Reported per page: the
median time of the whole request, the median time its queries took, and the
number of queries. Results go to bench/results/admin_list.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_env, fresh_postgres_database, machine, manage, median, save

ORGANIZATIONS = 200
MEMBERS = 1_000
SUPERUSER_EMAIL = "bench-admin@bench.example"


def seed(tasks: int) -> None:
    """Organizations, members and ``tasks`` tasks, written by the database itself."""
    from django.db import connection

    from users.models import User

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO users_organization (id, slug, name, created_at) "
            "SELECT '6b' || lpad(to_hex(n), 22, '0'), 'org-' || n, "
            "'Organization number ' || n || ' International Holdings', now() "
            "FROM generate_series(0, %s) AS n",
            [ORGANIZATIONS - 1],
        )
        cursor.execute(
            "INSERT INTO users_user (id, password, is_superuser, email, first_name, last_name, "
            "picture, is_active, is_staff, date_joined, updated_at) "
            "SELECT '6d' || lpad(to_hex(n), 22, '0'), '!', false, "
            "'member-' || n || '@organization-' || (n %% %s) || '.example', '', '', '', true, "
            "false, now(), now() FROM generate_series(0, %s) AS n",
            [ORGANIZATIONS, MEMBERS - 1],
        )
        # Ids are ObjectIds whose first 4 bytes are the creation time, as the
        # application mints them, so the newest tasks have the greatest ids.
        cursor.execute(
            """
            INSERT INTO bulktasks_bulktask (
                id, organization_id, created_by_id, status, action, override, dry_run,
                file_original_name, file_mimetype, file_size, file_bucket, file_key,
                file_location, file_region, file_checksum, rows_key, result_format, result_key,
                num_items, num_inserts, num_updates, num_skips, num_errors, error,
                scanned_at, lease_owner, attempts, requeues, started_at, finished_at,
                cancelled_at, created_at, updated_at
            )
            SELECT
                lpad(to_hex(extract(epoch FROM t.created)::bigint), 8, '0')
                    || lpad(to_hex(t.n), 16, '0'),
                '6b' || lpad(to_hex(t.n %% %(organizations)s), 22, '0'),
                '6d' || lpad(to_hex(t.n %% %(members)s), 22, '0'),
                t.status, t.action, false, t.n %% 50 = 0,
                CASE WHEN t.action = 'users.export' THEN ''
                     ELSE 'roster-' || t.n || '.csv' END,
                'text/csv', 1000, '', '', '', '', '', '',
                CASE WHEN t.action = 'users.export' THEN 'csv' ELSE '' END, '',
                CASE WHEN t.status = 'pending' THEN 0 ELSE 100 + t.n %% 5000 END,
                CASE WHEN t.status = 'pending' THEN 0
                     WHEN t.status = 'inProgress' THEN (100 + t.n %% 5000) / 2
                     ELSE 100 + t.n %% 5000 - t.n %% 7 - t.n %% 3 END,
                0,
                CASE WHEN t.status = 'pending' THEN 0 ELSE t.n %% 3 END,
                CASE WHEN t.status = 'pending' THEN 0 ELSE t.n %% 7 END,
                '',
                CASE WHEN t.status = 'pending' THEN NULL ELSE t.created + interval '1 second' END,
                '', 1, 0,
                CASE WHEN t.status = 'pending' THEN NULL ELSE t.created + interval '1 second' END,
                CASE WHEN t.status IN ('completed', 'failed')
                     THEN t.created + interval '60 seconds' END,
                CASE WHEN t.status = 'failed' AND t.n %% 4 = 0
                     THEN t.created + interval '30 seconds' END,
                t.created, t.created
            FROM (
                SELECT
                    n,
                    now() - (%(tasks)s - n) * interval '30 seconds' AS created,
                    CASE WHEN n %% 100 < 88 THEN 'completed'
                         WHEN n %% 100 < 96 THEN 'failed'
                         WHEN n %% 100 < 98 THEN 'inProgress'
                         ELSE 'pending' END AS status,
                    CASE WHEN n %% 20 = 1 THEN 'users.export'
                         WHEN n %% 20 = 2 THEN 'users.deactivate'
                         ELSE 'users.import' END AS action
                FROM generate_series(1, %(tasks)s) AS n
            ) AS t
            """,
            {"organizations": ORGANIZATIONS, "members": MEMBERS, "tasks": tasks},
        )
        cursor.execute("VACUUM ANALYZE")
    User.objects.create_superuser(email=SUPERUSER_EMAIL, password=None)


def pages(tasks: int) -> dict[str, tuple[str, dict[str, str]]]:
    """The pages timed: what staff open most, each filter, and a search."""
    from django.utils import timezone

    from bulktasks.models import BulkTask

    newest = BulkTask.objects.order_by("-id").values_list("pk", flat=True)[tasks // 2]
    # As the "Created" filter's "Today" link has them: aware midnights.
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    changelist = "/admin/bulktasks/bulktask/"
    return {
        "first page": (changelist, {}),
        "page 50": (changelist, {"p": "50"}),
        "status failed": (changelist, {"status__exact": "failed"}),
        "failed imports, page 2": (
            changelist,
            {"status__exact": "failed", "action": "users.import", "p": "2"},
        ),
        "organization": (changelist, {"organization__id__exact": "6b" + "0" * 21 + "7"}),
        "created today": (
            changelist,
            {"created_at__gte": str(today), "created_at__lt": str(today + dt.timedelta(days=1))},
        ),
        "search by id": (changelist, {"q": newest}),
        "search by file name": (changelist, {"q": f"roster-{tasks // 2}.csv"}),
        "admin index (dashboard)": ("/admin/", {}),
    }


def measure(repeats: int, tasks: int) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from users.models import User

    client = Client()
    client.force_login(User.objects.get(email=SUPERUSER_EMAIL))
    results: dict[str, Any] = {}
    for name, (path, params) in pages(tasks).items():
        assert client.get(path, params).status_code == 200, name  # warm-up
        seconds: list[float] = []
        database: list[float] = []
        counts: list[int] = []
        for _ in range(repeats):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(path, params)
                seconds.append(time.perf_counter() - started)
            assert response.status_code == 200, (name, response.status_code)
            database.append(sum(float(query["time"]) for query in queries.captured_queries))
            counts.append(len(queries.captured_queries))
        slowest = max(queries.captured_queries, key=lambda query: float(query["time"]))
        results[name] = {
            "median_ms": round(median(seconds) * 1000, 1),
            "median_queries_ms": round(median(database) * 1000, 1),
            "queries": max(counts),
            "slowest_query_ms": round(float(slowest["time"]) * 1000, 1),
            "slowest_query": slowest["sql"][:300],
            "runs_ms": [round(value * 1000, 1) for value in seconds],
        }
        print(
            f"{name:>26}: {results[name]['median_ms']:>7} ms "
            f"(queries {results[name]['median_queries_ms']} ms), {max(counts)} queries",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    database = os.environ.get("DATABASE_URL") or fresh_postgres_database("bench_admin_list")
    env = django_env(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DATABASE_URL=database,
        MEDIA_ROOT=tempfile.mkdtemp(prefix="bench-admin-media-"),
        ALLOWED_HOSTS="testserver",
    )
    manage("migrate", "--noinput", env=env)
    os.environ.update(env)

    import django

    django.setup()
    from bulktasks.models import BulkTask

    if not BulkTask.objects.exists():
        started = time.perf_counter()
        seed(args.tasks)
        print(f"seeded {args.tasks:,} tasks in {time.perf_counter() - started:.0f} s", flush=True)
    results = measure(args.repeats, args.tasks)
    path = save(
        "admin_list",
        {
            "machine": machine(),
            "database": "postgresql",
            "tasks": args.tasks,
            "repeats": args.repeats,
            "pages": results,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
