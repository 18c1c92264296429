"""users.import against COPY-only of the same rows, side by side, on PostgreSQL.

    python bench/copy_ratio.py [--runs 3] [--lines 100000] [--million]

For each size, each run imports the file into a fresh database with the import
command, then COPYs the same rows into another fresh database with
bench/copy_only.py, one right after the other, so that both meet the same
machine. Reported: the median of the runs, for each side, and their ratio
("import / COPY-only"); and the import's peak RSS.

Both figures are in-process: the import's is its processing time (the scan, and
every chunk: read, validate, look up, write, report, checkpoint), as the
command prints it; COPY-only's excludes even reading the CSV. So the ratio is
the share of the database's own write speed that the whole import reaches.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, machine, median, save
from bench.imports import prepare, timed, write_csv

_TIME = re.compile(r"^Time:\s+([0-9.]+) s", re.M)


def import_once(csv: Path, lines: int) -> dict[str, Any]:
    env = prepare("postgresql", "bench_ratio_import")
    command = [
        PYTHON, "manage.py", "bulk_import", str(csv), "--organization", "bench",
        "--action", "users.import",
    ]  # fmt: skip
    _, rss, out = timed(command, env)
    match = _TIME.search(out)
    if match is None or f"Inserted: {lines}" not in out:
        raise RuntimeError(f"unexpected import output:\n{out}")
    seconds = float(match.group(1))
    return {"seconds": seconds, "lines_per_second": lines / seconds, "peak_rss_mib": rss}


def copy_once(csv: Path) -> dict[str, Any]:
    env = prepare("postgresql", "bench_ratio_copy")
    _, _, out = timed([PYTHON, "bench/copy_only.py", str(csv)], env)
    return json.loads(out.strip().splitlines()[-1])


def side_by_side(csv: Path, lines: int, runs: int) -> dict[str, Any]:
    rounds = []
    for number in range(runs):
        # Alternate which side goes first, so that neither always meets a warmer machine.
        if number % 2:
            copy = copy_once(csv)
            ours = import_once(csv, lines)
        else:
            ours = import_once(csv, lines)
            copy = copy_once(csv)
        rounds.append(
            {
                "import_lines_per_second": ours["lines_per_second"],
                "copy_lines_per_second": copy["lines_per_second"],
                "ratio": ours["lines_per_second"] / copy["lines_per_second"],
                "import_peak_rss_mib": ours["peak_rss_mib"],
            }
        )
        print(
            f"{lines:>9,} lines, run {number + 1}: import {ours['lines_per_second']:8,.0f} lines/s, "
            f"COPY-only {copy['lines_per_second']:8,.0f} lines/s, "
            f"ratio {rounds[-1]['ratio']:.2f}, peak RSS {ours['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
    summary = {
        "import_lines_per_second": median([r["import_lines_per_second"] for r in rounds]),
        "copy_lines_per_second": median([r["copy_lines_per_second"] for r in rounds]),
        "ratio": median([r["ratio"] for r in rounds]),
        "import_peak_rss_mib": max(r["import_peak_rss_mib"] for r in rounds),
    }
    print(
        f"{lines:>9,} lines, median of {runs}: import / COPY-only = {summary['ratio']:.2f} "
        f"({summary['import_lines_per_second']:,.0f} / {summary['copy_lines_per_second']:,.0f} lines/s)",
        flush=True,
    )
    return {"lines": lines, "runs": rounds, **summary}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--million", action="store_true", help="also 1,000,000 lines")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ratio-"))
    sizes = [args.lines, *([1_000_000] if args.million else [])]
    results = []
    for lines in sizes:
        csv = workdir / f"people-{lines}.csv"
        write_csv(csv, lines)
        results.append(side_by_side(csv, lines, args.runs))
        csv.unlink()
    command = f"python bench/copy_ratio.py --runs {args.runs} --lines {args.lines}" + (
        " --million" if args.million else ""
    )
    payload = {"command": command, "machine": machine(), "sizes": results}
    print(f"saved {save('copy_ratio', payload)}")


if __name__ == "__main__":
    main()
