"""API benchmark: GET bulk-task under gunicorn + PostgreSQL, against a plain Django floor view.

    python bench/api.py [--seconds 10] [--rounds 3] [--connections 8] [--workers 2*nproc+1]
                        [--database bulktasks_bench_api] [--port 8765]

Five endpoints answer the same JSON bytes (bench/floor.py): (a) the API's GET;
(b) the floor, a plain Django view with no auth and no database; the floor plus
one SELECT 1 round trip, the least an endpoint pays that must ask the database
on every request; a plain DRF view behind simplejwt's JWTAuthentication that
answers fixed data; and the same contract written the idiomatic DRF way
(bench/drf_reference.py). The same gunicorn serves them, with production settings and
persistent connections; wrk loads them in turn from a second process, round
after round, so that the noise of this machine falls on all alike.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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

# Several checkouts may bench on one machine: each names its own database and port.
DEFAULT_DATABASE = os.environ.get("BENCH_API_DATABASE", "bulktasks_bench_api")
DEFAULT_PORT = int(os.environ.get("BENCH_API_PORT", "8765"))


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s and latency percentiles (ms) from `wrk --latency`."""

    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    for percent in ("50", "99"):
        match = re.search(rf"^\s+{percent}%\s+(\S+)", output, re.M)
        result[f"p{percent}_ms"] = ms(match.group(1)) if match else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return result


def wrk(url: str, seconds: int, connections: int, token: str | None) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if token:
        command[1:1] = ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    return parse_wrk(output)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    # gunicorn's own sizing advice, (2 x cores) + 1, as docs/production.md runs it:
    # a sync worker waiting on PostgreSQL leaves its core to another.
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk (make bench does it)")

    env = django_env(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=fresh_postgres_database(args.database),
        CONN_MAX_AGE="600",
    )
    manage("migrate", "--noinput", env=env)
    demo = json.loads(manage("seed_demo", "--json", "--allow-production", env=env))
    token = demo["tokens"]["reader"]
    completed = next(task["id"] for task in demo["bulkTasks"] if task["status"] == "completed")
    api_path = f"/v1/organizations/{demo['organization']['slug']}/bulk-tasks/{completed}"
    reference_path = "/bench/drf-reference" + api_path.removeprefix("/v1")
    script = (
        QUERY_COUNT.replace("API_PATH", api_path)
        .replace("REFERENCE_PATH", reference_path)
        .replace("TOKEN", token)
    )
    queries = json.loads(manage("shell", "-c", script, env=env).strip().splitlines()[-1])

    body_file = Path(tempfile.mkdtemp()) / "floor.json"
    env["BENCH_FLOOR_BODY_FILE"] = str(body_file)
    server = subprocess.Popen(  # noqa: S603
        [
            PYTHON,
            "-m",
            "gunicorn",
            "config.wsgi",
            f"--workers={args.workers}",
            f"--bind=127.0.0.1:{args.port}",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        body = _wait_for_body(base + api_path, token)
        body_file.write_bytes(body)
        endpoints = {
            "floor": (base + "/bench/floor", None),
            "select": (base + "/bench/floor-select", None),
            "drf": (base + "/bench/drf", token),
            "reference": (base + reference_path, token),
            "api": (base + api_path, token),
        }
        for url, bearer in endpoints.values():
            assert _get(url, bearer) == body, f"{url} must serve the same bytes"
            wrk(url, 2, args.connections, bearer)  # warm up every worker on each
        rounds = []
        for _ in range(args.rounds):
            round_: dict[str, Any] = {
                name: wrk(url, args.seconds, args.connections, bearer)
                for name, (url, bearer) in endpoints.items()
            }
            round_["ratio"] = round_["api"]["rps"] / round_["floor"]["rps"]
            round_["drf_ratio"] = round_["drf"]["rps"] / round_["floor"]["rps"]
            round_["select_ratio"] = round_["select"]["rps"] / round_["floor"]["rps"]
            round_["reference_ratio"] = round_["reference"]["rps"] / round_["floor"]["rps"]
            # The two targets: against the floor plus SELECT 1, and
            # against the idiomatic DRF implementation of the same contract.
            round_["api_over_select"] = round_["api"]["rps"] / round_["select"]["rps"]
            round_["api_over_reference"] = round_["api"]["rps"] / round_["reference"]["rps"]
            rounds.append(round_)
            print(
                "   ".join(f"{name} {round_[name]['rps']:6.0f} rps" for name in endpoints)
                + f"   api/select {round_['api_over_select']:.2f}"
                + f"   api/reference {round_['api_over_reference']:.1f}"
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    summary = {
        f"{name}_{figure}": median([r[name][figure] for r in rounds])
        for name in endpoints
        for figure in ("rps", "p50_ms", "p99_ms")
    }
    summary |= {
        "ratio": median([r["ratio"] for r in rounds]),
        "drf_ratio": median([r["drf_ratio"] for r in rounds]),
        "select_ratio": median([r["select_ratio"] for r in rounds]),
        "reference_ratio": median([r["reference_ratio"] for r in rounds]),
        "api_over_select": median([r["api_over_select"] for r in rounds]),
        "api_over_reference": median([r["api_over_reference"] for r in rounds]),
        "api_non_2xx": sum(r["api"]["non_2xx"] for r in rounds),
        "queries_per_get": queries["queries"],
        "reference_queries_per_get": queries["reference_queries"],
        "body_bytes": len(body),
    }
    # Where it ran (database, port) is the machine's business, not the figure's.
    command = "python bench/api.py " + " ".join(
        f"--{k} {v}" for k, v in vars(args).items() if k not in ("database", "port")
    )
    path = save(
        "api",
        {
            "command": command,
            "machine": machine(),
            "params": vars(args),
            "rounds": rounds,
            "summary": summary,
        },
    )
    print(json.dumps(summary, indent=2))
    print(f"saved {path}")


QUERY_COUNT = """
import json
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
client = Client(HTTP_AUTHORIZATION="Bearer TOKEN", HTTP_HOST="127.0.0.1")
counts = []
for path in ("API_PATH", "REFERENCE_PATH"):
    client.get(path)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.content
    counts.append(len(captured.captured_queries))
print(json.dumps({"queries": counts[0], "reference_queries": counts[1]}))
"""


def _get(url: str, token: str | None) -> bytes:
    request = urllib.request.Request(url)  # noqa: S310 - loopback only
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return response.read()


def _wait_for_body(url: str, token: str) -> bytes:
    deadline = time.monotonic() + 30
    while True:
        try:
            return _get(url, token)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    main()
