"""
### 月报汇入 — district returns, one reporting month per run

Reads every workbook in `inbox/<YYYY-MM>/`, archives it by SHA-256, validates each form with its
Great Expectations suite (`expectations/`) and loads the month into the district warehouse in one
transaction. Refused returns are quarantined with every reason (sheet, cell, column, value) and
the rest of the month still loads. It writes a marked-up copy and a 退回通知 for each refused
workbook under `feedback/<YYYY-MM>/`; the task's log ends with the problems to send back and the
units still missing returns.

**Which month a run processes**

| run | month |
|---|---|
| scheduled | month M runs after its deadline, the 8th of M+1 at 06:00 Asia/Shanghai, and processes M |
| backfill over a date range | every month M whose 8th lies in the range (2020-01-01 → 2020-12-31: 2020-01 … 2020-12) |
| manual with `period` | that month (`YYYY-MM`) |
| manual without `period` | the last complete month |

Re-running a month is safe: it leaves the warehouse unchanged unless the inbox changed.
When it finishes it updates the asset `district://warehouse/monthly-returns`, which starts
`district_annual_statistics` for the month's year.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from pipeline.assets import MONTHLY_RETURNS

_DAY = int(os.environ.get("DISTRICT_DEADLINE_DAY", "8"))
_HOUR = int(os.environ.get("DISTRICT_DEADLINE_HOUR", "6"))
_TZ = os.environ.get("DISTRICT_TZ", "Asia/Shanghai")


@dag(
    dag_id="district_returns_monthly",
    schedule=CronDataIntervalTimetable(f"0 {_HOUR} {_DAY} * *", timezone=_TZ),
    # Early enough for any month the bureau may backfill (the appearance rate looks back to 2018):
    # Airflow creates no task for a run whose logical date is before the start date.
    start_date=pendulum.datetime(2015, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "period": Param(
            None, type=["null", "string"], pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
            title="报告期 (YYYY-MM)", description="Reporting month to process; empty: derived from the run.",
        ),
    },
    tags=["district", "monthly", "returns"],
    doc_md=__doc__,
)
def district_returns_monthly():
    # One task, not one per stage: every task is a process that imports the pipeline and Great
    # Expectations, and every hop between tasks waits for the scheduler, so the stages run batched
    # inside it, in this order. Each stage is idempotent: a retry redoes the month and changes nothing.
    @task(outlets=[MONTHLY_RETURNS])
    def ingest_returns(params=None, data_interval_start=None, dag_run=None, outlet_events=None) -> dict:
        """Name the run's month; archive, read, validate and load its returns; write the feedback for refused
        ones; end the log with what to send back and who is missing."""
        from pipeline.airflow_glue import task_settings
        from pipeline.feedback import write_month_feedback
        from pipeline.ingest import run_month
        from pipeline.periods import resolve_run_period
        from pipeline.problems_report import log_month_summary
        from pipeline.validate import build_data_docs

        run_type = getattr(getattr(dag_run, "run_type", None), "value", getattr(dag_run, "run_type", None))
        period = resolve_run_period((params or {}).get("period"), data_interval_start, run_type, tz=_TZ)
        settings = task_settings()
        summary = run_month(period, settings).as_dict()
        build_data_docs(settings.data_docs)
        feedback = [str(p) for p in write_month_feedback(period, settings)]
        log_month_summary(period, settings, summary, feedback)
        outlet_events[MONTHLY_RETURNS].extra = {"period": period, "year": int(period[:4])}
        return {**summary, "feedback": feedback}

    ingest_returns()


district_returns_monthly()
