"""
### 年度统计 — the report's figures for a year

Consolidates the submissions in force for a year into the figures the annual rule-of-law report
cites, stores them in the warehouse (`figure`, `figure_contribution`) and writes
`out/<year>/figures.csv` and `figures.xlsx`.

Runs whenever `district_returns_monthly` updates its asset (the year is taken from the asset
event), or manually with the `year` Param.
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
    @task
    def consolidate_figures(params=None, triggering_asset_events=None) -> list[dict]:
        """Compute, store and write out the figures of the year(s): the Param, else the asset events' years."""
        from pipeline.airflow_glue import task_settings
        from pipeline.annual import consolidate_year, years_to_consolidate

        years = years_to_consolidate((params or {}).get("year"), triggering_asset_events)
        return [consolidate_year(year, task_settings()) for year in years]

    consolidate_figures()


district_annual_statistics()
