"""Shared helpers: the machine, a throw-away PostgreSQL database, subprocess environments."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


# Every rate limit (config/settings/base.py) on, at a rate no load here reaches.
LIMITS_OUT_OF_REACH = {
    f"THROTTLE_{limit}": "1000000000/min"
    for limit in (
        "READS_USER", "READS_ORGANIZATION", "UPLOADS_USER", "UPLOADS_ORGANIZATION",
        "TOKEN_IP", "LOGIN_FAILURES_EMAIL_IP", "LOGIN_FAILURES_EMAIL",
    )
}  # fmt: skip


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    memory_kib = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    cpu = platform.processor() or ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
    }


def fresh_postgres_database(name: str, admin_url: str | None = None) -> str:
    """Drop and create a database; return its DATABASE_URL.

    BENCH_DATABASE_PREFIX is put before the name, for a server shared with
    other databases that must be left alone.
    """
    import psycopg

    name = os.environ.get("BENCH_DATABASE_PREFIX", "") + name
    admin_url = admin_url or POSTGRES_ADMIN_URL
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgres://", 1)
    return f"{base}/{name}"


def django_env(**overrides: str) -> dict[str, str]:
    """An environment for manage.py, gunicorn or a worker, with a real secret."""
    env = dict(os.environ)
    env.update(
        {
            "SECRET_KEY": secrets.token_urlsafe(64),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            "JWT_ACCESS_TOKEN_LIFETIME": "7200",
        }
    )
    # The rate limits stay on, so that their cost is measured, but never trip:
    # the benchmarks and the soak load the service as many clients would.
    env.update(LIMITS_OUT_OF_REACH)
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str]) -> str:
    """Run a management command and return its standard output."""
    result = subprocess.run(  # noqa: S603 - our interpreter, our arguments
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def save(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


# The scale issue's targets, shared by the scenarios that measure them and the report.
# A small task completes within this many seconds of its upload, beside big imports.
SMALL_TASK_TARGET_SECONDS = 5.0
# Two worker processes import one file at least this much faster than one.
WORKERS_SPEEDUP_TARGET = 1.2
