"""Fuzz the API with Schemathesis against a live server: ``python -m fuzz.run`` (``make fuzz``).

Starts gunicorn with the production settings on a free port of 127.0.0.1, on
a throw-away database (a SQLite file, or with ``--postgres .../NAME`` a new
database NAME_fuzz on that server), seeded with the demo data; then runs Schemathesis on every
operation of /v1/schema/ as the demo's reader, who holds every bulk-task
permission, with the checks of fuzz/schemathesis.toml. Exits with
Schemathesis' status: non-zero on any finding. Extra arguments after ``--``
go to ``schemathesis run`` (e.g. ``-- --max-examples 100 --seed 7``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import LIMITS_OUT_OF_REACH  # noqa: E402

CONFIG = ROOT / "fuzz" / "schemathesis.toml"
PYTHON = sys.executable
SCHEMATHESIS = str(Path(PYTHON).parent / "schemathesis")
DEFAULT_SEED = 20240101
SERVER_ERROR = re.compile(r"^\S+ \S+ (ERROR|CRITICAL) |^Traceback ")


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def throwaway_database(postgres: str | None, folder: Path) -> Iterator[str]:
    """A DATABASE_URL of an empty database, removed afterwards."""
    if not postgres:
        yield f"sqlite:///{folder / 'fuzz.sqlite3'}"
        return
    import psycopg

    # Like pytest's test_<name>: a database of its own beside the one named.
    server, named = postgres.replace("postgres://", "postgresql://", 1).rsplit("/", 1)
    name = f"{named or 'postgres'}_fuzz"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}".replace("postgresql://", "postgres://", 1)
    finally:
        try:
            with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.OperationalError as exc:
            # The next run drops it first; the run's own result matters more.
            print(f"could not drop the database {name}: {exc}", file=sys.stderr)


def server_env(database_url: str, folder: Path) -> dict[str, str]:
    """The production settings, made safe to run on this machine with throw-away state."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CELERY_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "DATABASE_URL": database_url,
            "MEDIA_ROOT": str(folder / "media"),
            # Uploads are queued in a folder nobody consumes: tasks stay pending.
            "CELERY_BROKER_FOLDER": str(folder / "broker"),
            "JWT_ACCESS_TOKEN_LIFETIME": "7200",
            # Webhook URLs are refused unless their host is this reserved name, before
            # any DNS lookup: the fuzzer's random hosts are never resolved nor called
            # (and no worker consumes the queue, so nothing is ever delivered).
            "WEBHOOK_ALLOWED_HOSTS": "webhooks.fuzz.invalid",
            "LOG_LEVEL": "WARNING",
        }
    )
    # Limits stay on, too high to trip: a fuzzer answered 429 would leave the
    # logic behind it untested (429 itself has its own tests).
    env.update(LIMITS_OUT_OF_REACH)
    return env


def manage(*args: str, env: dict[str, str]) -> str:
    """Run a management command; its standard output."""
    result = subprocess.run(  # noqa: S603 - our interpreter, our arguments
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def wait_until_serving(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Return once the URL answers 200; exit if the server dies or takes over a minute."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our loopback URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    sys.exit(f"the server did not answer {url} within a minute:\n{log.read_text()[-3000:]}")


def main() -> int:
    """Run the fuzzing session; Schemathesis' exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="postgres://user@host:5432/NAME: fuzz on a new database NAME_fuzz on that server",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--port", type=int, default=0, help="serve on this port (default: any free one)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=int(os.environ.get("FUZZ_SEED", DEFAULT_SEED)),
        help="Hypothesis seed; fixed by default so CI is repeatable (env FUZZ_SEED)",
    )
    parser.add_argument("schemathesis_args", nargs="*", help="passed to schemathesis run")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bulktasks-fuzz-"))
    try:
        with throwaway_database(args.postgres, folder) as database_url:
            return fuzz(database_url, folder, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fuzz(database_url: str, folder: Path, args: argparse.Namespace) -> int:
    """Migrate, seed, serve, and run Schemathesis against the server."""
    env = server_env(database_url, folder)
    manage("migrate", "--noinput", env=env)
    demo = json.loads(manage("seed_demo", "--json", "--allow-production", env=env))
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
            [
                PYTHON,
                "-m",
                "gunicorn",
                "config.wsgi",
                f"--workers={args.workers}",
                f"--bind=127.0.0.1:{port}",
                "--timeout=60",
                "--log-level=warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        schema_url = f"{base}/v1/schema/?format=json"
        wait_until_serving(schema_url, server, log)
        print(f"Fuzzing {base} ({'PostgreSQL' if args.postgres else 'SQLite'}), seed {args.seed}")
        command = [
            SCHEMATHESIS,
            "--config-file",
            str(CONFIG),
            "run",
            schema_url,
            "--url",
            base,
            "--seed",
            str(args.seed),
            "--no-color",
            *args.schemathesis_args,
        ]
        result = subprocess.run(  # noqa: S603 - our tool, our arguments
            command,
            cwd=ROOT,
            env={
                **os.environ,
                "FUZZ_TOKEN": demo["tokens"]["reader"],
                # Our own check: each error's code is one its response documents.
                "SCHEMATHESIS_HOOKS": "fuzz.checks",
            },
            check=False,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    # A 5xx is already a finding; this also catches an error the service logged
    # while still answering in time (in the log format of config/settings/base.py).
    logged = [line for line in log.read_text().splitlines() if SERVER_ERROR.search(line)]
    if logged:
        print("The server logged errors:\n" + "\n".join(logged[:50]))
        return result.returncode or 1
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
