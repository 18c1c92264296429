"""A large spreadsheet against the same data as CSV: what the scan's read costs, in time and memory.

    python bench/xlsx.py [--rows 200000] [--repeat 3] [--kinds csv,xlsx,xlsx-openpyxl]

Writes the same people as a CSV file and as an .xlsx workbook the way Excel
writes one (its text in a shared strings table), then, each in a fresh
process, reads it as the scan does: the CSV straight through its records; the
workbook through openpyxl's read-only mode into the stored rows copy
(bulktasks.readers.rows), then through the copy's records. ``xlsx-openpyxl``
reads the workbook the way the scan did before its memory was made flat:
openpyxl's ``load_workbook`` as it comes, its shared strings in a list and its
emptied rows left in the sheet's tree. Peak RSS is the process's own
(ru_maxrss), next to the same process's RSS once its imports are done. Medians
of ``--repeat`` runs go to bench/results/xlsx.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "xlsx.json"
COLUMNS = ("email", "firstName", "lastName")
LAST_NAMES = 1000

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"


def person(n: int) -> tuple[str, str, str]:
    return f"person{n}@example.com", f"First{n}", f"Last{n % LAST_NAMES}"


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(COLUMNS) + "\n")
        for n in range(1, rows + 1):
            out.write(",".join(person(n)) + "\n")


def write_xlsx(path: Path, rows: int) -> None:
    """A workbook as Excel saves one: every text in xl/sharedStrings.xml, cells point into it."""

    # Shared string indexes: the header, the last names, then each row's e-mail and first name.
    def email_index(n: int) -> int:
        return len(COLUMNS) + LAST_NAMES + 2 * (n - 1)

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            "</Types>",
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{PACKAGE}"><Relationship Id="rId1" '
            f'Type="{RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}"><sheets>'
            '<sheet name="People" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{PACKAGE}">'
            f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{RELATIONSHIPS}/sharedStrings" Target="sharedStrings.xml"/>'
            f'<Relationship Id="rId3" Type="{RELATIONSHIPS}/styles" Target="styles.xml"/>'
            "</Relationships>",
        )
        archive.writestr(
            "xl/styles.xml",
            f'<styleSheet xmlns="{MAIN}"><fonts count="1"><font/></fonts><fills count="1"><fill><patternFill patternType="none"/></fill>'
            '</fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf/>'
            '</cellStyleXfs><cellXfs count="1"><xf xfId="0"/></cellXfs></styleSheet>',
        )
        with archive.open("xl/sharedStrings.xml", "w") as out:
            total = len(COLUMNS) + LAST_NAMES + 2 * rows
            out.write(f'<sst xmlns="{MAIN}" count="{total}" uniqueCount="{total}">'.encode())
            texts = [*COLUMNS, *(f"Last{n}" for n in range(LAST_NAMES))]
            out.write("".join(f"<si><t>{text}</t></si>" for text in texts).encode())
            for n in range(1, rows + 1):
                email, first, _ = person(n)
                out.write(f"<si><t>{email}</t></si><si><t>{first}</t></si>".encode())
            out.write(b"</sst>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as out:
            out.write(
                f'<worksheet xmlns="{MAIN}"><dimension ref="A1:C{rows + 1}"/><sheetData>'.encode()
            )
            out.write(
                b'<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
                b'<c r="C1" t="s"><v>2</v></c></row>'
            )
            for n in range(1, rows + 1):
                r = n + 1
                e = email_index(n)
                last = len(COLUMNS) + n % LAST_NAMES
                out.write(
                    f'<row r="{r}"><c r="A{r}" t="s"><v>{e}</v></c><c r="B{r}" t="s"><v>{e + 1}</v>'
                    f'</c><c r="C{r}" t="s"><v>{last}</v></c></row>'.encode()
                )
            out.write(b"</sheetData></worksheet>")


def plain_openpyxl_rows(workbook: object) -> object:
    """The first sheet's rows as the scan read them before: openpyxl's load_workbook as it comes."""
    from openpyxl import load_workbook

    from bulktasks.readers.xlsx import cell_text

    book = load_workbook(workbook, read_only=True, data_only=True)  # type: ignore[arg-type]
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # type: ignore[union-attr]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            texts = [cell_text(value) for value in values]
            while texts and not texts[-1].strip():
                texts.pop()
            if texts:
                yield number, texts
    finally:
        book.close()


def measure(kind: str, path: str) -> dict[str, float]:
    """In this (fresh) process: read the file as the scan does; time, records and peak RSS."""
    from bulktasks.containers import ZipLimits
    from bulktasks.readers import RecordReader
    from bulktasks.readers.rows import ROWS, rows_copy_write
    from bulktasks.readers.xlsx import iter_sheet_rows

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    limits = ZipLimits(max_uncompressed_size=2**34, max_compression_ratio=200)
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    started = time.perf_counter()
    copy_seconds = 0.0
    with tempfile.TemporaryDirectory() as folder:
        source, mimetype = Path(path), "text/csv"
        if kind.startswith("xlsx"):
            source, mimetype = Path(folder) / "rows.jsonl", ROWS
            with open(path, "rb") as workbook, source.open("wb") as copy:
                rows = (
                    plain_openpyxl_rows(workbook)
                    if kind == "xlsx-openpyxl"
                    else iter_sheet_rows(workbook, limits=limits)
                )
                rows_copy_write(rows, copy, max_line_length=1_048_576)  # type: ignore[arg-type]
            copy_seconds = time.perf_counter() - started
        records = 0
        with source.open("rb") as stream:
            for _ in RecordReader(stream, mimetype=mimetype, columns=COLUMNS, required=("email",)):
                records += 1
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss
    return {
        "records": records,
        "seconds": seconds,
        # The machine is shared: CPU seconds say more than wall time there.
        "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before,
        "copy_seconds": copy_seconds,
        "peak_rss_mb": peak / 1024,
        "baseline_rss_mb": baseline / 1024,
    }


def run(kind: str, path: Path) -> dict[str, float]:
    done = subprocess.run(  # noqa: S603 - our interpreter, our arguments
        [sys.executable, __file__, "--measure", kind, str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{kind} run failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kinds", default="csv,xlsx,xlsx-openpyxl")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return

    with tempfile.TemporaryDirectory() as folder:
        files = {"csv": Path(folder) / "people.csv", "xlsx": Path(folder) / "people.xlsx"}
        write_csv(files["csv"], args.rows)
        write_xlsx(files["xlsx"], args.rows)
        kinds = args.kinds.split(",")
        with zipfile.ZipFile(files["xlsx"]) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        results: dict[str, object] = {
            "rows": args.rows,
            "repeat": args.repeat,
            "cpus": os.cpu_count(),
            "csv_bytes": files["csv"].stat().st_size,
            "xlsx_bytes": files["xlsx"].stat().st_size,
            "xlsx_unpacked_bytes": unpacked,
        }
        for kind in kinds:
            path = files["csv" if kind == "csv" else "xlsx"]
            runs = [run(kind, path) for _ in range(args.repeat)]
            assert all(r["records"] == args.rows for r in runs), runs
            results[kind] = {
                key: round(statistics.median(r[key] for r in runs), 3)
                for key in (
                    "seconds",
                    "cpu_seconds",
                    "copy_seconds",
                    "peak_rss_mb",
                    "baseline_rss_mb",
                )
            }
            print(kind, results[kind], file=sys.stderr)

    def grown(kind: str) -> float:
        result = results[kind]
        assert isinstance(result, dict)
        return result["peak_rss_mb"] - result["baseline_rss_mb"]

    for kind in kinds:
        if kind == "csv":
            continue
        result = results[kind]
        assert isinstance(result, dict)
        # What the read adds to the interpreter, per row of the sheet.
        result["rss_kb_per_row"] = round(grown(kind) * 1024 / args.rows, 3)
        if "csv" in kinds:
            csv_result = results["csv"]
            assert isinstance(csv_result, dict)
            result["cpu_ratio_to_csv"] = round(result["cpu_seconds"] / csv_result["cpu_seconds"], 2)
            result["extra_rss_mb_over_csv"] = round(grown(kind) - grown("csv"), 1)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
