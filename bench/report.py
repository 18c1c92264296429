"""Write the measured figures into docs/benchmarks.md, with the plots, from bench/results/.

    python bench/report.py

Only the part between the ``figures`` markers is generated; the text around it
(what was changed, and why) is written by hand.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, ROOT, SMALL_TASK_TARGET_SECONDS, WORKERS_SPEEDUP_TARGET

DOC = ROOT / "docs" / "benchmarks.md"
IMAGES = ROOT / "docs" / "img"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"

# The targets: (label, how to read the measured value, target, met when).
# GET: against the floor plus one SELECT 1, and against the idiomatic DRF reference.
API_OVER_SELECT_TARGET = 0.5
API_OVER_REFERENCE_TARGET = 4.0
QUERIES_TARGET = 1
IMPORT_RATE_TARGET = 10_000
IMPORT_SPEEDUP_TARGET = 10.0
RSS_TARGET_MIB = 200
COPY_RATIO_TARGET = 0.5
RATIO_RSS_TARGET_MIB = 150


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def machine_line(result: dict[str, Any]) -> str:
    m = result["machine"]
    return f"{m['date']}; `nproc` {m['nproc']}, {m['memory_gib']} GiB, {m['cpu']}, Python {m['python']}"


def api_section(api: dict[str, Any]) -> list[str]:
    s = api["summary"]
    endpoints = [
        ("floor", "(b) floor: plain Django view, same bytes"),
        ("select", "floor + one `SELECT 1` round trip (no auth)"),
        ("drf", "plain DRF view + simplejwt's `JWTAuthentication`, fixed data (1 query)"),
        (
            "reference",
            "idiomatic DRF implementation of the GET (bench/drf_reference.py, "
            f"{s.get('reference_queries_per_get', '?')} queries)",
        ),
        ("api", f"(a) API, authenticated, {s['body_bytes']}-byte body"),
    ]
    rows = [
        "### API: `GET /v1/organizations/{slug}/bulk-tasks/{id}` against the floor",
        "",
        f"Command: `{api['command']}`  ",
        f"Measured: {machine_line(api)}",
        "",
        "All five answer the same JSON bytes from the same gunicorn (bench/floor.py, "
        "bench/drf_reference.py).",
        "",
        "| Endpoint | requests/s (median) | p50 ms | p99 ms | ratio to the floor |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in endpoints:
        if f"{name}_rps" not in s:
            continue
        ratio = s["ratio"] if name == "api" else s.get(f"{name}_ratio", 1.0)
        rows.append(
            f"| {label} | {s[f'{name}_rps']:,.0f} | {s[f'{name}_p50_ms']:.2f} "
            f"| {s[f'{name}_p99_ms']:.2f} | {ratio:.2f} |"
        )
    rows.append("")
    if "api_over_select" in s:
        rows.append(
            f"API against the floor plus `SELECT 1`: **{s['api_over_select']:.2f}**; "
            f"against the idiomatic DRF implementation: **{s['api_over_reference']:.1f}x** "
            "(medians of the rounds' ratios)."
        )
    rows += [
        f"Ratio a/b: **{s['ratio']:.2f}**; SQL queries per GET: **{s['queries_per_get']}**; "
        f"non-2xx answers: {s['api_non_2xx']:.0f}.",
        "",
        "| Round | floor rps | floor + SELECT 1 rps | DRF fixed data rps | DRF reference rps "
        "| API rps | API / (floor + SELECT 1) | API / DRF reference |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for number, round_ in enumerate(api["rounds"], start=1):
        figures = [
            f"{round_[name]['rps']:,.0f}" if name in round_ else "-"
            for name in ("floor", "select", "drf", "reference", "api")
        ]
        over_select = round_.get("api_over_select")
        over_reference = round_.get("api_over_reference")
        figures.append("-" if over_select is None else f"{over_select:.2f}")
        figures.append("-" if over_reference is None else f"{over_reference:.1f}x")
        rows.append(f"| {number} | {' | '.join(figures)} |")
    rows += ["", "![API requests per second, floor and API](img/bench-api.png)", ""]
    return rows


def import_section(imports: dict[str, Any]) -> list[str]:
    r = imports["results"]
    lines = imports["lines"]
    rows = [
        f"### Import: `users.import` of {lines:,} new people, against django-import-export",
        "",
        f"Command: `{imports['command']}`  ",
        f"Measured: {machine_line(imports)}",
        "",
        "| Run | seconds | lines/s | peak RSS MiB |",
        "|---|---:|---:|---:|",
    ]
    labels = {
        "ours_postgresql_new": "users.import, PostgreSQL, new people",
        "reference_postgresql_new": "django-import-export, PostgreSQL, new people",
        "ours_postgresql_override": "users.import, PostgreSQL, override: every line an update",
        "ours_sqlite_new": "users.import, SQLite, new people",
        "reference_sqlite_new": "django-import-export, SQLite, new people",
        "ours_sqlite_override": "users.import, SQLite, override: every line an update",
        "ours_postgresql_new_1m": "users.import, PostgreSQL, 1,000,000 new people",
    }
    for key, label in labels.items():
        if key in r:
            row = r[key]
            rows.append(
                f"| {label} | {row['seconds']:.1f} | {row['lines_per_second']:,.0f} | {row['peak_rss_mib']:.0f} |"
            )
    rows.append("")
    bounds = [
        (
            "parse_and_validate_only",
            "read and validate every line, write nothing (bench/parse_only.py)",
        ),
        (
            "copy_only_postgresql",
            "COPY the same users and memberships, nothing else (bench/copy_only.py)",
        ),
    ]
    if any(key in r for key, _ in bounds):
        rows += ["Bounds measured in the same run:", "", "| Bound | lines/s |", "|---|---:|"]
        for key, label in bounds:
            if key in r:
                rows.append(f"| {label} | {r[key]['lines_per_second']:,.0f} |")
        rows.append("")
    for engine in ("postgresql", "sqlite"):
        ratio = r.get(f"ratio_{engine}", {}).get("ours_over_reference")
        if ratio:
            rows.append(
                f"- {engine}: users.import is **{ratio:.1f}x** as fast as django-import-export."
            )
    rows += ["", "![Import lines per second and peak RSS](img/bench-imports.png)", ""]
    return rows


def copy_ratio_section(ratio: dict[str, Any]) -> list[str]:
    rows = [
        "### Import against COPY-only of the same rows, PostgreSQL",
        "",
        f"Command: `{ratio['command']}`  ",
        f"Measured: {machine_line(ratio)}",
        "",
        "Each run imports the file into a fresh database, then COPYs the same users and",
        "memberships into another (bench/copy_only.py), one right after the other.",
        "Both rates are in-process; COPY-only's leaves out even reading the file.",
        "",
        "| Lines | run | import lines/s | COPY-only lines/s | import / COPY-only | import peak RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for size in ratio["sizes"]:
        for number, run in enumerate(size["runs"], start=1):
            rows.append(
                f"| {size['lines']:,} | {number} | {run['import_lines_per_second']:,.0f} "
                f"| {run['copy_lines_per_second']:,.0f} | {run['ratio']:.2f} "
                f"| {run['import_peak_rss_mib']:.0f} |"
            )
        rows.append(
            f"| {size['lines']:,} | **median of each column** | {size['import_lines_per_second']:,.0f} "
            f"| {size['copy_lines_per_second']:,.0f} | **{size['ratio']:.2f}** "
            f"| {size['import_peak_rss_mib']:.0f} (max) |"
        )
    return [*rows, ""]


def copy_ratio_targets(ratio: dict[str, Any] | None) -> list[str]:
    """The rows of the targets table for import / COPY-only, one per size measured."""
    rows = []
    for size in ratio["sizes"] if ratio else []:
        value, rss = size["ratio"], size["import_peak_rss_mib"]
        rows.append(
            f"| Import / COPY-only at {size['lines']:,} lines, PostgreSQL "
            f"| >= {COPY_RATIO_TARGET} | {value:.2f} | {'yes' if value >= COPY_RATIO_TARGET else 'no'} |"
        )
        rows.append(
            f"| Peak import RSS at {size['lines']:,} lines (MiB) | <= {RATIO_RSS_TARGET_MIB} "
            f"| {rss:.0f} | {'yes' if rss <= RATIO_RSS_TARGET_MIB else 'no'} |"
        )
    return rows


def targets_section(api: dict[str, Any] | None, imports: dict[str, Any] | None) -> list[str]:
    rows = ["### Targets", "", "| Target | Value | Measured | Met |", "|---|---|---|---|"]

    def add(label: str, target: str, measured: float | None, fmt: str, met: bool | None) -> None:
        value = "not measured" if measured is None else format(measured, fmt)
        rows.append(
            f"| {label} | {target} | {value} | {'yes' if met else 'no' if met is not None else '-'} |"
        )

    over_select = api["summary"].get("api_over_select") if api else None
    over_reference = api["summary"].get("api_over_reference") if api else None
    queries = api["summary"]["queries_per_get"] if api else None
    add(
        "GET against the floor plus `SELECT 1`",
        f">= {API_OVER_SELECT_TARGET}",
        over_select,
        ".2f",
        None if over_select is None else over_select >= API_OVER_SELECT_TARGET,
    )
    add(
        "GET against the idiomatic DRF implementation",
        f">= {API_OVER_REFERENCE_TARGET:.0f}x",
        over_reference,
        ".1f",
        None if over_reference is None else over_reference >= API_OVER_REFERENCE_TARGET,
    )
    add(
        "SQL queries per GET",
        f"<= {QUERIES_TARGET}",
        queries,
        "d",
        None if queries is None else queries <= QUERIES_TARGET,
    )
    r = imports["results"] if imports else {}
    rate = r.get("ours_postgresql_new", {}).get("lines_per_second")
    add(
        "Import, PostgreSQL, new people (lines/s)",
        f">= {IMPORT_RATE_TARGET:,}",
        rate,
        ",.0f",
        None if rate is None else rate >= IMPORT_RATE_TARGET,
    )
    speedup = r.get("ratio_postgresql", {}).get("ours_over_reference")
    add(
        "Import against django-import-export, PostgreSQL",
        f">= {IMPORT_SPEEDUP_TARGET:.0f}x",
        speedup,
        ".1f",
        None if speedup is None else speedup >= IMPORT_SPEEDUP_TARGET,
    )
    rss = r.get("ours_postgresql_new_1m", {}).get("peak_rss_mib")
    add(
        "Peak worker RSS at 1,000,000 lines (MiB)",
        f"<= {RSS_TARGET_MIB}",
        rss,
        ".0f",
        None if rss is None else rss <= RSS_TARGET_MIB,
    )
    return [*rows, ""]


def scale_target_rows(fairness: dict[str, Any] | None, workers: dict[str, Any] | None) -> list[str]:
    """The Targets table's rows for the fairness scenario and the 1-vs-2 worker run."""
    rows = []
    p95 = fairness["small_seen_seconds"]["p95"] if fairness else None
    value = "not measured" if p95 is None else f"{p95:.1f}"
    met = "-" if p95 is None else "yes" if p95 <= SMALL_TASK_TARGET_SECONDS else "no"
    rows.append(
        "| Small task of B while A's big files run: upload to completed, p95 (s) "
        f"| <= {SMALL_TASK_TARGET_SECONDS:.0f} | {value} | {met} |"
    )
    speedup = workers["summary"]["speedup"] if workers else None
    value = "not measured" if speedup is None else f"{speedup:.2f}"
    met = "-" if speedup is None else "yes" if speedup >= WORKERS_SPEEDUP_TARGET else "no"
    rows.append(
        "| One file, 2 worker processes against 1 (lines/s ratio) "
        f"| >= {WORKERS_SPEEDUP_TARGET}x | {value} | {met} |"
    )
    return rows


