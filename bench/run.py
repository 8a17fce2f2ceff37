"""Benchmarks: every figure is a ratio measured side by side in one run (``make bench``; ``--quick`` for a smoke run).

Prints, with the goal beside each:
1. ingest (read + validate + load) of a city year per workbook and per row, on SQLite and on PostgreSQL,
   as a ratio to bare openpyxl read-only iteration of the same files (goal ≤ 0.5; best of three
   interleaved rounds, the worst round shown beside it);
2. ingest of one very large 行政检查 return as a ratio to a bare python-calamine read of it (goal ≤ 2.0);
3. the city year's 12-month backfill through the real scheduler (LocalExecutor) as a ratio to the same
   work in one process (goal ≤ 1.5), and the district year's backfill wall time;
4. peak RSS of ingesting the large return at three sizes, and the slope (goal ≤ 300 MB at 100k rows);
5. consolidation of one year from a PostgreSQL warehouse of 10 million register rows (goal < 1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PG_ADMIN = os.environ.get("DISTRICT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
RESULTS: list[tuple[str, str, str, str]] = []


def record(name: str, value: str, goal: str, met: bool | None) -> None:
    RESULTS.append((name, value, goal, "—" if met is None else ("yes" if met else "NO")))
    print(f"  {name}: {value}  (goal {goal})", flush=True)


def bare_openpyxl(files: list[Path]) -> tuple[float, int]:
    from openpyxl import load_workbook

    rows = 0
    started = time.perf_counter()
    for path in files:
        wb = load_workbook(path, read_only=True, data_only=True)
        for ws in wb.worksheets:
            for _ in ws.iter_rows(values_only=True):
                rows += 1
        wb.close()
    return time.perf_counter() - started, rows


def bare_calamine(path: Path) -> float:
    from python_calamine import CalamineWorkbook

    started = time.perf_counter()
    wb = CalamineWorkbook.from_path(str(path))
    for name in wb.sheet_names:
        wb.get_sheet_by_name(name).to_python()
    return time.perf_counter() - started


def fresh_pg() -> str:
    import sqlalchemy as sa

    name = f"district_bench_{uuid.uuid4().hex[:8]}"
    with sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop_pg(url: str) -> None:
    import sqlalchemy as sa

    name = url.rsplit("/", 1)[1]
    with sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def ingest_months(inbox: Path, data: Path, url: str, periods: list[str]) -> float:
    """Wall time of ingesting ``periods`` in this process (GX already imported: a worker pays that once)."""
    from pipeline.config import settings
    from pipeline.ingest import run_month
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema

    # A first ingest each time: a warehouse or archive left by an earlier run would time a re-load.
    shutil.rmtree(data, ignore_errors=True)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    os.environ["DISTRICT_INBOX"] = str(inbox)
    os.environ["DISTRICT_DATA"] = str(data)
    s = settings(url)
    engine = make_engine(url)
    ensure_schema(engine)
    started = time.perf_counter()
    for period in periods:
        run_month(period, s, engine=engine)
    return time.perf_counter() - started


def bench_city(work: Path, n_units: int, months: int, rounds: int = 3) -> None:
    from generate import write_city_year, write_registry

    print(f"city year: {n_units} units × {months} months", flush=True)
    registry = write_registry(work / "city-units.csv", n_units)
    os.environ["DISTRICT_UNITS_CSV"] = str(registry)
    inbox = work / f"city-{n_units}" / "inbox"
    if not inbox.exists():
        write_city_year(inbox, registry, 2020, n_units)
    periods = [f"2020-{m:02d}" for m in range(1, months + 1)]
    files = sorted(p for period in periods for p in (inbox / period).glob("*.xlsx"))
    import great_expectations  # noqa: F401 - paid once per worker process, not per month

    # Interleaved rounds, best of each (as for the large return): on a shared machine a neighbour's
    # load can slow one measure of a round by a fifth and more; the worst round's ratios are shown too.
    times: dict[str, list[float]] = {"openpyxl": [], "SQLite": [], "PostgreSQL": []}
    for _ in range(rounds):
        t_open, rows = bare_openpyxl(files)
        times["openpyxl"].append(t_open)
        times["SQLite"].append(
            ingest_months(inbox, work / "data-sqlite", f"sqlite:///{work / 'bench-city.sqlite'}", periods))
        pg = fresh_pg()
        try:
            times["PostgreSQL"].append(ingest_months(inbox, work / "data-pg", pg, periods))
        finally:
            drop_pg(pg)
    n, t_open = len(files), min(times["openpyxl"])
    record("bare openpyxl read-only iteration", f"{t_open:.2f} s, {t_open / n * 1e3:.2f} ms/workbook, "
           f"{t_open / rows * 1e6:.1f} µs/row ({n} workbooks, {rows} rows; best of {rounds})", "baseline", None)
    for engine_name in ("SQLite", "PostgreSQL"):
        t = min(times[engine_name])
        worst = max(i / o for i, o in zip(times[engine_name], times["openpyxl"], strict=True))
        record(f"ingest city year into {engine_name} / openpyxl", f"{t / t_open:.2f} ({t:.2f} s, "
               f"{t / n * 1e3:.2f} ms/workbook, {t / rows * 1e6:.1f} µs/row; best of {rounds}, "
               f"worst round {worst:.2f})", "≤ 0.5", t / t_open <= 0.5)
    os.environ.pop("DISTRICT_UNITS_CSV")


def bench_big(work: Path, n_rows: int) -> None:
    from generate import write_big_return

    print(f"large return: {n_rows} rows", flush=True)
    inbox = work / f"big-{n_rows}" / "inbox"
    path = inbox / "2020-06" / "big.xlsx"
    if not path.exists():
        write_big_return(path, "区市场监督管理局", "2020-06", n_rows)
    import great_expectations  # noqa: F401

    # Interleaved rounds, best of each: load on a shared machine drifts within a run.
    t_cal, t_ingest = float("inf"), float("inf")
    for _ in range(3):
        t_cal = min(t_cal, bare_calamine(path))
        t_ingest = min(t_ingest, ingest_months(inbox, work / f"data-big-{n_rows}",
                                               f"sqlite:///{work / f'big-{n_rows}.sqlite'}", ["2020-06"]))
    record(f"ingest {n_rows}-row return / bare calamine read", f"{t_ingest / t_cal:.2f} ({t_ingest:.2f} s vs "
           f"{t_cal:.2f} s)", "≤ 2.0", t_ingest / t_cal <= 2.0)


def peak_rss(work: Path, sizes: list[int]) -> None:
    from generate import write_big_return

    print("peak memory", flush=True)
    peaks = []
    for n in sizes:
        inbox = work / f"big-{n}" / "inbox"
        path = inbox / "2020-06" / "big.xlsx"
        if not path.exists():
            write_big_return(path, "区市场监督管理局", "2020-06", n)
        code = (
            "import os, sys\n"
            "from pipeline.config import settings\nfrom pipeline.ingest import run_month\n"
            f"os.environ['DISTRICT_INBOX'] = {str(inbox)!r}; os.environ['DISTRICT_DATA'] = {str(work / f'mem-{n}')!r}\n"
            f"run_month('2020-06', settings('sqlite:///{work / f'mem-{n}.sqlite'}'))\n"
            # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child would report the
            # benchmark process's own peak.
            "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
        peaks.append(int(out.stdout.strip().splitlines()[-1]) / 1024)
    slope = (peaks[-1] - peaks[0]) / (sizes[-1] - sizes[0]) * 1000
    shown = ", ".join(f"{n // 1000}k rows: {p:.0f} MB" for n, p in zip(sizes, peaks, strict=True))
    record("peak RSS of the large return", f"{shown}; slope {slope:.2f} MB per 1000 rows", "≤ 300 MB",
           peaks[-1] <= 300)


def bench_consolidation(n_rows: int) -> None:
    from consolidation import consolidation_benchmark

    print(f"consolidation over {n_rows:,} register rows (PostgreSQL)", flush=True)
    pg = fresh_pg()
    try:
        seconds, plan = consolidation_benchmark(pg, n_rows)
    finally:
        drop_pg(pg)
    record(f"consolidate one year of {n_rows:,} rows", f"{seconds:.3f} s", "< 1 s", seconds < 1.0)
    print("\n".join("    " + line for line in plan), flush=True)


def bench_celery(work: Path, n_units: int, months: int) -> None:
    from backfill import backfill_benchmark

    print("city backfill through the CeleryExecutor (one worker, concurrency 2)", flush=True)
    result = backfill_benchmark(work, n_units, months, executor="CeleryExecutor")
    ratio = result["scheduler_s"] / result["one_process_s"]
    record("city backfill via Celery / one process", f"{ratio:.2f} ({result['scheduler_s']:.1f} s vs "
           f"{result['one_process_s']:.1f} s)", "report", None)


def bench_backfill(work: Path, n_units: int, months: int) -> None:
    from backfill import backfill_benchmark

    print("backfill through the scheduler", flush=True)
    for label, units in (("city", n_units), ("district", None)):
        result = backfill_benchmark(work, units, months)
        if label == "city":
            ratio = result["scheduler_s"] / result["one_process_s"]
            record("city backfill via scheduler / one process", f"{ratio:.2f} ({result['scheduler_s']:.1f} s vs "
                   f"{result['one_process_s']:.1f} s)", "≤ 1.5", ratio <= 1.5)
        else:
            record("district year backfill wall time", f"{result['scheduler_s']:.1f} s", "report", None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the harness, not the goals")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["city", "big", "memory", "consolidation", "backfill", "celery"])
    parser.add_argument("--work", default=str(ROOT / "var" / "bench"))
    args = parser.parse_args()
    work = Path(args.work) if not args.quick else Path(tempfile.mkdtemp(prefix="district-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    q = args.quick
    if "city" not in args.skip:
        bench_city(work, 12 if q else 300, 2 if q else 12, 1 if q else 3)
    if "big" not in args.skip:
        bench_big(work, 2_000 if q else 100_000)
    if "memory" not in args.skip:
        peak_rss(work, [500, 1_000, 2_000] if q else [25_000, 50_000, 100_000])
    if "consolidation" not in args.skip:
        bench_consolidation(20_000 if q else 10_000_000)
    if "backfill" not in args.skip and not q:
        bench_backfill(work, 300, 12)
    if "celery" not in args.skip and not q:
        bench_celery(work, 300, 12)
    if q:
        # Starting the Airflow services alone takes a minute or two: the quick run checks the rest.
        print("backfill through the scheduler: skipped in --quick (run `make bench` for it)", flush=True)
    import platform

    print(f"\nmachine: {platform.node()} {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}{' (QUICK: sizes too small for the goals)' if q else ''}")
    width = max(len(r[0]) for r in RESULTS)
    print(f"{'measure':<{width}}  {'goal':<10} met  value")
    for name, value, goal, met in RESULTS:
        print(f"{name:<{width}}  {goal:<10} {met:<4} {value}")
    (work / "results.json").write_text(json.dumps(RESULTS, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
