"""Running a year through the real DAGs in this process (``dag.test()``), or directly.

``python -m pipeline run`` uses this: every month of the year through ``district_returns_monthly``,
then the year through ``district_annual_statistics``, each run checked for success.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline.config import PROJECT_ROOT, Settings, settings
from pipeline.periods import months_of

log = logging.getLogger(__name__)


class RunFailed(RuntimeError):
    """A DAG run did not end in success."""


def airflow_environment(settings: Settings) -> dict[str, str]:
    """Environment for an embedded Airflow: home under the data folder, the project's DAGs, no examples."""
    home = Path(os.environ.get("AIRFLOW_HOME", settings.run_airflow_home))
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", str(PROJECT_ROOT / "dags")),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": settings.timezone,
        "GX_ANALYTICS_ENABLED": "False",
    }


def export_settings(settings: Settings) -> None:
    """Tasks run in this process and read their settings from the environment: pass ours on."""
    os.environ["DISTRICT_INBOX"] = str(settings.inbox)
    os.environ["DISTRICT_DATA"] = str(settings.data)
    os.environ["DISTRICT_WAREHOUSE_URL"] = settings.warehouse_url
    for key, value in airflow_environment(settings).items():
        os.environ.setdefault(key, value)


def ensure_airflow_db() -> None:
    """Create or migrate the Airflow metadata database (idempotent)."""
    from airflow.utils.db import upgradedb

    upgradedb()


def _load_dags():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        raise RunFailed(f"DAG import errors: {bag.import_errors}")
    return bag.dags["district_returns_monthly"], bag.dags["district_annual_statistics"]


def month_logical_date(period: str) -> dt.datetime:
    """The logical date a scheduled run of ``period`` has: its data interval starts on the 8th, 06:00."""
    year, month = (int(x) for x in period.split("-"))
    s = settings()
    return dt.datetime(year, month, s.deadline_day, s.deadline_hour, tzinfo=ZoneInfo(s.timezone)).astimezone(dt.UTC)


def _check_month(run, period: str) -> None:
    """The monthly run processed ``period`` (its task's return value names the month)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids="ingest_returns",
                                   key="return_value")
        value = session.scalars(query).first()
        got = (XComModel.deserialize_value(value) or {}).get("period") if value is not None else None
    if got != period:
        raise RunFailed(f"district_returns_monthly for {period} processed {got}")


def _check(run, what: str) -> None:
    from airflow.utils.state import DagRunState

    if run is None or run.state != DagRunState.SUCCESS:
        raise RunFailed(f"{what} ended in state {getattr(run, 'state', None)}")


def run_year_airflow(
    year: int, settings: Settings, periods: list[str] | None = None, log_file: Path | None = None
) -> list:
    """Every month of ``year`` through the monthly DAG, then the annual DAG, all via ``dag.test()``.

    Returns the DagRuns; raises RunFailed at the first that did not succeed (``dag.test()`` itself
    only logs task errors). With ``log_file``, Airflow's own output goes there instead of the terminal.
    """
    export_settings(settings)
    with _output_to(log_file):
        ensure_airflow_db()
        monthly, annual = _load_dags()
    runs = []
    for period in periods or months_of(year):
        started = time.monotonic()
        with _output_to(log_file):
            # No conf: the month comes from the logical date, as for a scheduled or backfill run of that date.
            run = monthly.test(logical_date=month_logical_date(period))
        _check(run, f"district_returns_monthly {period}")
        _check_month(run, period)
        print(f"district_returns_monthly {period}: {run.state} ({time.monotonic() - started:.1f} s)", flush=True)
        runs.append(run)
    with _output_to(log_file):
        run = annual.test(logical_date=None, run_conf={"year": year})
    _check(run, f"district_annual_statistics {year}")
    print(f"district_annual_statistics {year}: {run.state}", flush=True)
    runs.append(run)
    return runs


@contextlib.contextmanager
def _output_to(log_file: Path | None) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors, so Airflow's loggers too) to a file."""
    if log_file is None:
        yield
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_file.open("ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run_year_direct(year: int, settings: Settings, periods: list[str] | None = None) -> list[str]:
    """The same work as the DAGs (pipeline.jobs), called as plain functions (no Airflow)."""
    from pipeline.jobs import consolidate_year, process_month

    lines: list[str] = []
    for period in periods or months_of(year):
        result = process_month(period, settings)
        lines.extend(result.summary_zh.splitlines())
    consolidate_year(year, settings)
    return lines
