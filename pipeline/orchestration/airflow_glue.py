"""What the DAGs need from Airflow at task time, kept out of the DAG files and out of parse time."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pipeline.config import Settings, normalise_url, settings, warehouse_url_set

log = logging.getLogger(__name__)

WAREHOUSE_CONN_ID = "district_warehouse"

#: Airflow settings every deployment of this project runs with (``make airflow``, the service tests;
#: docker-compose.yml repeats them, and tests/test_deploy.py checks that it does).
AIRFLOW_SETTINGS = {
    # A task's supervisor notices that the task process ended at once, unless the process closed its
    # sockets before exiting; then only at its next heartbeat check, this many seconds later (default 5),
    # and the worker slot stays taken meanwhile. Forked task processes often exit that way: 5 s were
    # added to a quarter of a backfill's tasks. A heartbeat a second costs one small API call per running task.
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
}


def task_settings() -> Settings:
    """Settings for a task: the ``district_warehouse`` connection wins when Airflow has one."""
    if not warehouse_url_set():
        try:
            from airflow.sdk import Connection

            conn = Connection.get(WAREHOUSE_CONN_ID)
            return settings(normalise_url(conn.get_uri()))
        except Exception as exc:  # noqa: BLE001 - no such connection: the embedded default applies
            log.info("no %s connection (%s); using the configured warehouse", WAREHOUSE_CONN_ID, type(exc).__name__)
    return settings()


def run_period(dag_run: object, params: dict | None, tz: str) -> str:
    """The month a monthly run processes (pipeline.periods.resolve_run_period); a conf that contradicts the
    run's own month fails the task at once, without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.periods import PeriodConflict, resolve_run_period

    logical_date = getattr(dag_run, "logical_date", None)
    run_type = getattr(dag_run, "run_type", None)
    try:
        return resolve_run_period((params or {}).get("period"), logical_date, run_type, tz=tz)
    except PeriodConflict as exc:
        raise AirflowFailException(str(exc)) from exc


MONTHLY_DAG_ID = "district_returns_monthly"
#: Monthly run states that will still update the monthly asset.
PENDING_STATES = ("queued", "running")


def pending_monthly_runs(get_dr_count: Callable[..., int]) -> int:
    """How many monthly runs are queued or running, counted by the Task SDK's ``get_dr_count``.

    Each of those will update the monthly asset again and bring the annual DAG back, so consolidating
    before they finish would be redone: a 12-month backfill then consolidates twice, not 12 times.
    """
    return get_dr_count(dag_id=MONTHLY_DAG_ID, states=list(PENDING_STATES))


def monthly_runs_settled(ti: object) -> bool:
    """True when no monthly run is queued or running (asked through the task instance ``ti``)."""
    pending = pending_monthly_runs(ti.get_dr_count)  # type: ignore[attr-defined]
    if pending:
        log.info("%d monthly run(s) queued or running; consolidating once they are done", pending)
    return not pending
