"""Export benchmark: users.export of 100,000 and 1,000,000 members, time and peak RSS per format.

    python bench/export.py [--members 100000] [--million] [--formats csv,jsonl,xlsx]

Members are written straight into a fresh PostgreSQL database (each with a
role, a profile and a joining date), then ``manage.py bulk_export`` runs the
export in its own process: the same pipeline as a worker (snapshot, a part per
chunk of BULK_TASK_CHUNK_SIZE members, the join), so its peak RSS, read from
wait4 and sampled twice a second, is the export's own. Flat memory means the
same peak at 100,000 and at 1,000,000 members.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, django_env, fresh_postgres_database, machine, manage, save
from bench.imports import timed

ORGANIZATION_ID = "6b0000000000000000000001"
ROLES = ("Admins", "Editors", "Viewers")


def prepare() -> dict[str, str]:
    env = django_env(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DATABASE_URL=fresh_postgres_database("bench_export"),
        MEDIA_ROOT=tempfile.mkdtemp(prefix="bench-media-"),
    )
    manage("migrate", "--noinput", env=env)
    with _connect(env) as connection:
        connection.execute(
            "INSERT INTO users_organization (id, slug, name, created_at) "
            "VALUES (%s, 'bench', 'Bench', now())",
            [ORGANIZATION_ID],
        )
        for n, name in enumerate(ROLES):
            connection.execute(
                "INSERT INTO users_role (id, organization_id, name, permissions) "
                "VALUES (%s, %s, %s, '[]')",
                [f"6c{n:022x}", ORGANIZATION_ID, name],
            )
    return env


def grow(env: dict[str, str], start: int, stop: int) -> None:
    """Members start..stop-1: an account, an active membership with a profile, one role."""
    with _connect(env) as connection:
        connection.execute(
            "INSERT INTO users_user (id, password, is_superuser, email, first_name, last_name, "
            "picture, is_active, is_staff, date_joined, updated_at) "
            "SELECT '6d' || lpad(to_hex(n), 22, '0'), '!', false, 'person' || n || '@bench.example', "
            "'', '', '', true, false, now(), now() FROM generate_series(%s::int, %s::int) AS n",
            [start, stop - 1],
        )
        connection.execute(
            "INSERT INTO users_membership (id, user_id, organization_id, is_active, "
            "pending_approval, first_name, last_name, picture, created_at, last_import_task_id) "
            "SELECT '6e' || lpad(to_hex(n), 22, '0'), '6d' || lpad(to_hex(n), 22, '0'), %s, true, "
            "false, 'First' || n, 'Last' || n, 'https://img.example.com/' || n || '.png', "
            "timestamp '2026-01-01' + n * interval '1 second', '' "
            "FROM generate_series(%s::int, %s::int) AS n",
            [ORGANIZATION_ID, start, stop - 1],
        )
        connection.execute(
            "INSERT INTO users_membership_roles (membership_id, role_id) "
            "SELECT '6e' || lpad(to_hex(n), 22, '0'), '6c' || lpad(to_hex(n %% 3), 22, '0') "
            "FROM generate_series(%s::int, %s::int) AS n",
            [start, stop - 1],
        )
        connection.execute("ANALYZE")


def export(env: dict[str, str], result_format: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        output = Path(folder) / f"members.{result_format}"
        samples: list[tuple[float, float]] = []
        seconds, rss, out = timed(
            [
                PYTHON,
                "manage.py",
                "bulk_export",
                "--organization",
                "bench",
                "--format",
                result_format,
                "--output",
                str(output),
            ],
            env,
            samples,
        )
        size = output.stat().st_size
    rows = int(next(line for line in out.splitlines() if line.startswith("Rows:")).split()[1])
    return {
        "format": result_format,
        "rows": rows,
        "seconds": round(seconds, 1),
        "rows_per_second": round(rows / seconds),
        "peak_rss_mib": round(rss, 1),
        "file_mib": round(size / 1024 / 1024, 1),
        "rss_samples": samples,
    }


def _connect(env: dict[str, str]) -> Any:
    import psycopg

    url = env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    return psycopg.connect(url, autocommit=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--million", action="store_true", help="then 1,000,000 members too")
    parser.add_argument("--formats", default="csv,jsonl,xlsx")
    args = parser.parse_args()
    formats = args.formats.split(",")

    env = prepare()
    runs = []
    grown = 0
    for members in [args.members, *([1_000_000] if args.million else [])]:
        grow(env, grown, members)
        grown = members
        for result_format in formats:
            run = export(env, result_format)
            assert run["rows"] == members, run
            print(
                f"{members:>9,} members {result_format:>5}: {run['seconds']:>6} s, "
                f"{run['rows_per_second']:>7,} rows/s, peak RSS {run['peak_rss_mib']} MiB, "
                f"file {run['file_mib']} MiB",
                flush=True,
            )
            runs.append({"members": members, **run})
    path = save(
        "export",
        {"machine": machine(), "chunk_size": 5000, "database": "postgresql", "runs": runs},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
