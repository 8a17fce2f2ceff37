"""The operator's path of issue 12, in a browser: ``make demo``, then the Airflow UI on the same data.

One test, in this order (each step relies on the previous one's state; services are slow to start):

1. ``make demo`` (the real target) into a data folder of its own.
2. Airflow services on that data folder and warehouse; both DAGs unpaused, as README says: the
   scheduler's first run and the annual DAG leave the demo's figures files as they were, and no
   year nobody reported for appears.
3. From the UI (headless Chromium): Trigger → Backfill 2020-03-01 … 2020-05-31 with each reprocess
   choice. "Missing Runs" on the demo's warehouse: exactly March–May processed, figures unchanged,
   timed from the click to the consolidated figures. "Missing and Errored Runs" after April's run
   was marked failed, into a fresh warehouse: it holds exactly April. "All Runs" after May's run was
   replaced by one whose conf names its period (as ``dag.test()`` runs used to be made), into a fresh
   warehouse: it holds exactly March–May and every run succeeded.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from airflow_services import ANNUAL, MONTHLY, AirflowStack, create_database, drop_database, pg_available, pg_url, utc
from helpers import REPO
from test_services import CHROMEDRIVER, CHROMIUM, _chrome, _month_of, _require, _ui_backfill

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(2400, method="signal")]
ASKED = ["2020-03", "2020-04", "2020-05"]


def _make_demo(data: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DISTRICT_"))}
    env["DISTRICT_DATA"] = str(data)
    started = time.monotonic()
    done = subprocess.run(["make", "demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    print(f"make demo: {time.monotonic() - started:.0f} s", flush=True)
    return time.monotonic() - started


def _outputs(data: Path) -> dict[str, bytes]:
    return {str(p.relative_to(data)): p.read_bytes() for p in sorted((data / "out").rglob("*")) if p.is_file()}


def _figures(url: str) -> list[tuple]:
    from pipeline.warehouse.schema import figure

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = sorted(tuple(r) for r in conn.execute(sa.select(figure)))
    engine.dispose()
    return rows


def make_engine(url: str):
    from pipeline.warehouse.connect import make_engine as make

    return make(url)


def _periods(url: str) -> set[str]:
    from pipeline.warehouse.schema import return_file, submission

    engine = make_engine(url)
    with engine.connect() as conn:
        loaded = {p for (p,) in conn.execute(sa.select(submission.c.period).distinct())}
        files = {p for (p,) in conn.execute(sa.select(return_file.c.period).distinct())}
    engine.dispose()
    assert loaded == files
    return loaded


def _backfill_runs(stack: AirflowStack) -> list[dict]:
    runs = [r for r in stack.dag_runs(MONTHLY) if r["logical_date"]
            and "2020-03-01" <= utc(r["logical_date"]).isoformat() < "2020-06-01"]
    return sorted(runs, key=lambda r: r["logical_date"])


def _backfill(driver, stack: AirflowStack, reprocess: str, login: bool = False) -> str:
    """Trigger → Backfill 2020/03/01 00:00 … 2020/05/31 23:59 from the UI with ``reprocess``; the dry-run text."""
    return _ui_backfill(driver, stack, ("2020/03/01", "00:00"), ("2020/05/31", "23:59"), reprocess=reprocess,
                        login=login)


def _new_backfill(stack: AirflowStack, known: set[int]) -> dict:
    created = [b for b in stack.api("GET", "/api/v2/backfills", params={"dag_id": MONTHLY}).json()["backfills"]
               if b["id"] not in known]
    assert len(created) == 1, created
    known.add(created[0]["id"])
    return created[0]


def test_demo_then_the_ui_backfills_exactly_the_months_asked_for(tmp_path):
    _require(pg_available(), "PostgreSQL on 127.0.0.1:5432")
    _require(CHROMIUM.exists() and CHROMEDRIVER.exists(), "Chromium and chromedriver (.ci/run installs them)")
    data = tmp_path / "var"
    _make_demo(data)
    demo_url = f"sqlite:///{data / 'warehouse.sqlite'}"
    demo_outputs, demo_figures = _outputs(data), _figures(demo_url)
    assert "out/2020/figures.xlsx" in demo_outputs and demo_figures

    stack = AirflowStack(root=tmp_path / "stack", executor="LocalExecutor", inbox=data / "inbox", data=data)
    fresh: list[str] = []
    driver = None
    try:
        stack.start()
        with stack.diagnostics():
            # 2. Switch both DAGs on, as README says: the scheduler runs the latest month, the annual DAG follows.
            assert stack.dag_runs(MONTHLY) == []  # the demo's runs are not in the UI's metadata
            stack.unpause(MONTHLY, ANNUAL)
            from airflow_services import wait_for

            wait_for("the first scheduled run", lambda: stack.dag_runs(MONTHLY), timeout=120)
            stack.wait_quiet(timeout=300)
            assert [r["state"] for r in stack.dag_runs(MONTHLY)] == ["success"]
            assert all(r["state"] == "success" for r in stack.dag_runs(ANNUAL))
            assert _outputs(data) == demo_outputs, "unpausing changed the demo's figures files"
            assert not any((data / "out").glob("2026")), "a year nobody sent returns for was created"
            assert _figures(demo_url) == demo_figures

            # 3. The UI backfills.
            driver = _chrome(Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)))
            known: set[int] = set()

            # Missing Runs, on the demo's own warehouse: the months asked for, figures unchanged.
            clicked = time.monotonic()
            assert "3 runs will be triggered" in _backfill(driver, stack, "none", login=True)
            stack.wait_backfill(_new_backfill(stack, known)["id"], timeout=600)
            stack.wait_quiet(timeout=300)
            took = time.monotonic() - clicked
            runs = _backfill_runs(stack)
            assert [(_month_of(r["logical_date"]), r["state"]) for r in runs] == [(m, "success") for m in ASKED]
            assert [stack.xcom(MONTHLY, r["dag_run_id"], "ingest_returns")["period"] for r in runs] == ASKED
            assert _outputs(data) == demo_outputs and _figures(demo_url) == demo_figures
            print(f"UI backfill 2020-03…05 (Missing Runs), click to figures: {took:.0f} s", flush=True)

            # The next two into fresh warehouses (annual paused: its figures would be another warehouse's).
            stack.api("PATCH", f"/api/v2/dags/{ANNUAL}", json={"is_paused": True})

            # Missing and Errored Runs: April's run failed; only April is processed.
            fresh.append(create_database("district_ui"))
            stack.set_connection("district_warehouse", fresh[-1])
            april = next(r for r in runs if _month_of(r["logical_date"]) == "2020-04")
            stack.api("PATCH", f"/api/v2/dags/{MONTHLY}/dagRuns/{april['dag_run_id']}", json={"state": "failed"})
            assert re.search(r"\b1 runs? will be triggered", _backfill(driver, stack, "failed"))
            stack.wait_backfill(_new_backfill(stack, known)["id"], timeout=600)
            assert _periods(pg_url(fresh[-1])) == {"2020-04"}
            assert [r["state"] for r in _backfill_runs(stack)] == ["success"] * 3

            # All Runs: May's run is one whose conf names its month; every month is processed again.
            may = next(r for r in _backfill_runs(stack) if _month_of(r["logical_date"]) == "2020-05")
            stack.api("DELETE", f"/api/v2/dags/{MONTHLY}/dagRuns/{may['dag_run_id']}")
            made = stack.api("POST", f"/api/v2/dags/{MONTHLY}/dagRuns", json={
                "logical_date": may["logical_date"], "conf": {"period": "2020-05"}}).json()
            assert stack.wait_run(MONTHLY, made["dag_run_id"], timeout=300)["state"] == "success"
            fresh.append(create_database("district_ui"))
            stack.set_connection("district_warehouse", fresh[-1])
            clicked = time.monotonic()
            assert "3 runs will be triggered" in _backfill(driver, stack, "completed")
            stack.wait_backfill(_new_backfill(stack, known)["id"], timeout=600)
            print(f"UI backfill 2020-03…05 (All Runs), click to loaded: {time.monotonic() - clicked:.0f} s",
                  flush=True)
            runs = _backfill_runs(stack)
            assert [(_month_of(r["logical_date"]), r["state"]) for r in runs] == [(m, "success") for m in ASKED]
            assert runs[-1]["conf"].get("period") == "2020-05"  # reprocessed with the conf it was made with
            assert _periods(pg_url(fresh[-1])) == set(ASKED)
            assert _outputs(data) == demo_outputs
    finally:
        if driver is not None:
            driver.quit()
        stack.stop()
        for name in fresh:
            drop_database(name)
