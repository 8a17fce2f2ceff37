"""A year's backfill through the real scheduler (LocalExecutor) against the same work in one process."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _one_process(inbox: Path, data: Path, url: str, env: dict[str, str]) -> float:
    """``python -m pipeline run --direct``: every month and the annual consolidation, no Airflow."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--direct", "--inbox", str(inbox), "--year", "2020",
         "--warehouse", url],
        check=True, cwd=ROOT, env={**os.environ, **env, "DISTRICT_DATA": str(data)}, stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def backfill_benchmark(work: Path, n_units: int | None, months: int,
                       executor: str = "LocalExecutor") -> dict[str, float]:
    """Wall seconds of the 2020 backfill via the scheduler and via one process, on fresh PostgreSQL warehouses.

    ``n_units`` None: the district sample year; else the city inbox ``bench/run.py`` generated.
    """
    from airflow_services import ANNUAL, MONTHLY, AirflowStack, create_database, drop_database, pg_url, wait_for

    env: dict[str, str] = {}
    if n_units is None:
        from pipeline.samples.sample import write_sample_year

        inbox = work / "district" / "inbox"
        if not inbox.exists():
            write_sample_year(2020, inbox)
    else:
        inbox = work / f"city-{n_units}" / "inbox"
        env["DISTRICT_UNITS_CSV"] = str(work / "city-units.csv")
    label = "district" if n_units is None else f"city-{n_units}"
    one_db = create_database("district_bench_one")
    sched_db = create_database("district_bench_sched")
    stack = AirflowStack(root=work / f"airflow-{label}-{executor}", executor=executor, inbox=inbox,
                         data=work / f"data-sched-{label}",
                         extra_env={**env, "DISTRICT_WAREHOUSE_URL": pg_url(sched_db)}, parallelism=2)
    try:
        one = _one_process(inbox, work / f"data-one-{label}", pg_url(one_db), env)
        stack.start()
        stack.unpause("district_returns_monthly", "district_annual_statistics")
        # Unpausing starts the latest scheduled run (catchup is off; its month has an empty inbox) and the annual
        # run it triggers. Not the year's work, and long done in a running deployment: not timed.
        wait_for("the scheduled run unpausing starts", lambda: stack.dag_runs(MONTHLY, run_type=["scheduled"]),
                 timeout=120, interval=1)
        stack.wait_quiet(timeout=600)
        started = dt.datetime.now(dt.UTC)
        backfill = stack.create_backfill("district_returns_monthly", "2020-01-01T00:00:00+08:00",
                                         f"2020-{months:02d}-28T00:00:00+08:00", max_active_runs=3)
        stack.wait_backfill(backfill["id"], timeout=3600)
        stack.wait_quiet(timeout=1800)
        failed = [r for r in stack.dag_runs(MONTHLY) if r["state"] != "success"]
        if failed:
            raise RuntimeError(f"backfill runs failed: {[r['dag_run_id'] for r in failed]}")
        # Until the last run (monthly or annual) ended, as Airflow recorded it: polling for quiet adds
        # up to two poll intervals that are the benchmark's, not Airflow's.
        ended = [dt.datetime.fromisoformat(r["end_date"]) for d in (MONTHLY, ANNUAL) for r in stack.dag_runs(d)
                 if r["end_date"] and dt.datetime.fromisoformat(r["end_date"]) > started]
        scheduled = (max(ended) - started).total_seconds()
    finally:
        stack.stop()
        drop_database(one_db)
        drop_database(sched_db)
    return {"scheduler_s": scheduled, "one_process_s": one}
