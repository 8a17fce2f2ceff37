"""
### 年度统计 — the report's figures for a year

Consolidates the submissions in force for a year into the figures the annual rule-of-law report
cites, stores them in the warehouse (`figure`, `figure_contribution`) and writes
`out/<year>/figures.csv` and `figures.xlsx`.

Runs whenever `district_returns_monthly` updates its asset (the year is taken from the asset
event), or manually with the `year` Param. It first waits while monthly runs are queued or running
(a backfill; the wait is deferred to the triggerer and holds no worker slot): their asset events
gather into the next run, so a year's backfill consolidates once rather than once per month. A run
whose year has not changed since the last consolidation (the table `consolidation` holds a digest
of its inputs) leaves the figures and files as they are. After two hours of waiting, or if the wait
fails, it consolidates anyway. A manual run with `year` always consolidates.

It never silently replaces figures with emptier ones: a year nobody has an accepted return for is
not consolidated (no `out/<year>` appears), and a consolidation that would drop the year's figures
to zero or lose units counted last time fails at once (red), leaving the figures and files as they
were; its log names the year and the units. Run it manually with `接受减少` ticked when that is right.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from pipeline.assets import MONTHLY_RETURNS
from pipeline.triggers import WaitForMonthlyRunsOperator


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
            title="年度", description="要汇总的年度；留空则为触发它的资产事件所属年度。",
        ),
        "accept_fewer": Param(
            False, type="boolean", title="接受减少",
            description="汇总结果比上次少（指标归零或少计单位）时仍替换指标和文件；默认拒绝。",
        ),
    },
    tags=["district", "annual", "figures"],
    doc_md=__doc__,
)
def district_annual_statistics():
    # Deferred: while it waits the triggerer polls and no worker slot is held, which the monthly runs
    # it waits for need (pipeline/triggers.py says why this is not a sensor).
    wait = WaitForMonthlyRunsOperator(
        task_id="wait_for_monthly_runs", poll_interval_s=2.0, wait_timeout=timedelta(hours=2),
        retry_delay=timedelta(seconds=10),
        doc_md="Wait, without a worker slot, until no monthly run is queued or running; after two hours, go on.",
    )

    # all_done: the wait only saves work; whether it succeeded, timed out or failed, consolidate.
    @task(trigger_rule="all_done")
    def consolidate_figures(params=None, triggering_asset_events=None) -> list[dict]:
        """Compute, store and write out the figures of the year(s): the Param, else the asset events' years."""
        from airflow.sdk.exceptions import AirflowFailException

        from pipeline.airflow_glue import task_settings
        from pipeline.annual import years_to_consolidate
        from pipeline.jobs import EmptierFigures, consolidate_year

        year_param = (params or {}).get("year")
        years = years_to_consolidate(year_param, triggering_asset_events)
        done, refused = [], []
        for year in years:
            try:
                # Asset-triggered: a year whose inputs have not changed since its last consolidation stands.
                done.append(consolidate_year(year, task_settings(), unless_unchanged=not year_param,
                                             accept_fewer=bool((params or {}).get("accept_fewer"))))
            except EmptierFigures as exc:
                refused.append(str(exc))
        if refused:
            # Retrying reads the same warehouse: fail now, loudly, with the figures and files left as they were.
            raise AirflowFailException("\n".join(refused))
        return done

    wait >> consolidate_figures()


district_annual_statistics()