def fairness_section(fairness: dict[str, Any]) -> list[str]:
    p = fairness["parameters"]
    seen, recorded = fairness["small_seen_seconds"], fairness["small_recorded_seconds"]
    rows = [
        "### Fairness: a small task of one organization while another's big files run",
        "",
        f"Command: `{fairness['command']}`  ",
        f"Measured: {machine_line(fairness)}; one `{fairness['worker']['command']}`, "
        f"concurrency {fairness['worker']['concurrency']}{_load(fairness)}",
        "",
        f"Organization A uploaded {p['big']} files of {p['lines']:,} new people; "
        f"{p['delay']:g} s after A's last upload was answered, organization B uploaded "
        f"{p['small']} files of {p['small_lines']} people, one every {p['spacing']:g} s. "
        f"Seconds from each small upload's answer to the first GET that showed it completed "
        f"(polled every {p['poll']:g} s), and from the task's creation to its finish as its "
        "row records them:",
        "",
        f"| B's small tasks | p50 s | p95 s | max s | within {fairness['target_seconds']:.0f} s |",
        "|---|---:|---:|---:|---:|",
        f"| upload answered to GET completed | {seen['p50']:.2f} | {seen['p95']:.2f} "
        f"| {seen['max']:.2f} | {fairness['small_within_target']} of {len(fairness['small'])} |",
        f"| created to finished (task row) | {recorded['p50']:.2f} | {recorded['p95']:.2f} "
        f"| {recorded['max']:.2f} | |",
        "",
        "| A's file | lines | uploaded at s | started at s | finished at s | seconds | lines/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for big in fairness["big"]:
        rows.append(
            f"| {big['name']} | {big['lines']:,} | {big['answered_s']:.1f} "
            f"| {_seconds(big['started_s'])} | {_seconds(big['finished_s'])} "
            f"| {_seconds(big['recorded_seconds'])} | {big.get('lines_per_second', 0):,} |"
        )
    rows += [
        "",
        f"A's {len(fairness['big'])} files, from the first upload to all finished: "
        f"**{fairness['big_total_seconds']:.1f} s**. Every task completed with the counters "
        f"its file implies: {'yes' if fairness['ok'] else 'no: ' + ', '.join(fairness['wrong'])}.",
    ]
    chunks = fairness.get("chunks")
    if chunks:
        counts = [len(spans) for spans in chunks.values()]
        durations = [finish - start for spans in chunks.values() for start, finish in spans]
        rows += [
            "",
            f"Chunks recorded: {sum(counts)} over {len(counts)} tasks; a chunk took "
            f"{statistics.median(durations):.2f} s at the median, {max(durations):.2f} s at most.",
        ]
    rows += [
        "",
        "![Fairness: B's small tasks while A's big files run](img/bench-fairness.png)",
        "",
    ]
    return rows


def workers_section(workers: dict[str, Any]) -> list[str]:
    s = workers["summary"]
    rows = [
        f"### One file, {s['few']} worker process against {s['many']}: {workers['lines']:,} new people",
        "",
        f"Command: `{workers['command']}`  ",
        f"Measured: {machine_line(workers)}; `{workers['worker']['command']}`, "
        f"{workers['worker']['pool']}{_load(workers)}",
        "",
        f"Median of {workers['repeats']} runs each, interleaved: {s['few']} process "
        f"**{s['few_lines_per_second']:,.0f}** lines/s, {s['many']} processes "
        f"**{s['many_lines_per_second']:,.0f}** lines/s: **x{s['speedup']:.2f}** "
        f"(target x{s['target']}).",
        "",
        "| Run | worker processes | seconds | lines/s | worker CPU (cores) "
        "| CPU s of the worker's busiest processes | PostgreSQL CPU (cores) | machine busy |",
        "|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for run in workers["runs"]:
        busy = run.get("machine_busy")
        busiest = " / ".join(f"{s:.2f}" for s in run.get("worker_process_cpu_seconds", [])[:3])
        rows.append(
            f"| {run['run']} | {run['concurrency']} | {run['seconds']:.1f} "
            f"| {run['lines_per_second']:,} | {run['worker_cores']:.2f} | {busiest or '-'} "
            f"| {run.get('database_cores', float('nan')):.2f} "
            f"| {'-' if busy is None else f'{100 * busy:.0f} %'} |"
        )
    chunked = [run for run in workers["runs"] if run.get("chunks")]
    if chunked:
        rows += [
            "",
            "| Run | worker processes | chunks | median chunk s | chunks running at once (max) |",
            "|---:|---:|---:|---:|---:|",
        ]
        for run in chunked:
            spans = run["chunks"]
            rows.append(
                f"| {run['run']} | {run['concurrency']} | {len(spans)} "
                f"| {statistics.median(f - b for b, f in spans):.2f} | {_overlap(spans)} |"
            )
    rows += [
        "",
        "![One file on 1 and on 2 worker processes](img/bench-workers.png)",
        "",
    ]
    return rows


def _load(result: dict[str, Any]) -> str:
    """The machine's load average around the run: how much else was running."""
    load = result.get("load_average")
    if not load:
        return ""
    return f"; load average (1 min) {load['before']:.1f} before the run, {load['after']:.1f} after"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _overlap(spans: list[list[float]]) -> int:
    """The most chunks that ran at the same moment."""
    events = sorted([(start, 1) for start, _ in spans] + [(finish, -1) for _, finish in spans])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def scale_plots(fairness: dict[str, Any] | None, workers: dict[str, Any] | None) -> None:
    """bench-fairness.png (a timeline and the small tasks' waits) and bench-workers.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    IMAGES.mkdir(parents=True, exist_ok=True)
    if fairness:
        target = fairness["target_seconds"]
        fig, (timeline, waits) = plt.subplots(
            1, 2, figsize=(10, 3.8), dpi=120, gridspec_kw={"width_ratios": [3, 2]}
        )
        labels = []
        for row, big in enumerate(fairness["big"]):
            start = big["started_s"] if big["started_s"] is not None else big["answered_s"]
            end = big["finished_s"] if big["finished_s"] is not None else big["seen_finished_s"]
            timeline.barh(row, big["answered_s"], left=0, color="#e2e8f0")
            timeline.barh(row, start - big["answered_s"], left=big["answered_s"], color="#cbd5e0")
            timeline.barh(row, end - start, left=start, color="#2b6cb0")
            labels.append(f"A {big['name']}")
        offset = len(fairness["big"])
        for row, small in enumerate(fairness["small"], start=offset):
            wait = small["seen_seconds"]
            timeline.barh(
                row,
                wait,
                left=small["answered_s"],
                color="#38a169" if wait <= target else "#c53030",
            )
            labels.append(f"B {small['name']}")
        timeline.set_yticks(range(len(labels)), labels, fontsize=7)
        timeline.invert_yaxis()
        timeline.set_xlabel("seconds since A's first upload")
        timeline.set_title("A's files run (blue); B's tasks, upload to completed", fontsize=9)
        seen = [small["seen_seconds"] for small in fairness["small"]]
        waits.bar(
            range(1, len(seen) + 1),
            seen,
            color=["#38a169" if wait <= target else "#c53030" for wait in seen],
        )
        waits.axhline(target, color="#c53030", linestyle="--", label=f"{target:.0f} s target")
        for name, style in (("p50", ":"), ("p95", "-.")):
            waits.axhline(
                fairness["small_seen_seconds"][name],
                color="#4a5568",
                linestyle=style,
                label=f"{name} {fairness['small_seen_seconds'][name]:.1f} s",
            )
        waits.set_xlabel("B's small task, in upload order")
        waits.set_ylabel("seconds, upload to completed")
        waits.set_title("B's small tasks", fontsize=9)
        waits.legend(fontsize=7)
        _footer(fig, fairness)
        fig.savefig(IMAGES / "bench-fairness.png")
        plt.close(fig)
    if workers:
        s = workers["summary"]
        fig, ax = plt.subplots(figsize=(6, 3.4), dpi=120)
        for position, concurrency in enumerate((s["few"], s["many"])):
            rates = [
                run["lines_per_second"]
                for run in workers["runs"]
                if run["concurrency"] == concurrency
            ]
            median = s["few_lines_per_second" if position == 0 else "many_lines_per_second"]
            ax.bar(position, median, color="#2b6cb0" if position else "#a0aec0", width=0.6)
            ax.scatter([position] * len(rates), rates, color="#1a202c", s=12, zorder=3)
        ax.axhline(
            s["few_lines_per_second"] * s["target"],
            color="#c53030",
            linestyle="--",
            label=f"x{s['target']} of {s['few']} process",
        )
        ax.set_xticks([0, 1], [f"{s['few']} worker process", f"{s['many']} worker processes"])
        ax.set_ylabel("lines/s (bars: median; dots: runs)")
        ax.set_title(f"One {workers['lines']:,}-line file: x{s['speedup']:.2f}", fontsize=10)
        ax.legend(loc="lower right", fontsize=8)
        _footer(fig, workers)
        fig.savefig(IMAGES / "bench-workers.png")
        plt.close(fig)


def _footer(fig: Any, result: dict[str, Any]) -> None:
    """The command and the date under a figure, so that the image says where it came from."""
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.text(
        0.01,
        0.01,
        f"{result['command']}  ({result['machine']['date']}, nproc {result['machine']['nproc']})",
        fontsize=7,
        color="#4a5568",
    )


def plots(api: dict[str, Any] | None, imports: dict[str, Any] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    IMAGES.mkdir(parents=True, exist_ok=True)
    if api:
        s = api["summary"]
        fig, ax = plt.subplots(figsize=(7, 2.8), dpi=120)
        bars = [
            ("API (a)", "api", "#2b6cb0"),
            ("idiomatic DRF", "reference", "#4a5568"),
            ("DRF, fixed data", "drf", "#718096"),
            ("floor + SELECT 1", "select", "#a0aec0"),
            ("floor (b)", "floor", "#cbd5e0"),
        ]
        bars = [bar for bar in bars if f"{bar[1]}_rps" in s]
        ax.barh(
            [label for label, _, _ in bars],
            [s[f"{name}_rps"] for _, name, _ in bars],
            color=[colour for _, _, colour in bars],
        )
        ax.axvline(
            s["select_rps"] * API_OVER_SELECT_TARGET,
            color="#c53030",
            linestyle="--",
            label=f"{API_OVER_SELECT_TARGET} of floor + SELECT 1",
        )
        if "reference_rps" in s:
            ax.axvline(
                s["reference_rps"] * API_OVER_REFERENCE_TARGET,
                color="#dd6b20",
                linestyle=":",
                label=f"{API_OVER_REFERENCE_TARGET:.0f}x idiomatic DRF",
            )
        ax.legend(loc="lower right")
        ax.set_xlabel("requests/s (median of rounds)")
        ax.set_title(
            f"GET bulk task: {s.get('api_over_select', float('nan')):.2f} of floor + SELECT 1, "
            f"{s.get('api_over_reference', float('nan')):.1f}x idiomatic DRF"
        )
        fig.tight_layout()
        fig.savefig(IMAGES / "bench-api.png")
        plt.close(fig)
    if imports:
        r = imports["results"]
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=120)
        keys = [
            ("ours_postgresql_new", "ours PG"),
            ("reference_postgresql_new", "import-export PG"),
            ("ours_sqlite_new", "ours SQLite"),
            ("reference_sqlite_new", "import-export SQLite"),
        ]
        present = [(label, r[key]["lines_per_second"]) for key, label in keys if key in r]
        left.bar([p[0] for p in present], [p[1] for p in present], color=["#2b6cb0", "#a0aec0"] * 2)
        left.set_ylabel("lines/s")
        left.set_title(f"{imports['lines']:,} new people")
        left.tick_params(axis="x", labelrotation=20)
        big = r.get("ours_postgresql_new_1m", {})
        samples = big.get("rss_samples") or []
        if samples:
            right.plot([t for t, _ in samples], [m for _, m in samples], color="#2b6cb0")
            right.axhline(
                RSS_TARGET_MIB,
                color="#c53030",
                linestyle="--",
                label=f"{RSS_TARGET_MIB} MiB target",
            )
            right.set_ylim(0, max(RSS_TARGET_MIB * 1.2, max(m for _, m in samples) * 1.1))
            right.set_xlabel("seconds into the 1,000,000-line import")
            right.set_ylabel("RSS MiB")
            right.set_title("Worker memory stays flat")
            right.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(IMAGES / "bench-imports.png")
        plt.close(fig)


def main() -> None:
    api, imports, ratio = load("api"), load("imports"), load("copy_ratio")
    fairness, workers = load("fairness"), load("workers")
    body = [
        START,
        "",
        "<!-- Generated by bench/report.py from bench/results/*.json; edit the text outside. -->",
        "",
    ]
    targets = targets_section(api, imports)
    body += [
        *targets[:-1],
        *scale_target_rows(fairness, workers),
        *copy_ratio_targets(ratio),
        *targets[-1:],
    ]
    if api:
        body += api_section(api)
    if imports:
        body += import_section(imports)
    if ratio:
        body += copy_ratio_section(ratio)
    if fairness:
        body += fairness_section(fairness)
    if workers:
        body += workers_section(workers)
    body.append(END)
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    DOC.write_text(before + "\n".join(body) + after)
    plots(api, imports)
    scale_plots(fairness, workers)
    print(f"wrote {DOC.relative_to(ROOT)} and the plots in {IMAGES.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
