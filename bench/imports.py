"""Import benchmark: users.import against django-import-export, lines/s and peak worker RSS.

    python bench/imports.py [--lines 100000] [--million]

With --million, 1,000,000 new people on PostgreSQL too, with the RSS of the
importing process sampled twice a second to show that memory stays flat.

Each run is a separate process (the import command runs the same pipeline as a
worker), so its peak RSS is its own. PostgreSQL and SQLite, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, django_env, fresh_postgres_database, machine, manage, save


def write_csv(path: Path, lines: int, *, first_name: str = "First") -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,firstName,lastName\n")
        for n in range(lines):
            handle.write(f"person{n}@bench.example,{first_name}{n},Last{n}\n")


def rss_mib(pid: int) -> float | None:
    """A live process's resident set size, in MiB (None once it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def timed(
    command: list[str], env: dict[str, str], samples: list[tuple[float, float]] | None = None
) -> tuple[float, float, str]:
    """Run a process; return (seconds, its own peak RSS in MiB from wait4, its stdout).

    With ``samples``, its RSS is also read twice a second, as (seconds, MiB) pairs.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)  # noqa: S603
        while True:
            # wait4 reaps the process and gives its own peak RSS; WNOHANG lets us sample meanwhile.
            pid, status, usage = os.wait4(process.pid, 0 if samples is None else os.WNOHANG)
            if pid:
                break
            rss = rss_mib(process.pid)
            if rss is not None and samples is not None:
                samples.append((round(time.monotonic() - started, 2), round(rss, 1)))
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode:
            raise RuntimeError(f"{' '.join(command)} failed:\n{err.read().decode()[-3000:]}")
        return elapsed, usage.ru_maxrss / 1024, out.read().decode()


def database(engine: str, name: str) -> str:
    if engine == "postgresql":
        return fresh_postgres_database(name)
    path = ROOT / "var" / f"{name}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def prepare(engine: str, name: str) -> dict[str, str]:
    env = django_env(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DATABASE_URL=database(engine, name),
        MEDIA_ROOT=tempfile.mkdtemp(prefix="bench-media-"),
    )
    manage("migrate", "--noinput", env=env)
    manage(
        "shell",
        "-c",
        "from users.services import organization_create as c; c(slug='bench', name='Bench')",
        env=env,
    )
    return env


def ours(
    csv: Path,
    env: dict[str, str],
    *,
    override: bool = False,
    samples: list[tuple[float, float]] | None = None,
) -> dict[str, Any]:
    command = [
        PYTHON,
        "manage.py",
        "bulk_import",
        str(csv),
        "--organization",
        "bench",
        "--action",
        "users.import",
    ]
    if override:
        command.append("--override")
    seconds, rss, out = timed(command, env, samples)
    counts = {
        line.split(":")[0].strip(): line.split(":", 1)[1].strip()
        for line in out.splitlines()
        if ":" in line and not line.startswith(" ")
    }
    return {
        "seconds": seconds,
        "peak_rss_mib": rss,
        "inserted": int(counts["Inserted"]),
        "updated": int(counts["Updated"]),
        "errored": int(counts["Errored"]),
        "status": counts["Status"],
    }


def reference(csv: Path, env: dict[str, str]) -> dict[str, float]:
    seconds, rss, out = timed(
        [PYTHON, "bench/import_export_reference.py", str(csv), "--organization", "bench"], env
    )
    result = json.loads(out.strip().splitlines()[-1])
    return {
        "seconds": seconds,
        "peak_rss_mib": rss,
        "inserted": result["members"],
        "in_process_seconds": result["seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--million", action="store_true", help="also 1,000,000 lines (ours only)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    csv = workdir / "people.csv"
    write_csv(csv, args.lines)
    renamed = workdir / "people-renamed.csv"
    write_csv(renamed, args.lines, first_name="Renamed")
    results: dict[str, dict] = {}
    _, _, out = timed([PYTHON, "bench/parse_only.py", str(csv)], django_env())
    results["parse_and_validate_only"] = json.loads(out.strip().splitlines()[-1])
    print(
        f"read + validate only: {results['parse_and_validate_only']['lines_per_second']:,.0f} lines/s"
    )
    env = prepare("postgresql", "bulktasks_bench_copy")
    _, _, out = timed([PYTHON, "bench/copy_only.py", str(csv)], env)
    results["copy_only_postgresql"] = json.loads(out.strip().splitlines()[-1])
    print(
        f"COPY only, PostgreSQL: {results['copy_only_postgresql']['lines_per_second']:,.0f} lines/s"
    )
    for engine in ("postgresql", "sqlite"):
        env = prepare(engine, "bulktasks_bench_import")
        results[f"ours_{engine}_new"] = ours(csv, env)
        results[f"ours_{engine}_override"] = ours(renamed, env, override=True)
        env = prepare(engine, "bulktasks_bench_reference")
        results[f"reference_{engine}_new"] = reference(csv, env)
        for key in (f"ours_{engine}_new", f"ours_{engine}_override", f"reference_{engine}_new"):
            row = results[key]
            row["lines_per_second"] = args.lines / row["seconds"]
            print(
                f"{key:32s} {row['seconds']:8.2f} s {row['lines_per_second']:10.0f} lines/s  peak RSS {row['peak_rss_mib']:6.1f} MiB"
            )
        results[f"ratio_{engine}"] = {
            "ours_over_reference": results[f"reference_{engine}_new"]["seconds"]
            / results[f"ours_{engine}_new"]["seconds"]
        }
        print(f"ratio {engine}: {results[f'ratio_{engine}']['ours_over_reference']:.1f}x faster")
    if args.million:
        big = workdir / "people-1m.csv"
        write_csv(big, 1_000_000)
        env = prepare("postgresql", "bulktasks_bench_import")
        samples: list[tuple[float, float]] = []
        row = ours(big, env, samples=samples)
        row["lines_per_second"] = 1_000_000 / row["seconds"]
        row["rss_samples"] = samples
        results["ours_postgresql_new_1m"] = row
        print(
            f"1M postgresql: {row['seconds']:.1f} s, {row['lines_per_second']:.0f} lines/s, peak RSS {row['peak_rss_mib']:.1f} MiB"
        )
    command = f"python bench/imports.py --lines {args.lines}" + (
        " --million" if args.million else ""
    )
    print(
        f"saved {save('imports', {'command': command, 'machine': machine(), 'lines': args.lines, 'results': results})}"
    )


if __name__ == "__main__":
    main()
