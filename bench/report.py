"""Write the measured figures into docs/benchmarks.md, with the plots, from bench/results/.

    python bench/report.py

Only the part between the ``figures`` markers is generated; the text around it
(what was changed, and why) is written by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, ROOT

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
    api, imports = load("api"), load("imports")
    body = [
        START,
        "",
        "<!-- Generated by bench/report.py from bench/results/*.json; edit the text outside. -->",
        "",
    ]
    body += targets_section(api, imports)
    if api:
        body += api_section(api)
    if imports:
        body += import_section(imports)
    body.append(END)
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    DOC.write_text(before + "\n".join(body) + after)
    plots(api, imports)
    print(f"wrote {DOC.relative_to(ROOT)} and the plots in {IMAGES.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
