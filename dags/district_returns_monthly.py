"""
### 月报汇入 — district returns, one reporting month per run

Reads every workbook in `inbox/<YYYY-MM>/`, archives it by SHA-256, validates each form with its
Great Expectations suite (`expectations/`) and loads the month into the district warehouse in one
transaction. Refused returns are quarantined with every reason (sheet, cell, column, value) and
the rest of the month still loads. It writes a marked-up copy and a 退回通知 for each refused
workbook under `feedback/<YYYY-MM>/`; the task's log ends with a Chinese summary: the problems to
send back and the units still missing returns (both as warnings).

**Which month a run processes: the month of its logical date (Asia/Shanghai)**

| run | logical date | month |
|---|---|---|
| scheduled | the 8th of M, 06:00 (the run starts on the 8th of M+1, M's deadline) | M |
| backfill, any reprocess choice | each 8th, 06:00 in the range (2020-03-01 → 2020-05-31) | 2020-03 … 2020-05 |
| `python -m pipeline run` | the 8th of M, 06:00 | M |
| manual with `报告期` | any | that month |
| manual without `报告期` | given / none | its logical date's month / the previous month |

A scheduled or backfill run whose conf names another month than its own fails at once, without
retries, naming both. The run id (`backfill__2020-03-07T22:00:00+00:00`, UTC) and the logical date
name the month; so do the task's return value and the asset event's extra (`period`).

**Green, or pink: what to chase.** The run succeeds whenever the month loaded. Its last task,
`check_month_complete`, is *success* (green) when every unit reported and nothing was refused,
and *skipped* (pink) when returns were refused or units are missing: its log says which.

Re-running a month is safe: it leaves the warehouse unchanged unless the inbox changed.
When the load finishes it updates the asset `district://warehouse/monthly-returns`, which starts
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
            title="报告期 (YYYY-MM)",
            description="手动运行时要处理的月份；留空则为逻辑日期所在月份。回填时请留空：每个运行处理自己的月份。",
        ),
    },
    tags=["district", "monthly", "returns"],
    doc_md=__doc__,
)
def district_returns_monthly():
    # One task for the load, not one per stage: every task is a process that imports the pipeline and
    # Great Expectations, and every hop waits for the scheduler. Each stage is idempotent: a retry changes nothing.
    @task(outlets=[MONTHLY_RETURNS])
    def ingest_returns(params=None, dag_run=None, outlet_events=None) -> dict:
        """Name the run's month; archive, read, validate and load its returns; write the feedback for refused
        ones; end the log with what to send back and who is missing."""
        from pipeline.airflow_glue import run_period, task_settings
        from pipeline.jobs import process_month

        result = process_month(run_period(dag_run, params, _TZ), task_settings())
        outlet_events[MONTHLY_RETURNS].extra = {
            "period": result.period, "year": int(result.period[:4]),
            "needs_attention": result.needs_attention, "attention_zh": result.attention_zh(),
        }
        return result.as_dict()

    @task
    def check_month_complete(result: dict) -> str:
        """Success when every unit reported and nothing was refused; skipped (pink in the grid) otherwise."""
        from airflow.sdk.exceptions import AirflowSkipException

        if result["needs_attention"]:
            raise AirflowSkipException(f"{result['attention_zh']}（详见 ingest_returns 日志末尾的汇总）")
        return f"{result['period']}：全部单位已报送，无退回"

    check_month_complete(ingest_returns())


district_returns_monthly()
