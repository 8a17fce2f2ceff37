"""
### 年度统计 — the report's figures for a year

Consolidates the submissions in force for a year into the figures the annual rule-of-law report
cites, stores them in the warehouse (`figure`, `figure_contribution`) and writes
`out/<year>/figures.csv` and `figures.xlsx`.

Runs whenever `district_returns_monthly` updates its asset (the year is taken from the asset
event), or manually with the `year` Param. It first waits while monthly runs are queued or running
(a backfill): their asset events gather into the next run, so a year's backfill consolidates once
rather than once per month; a run whose year has not changed since the last consolidation (the
table `consolidation` holds a digest of its inputs) leaves the figures and files as they are. After
two hours of waiting, or if the wait fails, it consolidates anyway. A manual run with `year` always consolidates.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from pipeline.assets import MONTHLY_RETURNS


@dag(
    dag_id="district_annual_statistics",
    schedule=[MONTHLY_RETURNS],
    start_date=pendulum.datetime(2020, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "year": Param(
            None, type=["null", "integer"], minimum=2000, maximum=2100,
            title="年度", description="Year to consolidate; empty: the year of the triggering asset event.",
        ),
    },
    tags=["district", "annual", "figures"],
    doc_md=__doc__,
)
def district_annual_statistics():
    # reschedule: between pokes the wait holds no worker slot, which the monthly runs it waits for need.
    # Airflow's supervisor may report a rescheduled poke only at its next heartbeat check (5 s,
    # [workers] min_heartbeat_interval); a shorter interval lets the scheduler requeue the next poke
    # before that report, which it then marks up for retry (measured at 5 s): hence 10 s, and short,
    # plentiful retries for when a busy machine delays the report longer.
    @task.sensor(poke_interval=10, mode="reschedule", timeout=2 * 3600, soft_fail=True,
                 retries=10, retry_delay=timedelta(seconds=10))
    def wait_for_monthly_runs(ti=None) -> bool:
        """Wait until no monthly run is queued or running; after the timeout it is skipped, not failed."""
        from pipeline.airflow_glue import monthly_runs_settled

        return monthly_runs_settled(ti)

    # all_done: the wait only saves work; whether it succeeded, timed out or failed, consolidate.
    @task(trigger_rule="all_done")
    def consolidate_figures(params=None, triggering_asset_events=None) -> list[dict]:
        """Compute, store and write out the figures of the year(s): the Param, else the asset events' years."""
        from pipeline.airflow_glue import task_settings
        from pipeline.annual import consolidate_year, years_to_consolidate

        year_param = (params or {}).get("year")
        years = years_to_consolidate(year_param, triggering_asset_events)
        # Asset-triggered: a year whose inputs have not changed since its last consolidation is left as it is.
        return [consolidate_year(year, task_settings(), unless_unchanged=not year_param) for year in years]

    wait_for_monthly_runs() >> consolidate_figures()


district_annual_statistics()
