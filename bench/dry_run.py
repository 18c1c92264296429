"""A dry run against a real run of the same file: peak RSS and time, side by side, on PostgreSQL.

    python bench/dry_run.py [--runs 3] [--lines 1000000]

Each run imports the file twice with the ``bulk_import`` command, each time
into a fresh database: once with ``--dry-run``, once for real, one right after
the other (alternating which goes first, so that neither always meets a warmer
machine). Each import is a process of its own, so its peak RSS (from wait4) is
its own. Reported: the median of the runs for each side, and the ratios
"dry run / real run" of peak RSS and of time. The two reports must be equal.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, machine, median, save
from bench.imports import prepare, timed, write_csv

_TIME = re.compile(r"^Time:\s+([0-9.]+) s", re.M)
_COUNTS = ("Status", "Items", "Inserted", "Updated", "Skipped", "Errored")


def import_once(csv: Path, *, dry_run: bool) -> dict[str, Any]:
    """Import the file into a fresh database; its wall and in-process seconds, peak RSS, report."""
    env = prepare("postgresql", "bench_dry_run")
    command = [
        PYTHON, "manage.py", "bulk_import", str(csv), "--organization", "bench",
        "--action", "users.import", *(["--dry-run"] if dry_run else []),
    ]  # fmt: skip
    seconds, rss, out = timed(command, env)
    match = _TIME.search(out)
    if match is None:
        raise RuntimeError(f"unexpected import output:\n{out}")
    report = {
        label: re.search(rf"^{label}:\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
        for label in _COUNTS
    }
    return {
        "seconds": seconds,
        "in_process_seconds": float(match.group(1)),
        "peak_rss_mib": rss,
        "report": report,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-dry-run-"))
    csv = workdir / f"people-{args.lines}.csv"
    write_csv(csv, args.lines)
    rounds: list[dict[str, Any]] = []
    for number in range(args.runs):
        order = (True, False) if number % 2 == 0 else (False, True)
        sides = {dry: import_once(csv, dry_run=dry) for dry in order}
        dry, real = sides[True], sides[False]
        if dry["report"] != real["report"]:
            raise RuntimeError(f"the reports differ: dry {dry['report']}, real {real['report']}")
        rounds.append(
            {
                "dry_run": dry,
                "real_run": real,
                "rss_ratio": dry["peak_rss_mib"] / real["peak_rss_mib"],
                "time_ratio": dry["in_process_seconds"] / real["in_process_seconds"],
            }
        )
        print(
            f"{args.lines:,} lines, run {number + 1}: dry run {dry['in_process_seconds']:.1f} s, "
            f"{dry['peak_rss_mib']:.0f} MiB; real run {real['in_process_seconds']:.1f} s, "
            f"{real['peak_rss_mib']:.0f} MiB; report {real['report']}",
            flush=True,
        )
    csv.unlink()

    def side(name: str) -> dict[str, float]:
        return {
            key: median([r[name][key] for r in rounds])
            for key in ("seconds", "in_process_seconds", "peak_rss_mib")
        }

    summary: dict[str, Any] = {
        "dry_run": side("dry_run"),
        "real_run": side("real_run"),
        "rss_ratio": median([r["rss_ratio"] for r in rounds]),
        "time_ratio": median([r["time_ratio"] for r in rounds]),
    }
    print(
        f"median of {args.runs}: peak RSS dry/real = {summary['rss_ratio']:.3f} "
        f"({summary['dry_run']['peak_rss_mib']:.0f} / {summary['real_run']['peak_rss_mib']:.0f} MiB), "
        f"time dry/real = {summary['time_ratio']:.2f} "
        f"({summary['dry_run']['in_process_seconds']:.1f} / "
        f"{summary['real_run']['in_process_seconds']:.1f} s)",
        flush=True,
    )
    payload = {
        "command": f"python bench/dry_run.py --runs {args.runs} --lines {args.lines}",
        "machine": machine(),
        "lines": args.lines,
        "runs": rounds,
        **summary,
    }
    print(f"saved {save('dry_run', payload)}")


if __name__ == "__main__":
    main()
