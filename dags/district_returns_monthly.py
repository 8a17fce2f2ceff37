"""
### 月报汇入：每个运行处理一个报告期（district returns, one reporting month per run）

读取 `inbox/<YYYY-MM>/` 中的每个工作簿，按 SHA-256 归档，用各报表的 Great Expectations 校验规则
（`expectations/`）逐表校验，并在一个事务中把该月载入区数据仓库。被退回的报表连同全部原因（工作表、
单元格、栏目、值）单独存放，该月其余报表照常载入。每个被退回的工作簿在 `feedback/<YYYY-MM>/` 下生成
一份标注副本和一份退回通知；`ingest_returns` 的日志以中文汇总结束：要退回改正的问题和尚未报送的单位
（均记为警告）。

**一个运行处理哪个月：其逻辑日期所在的月份（北京时间）**

| 运行 | 逻辑日期 | 处理的月份 |
|---|---|---|
| 定时运行（scheduled） | M 月 8 日 06:00（运行本身在 M+1 月 8 日、即 M 月报送截止时开始） | M |
| 回填（backfill），任一重新处理选项 | 区间内每个 8 日 06:00（如 2020-03-01 → 2020-05-31） | 2020-03 … 2020-05 |
| `python -m pipeline run` / `make demo` | M 月 8 日 06:00 | M |
| 手动运行，填写 `报告期` | 任意 | 所填月份 |
| 手动运行，不填 `报告期` | 有 / 无 | 逻辑日期所在月份 / 上个月 |

定时运行或回填运行的运行参数（conf）若指定了另一个月份，立即失败、不重试，消息中写明两个月份。
运行 ID（如 `backfill__2020-03-07T22:00:00+00:00`，UTC 时间）和逻辑日期指明月份；任务的返回值和资产
事件的 extra（`period`）也写明月份。

**绿色还是粉色：哪个月需要跟进。** 只要该月载入成功，运行即为成功（绿色）。最后一个任务
`check_month_complete`：所有单位均已报送、无退回、无待核实数值时为 *success*（绿色）；有被退回的
工作簿、有单位尚未报送或有待核实的数值（核实性审核提示）时为 *skipped*（粉色），跳过原因写明各有几个，
`ingest_returns` 日志末尾写明是哪些。

重新运行某月是安全的：收件箱没有变化时，数据仓库保持不变。载入完成后更新资产
`district://warehouse/monthly-returns`，由此触发 `district_annual_statistics` 汇总该月所属的年度。
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from pipeline.config import settings
from pipeline.orchestration.assets import MONTHLY_RETURNS

# The schedule is the deadline (DISTRICT_DEADLINE_DAY/HOUR in DISTRICT_TZ), as config reads it.
_SETTINGS = settings()


@dag(
    dag_id="district_returns_monthly",
    schedule=CronDataIntervalTimetable(
        f"0 {_SETTINGS.deadline_hour} {_SETTINGS.deadline_day} * *", timezone=_SETTINGS.timezone
    ),
    # Early enough for any month the bureau may backfill (the appearance rate looks back to 2018):
    # Airflow creates no task for a run whose logical date is before the start date.
    start_date=pendulum.datetime(2015, 1, 1, tz=_SETTINGS.timezone),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "period": Param(
            None, type=["null", "string"], pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
            title="报告期 (YYYY-MM)",
            description="手动运行时要处理的月份；留空则为逻辑日期所在月份（没有逻辑日期时为上个月）。"
                        "回填时请留空：每个运行处理自己的月份，填写其他月份的运行会立即失败。",
        ),
    },
    tags=["district", "monthly", "returns"],
    doc_md=__doc__,
)
def district_returns_monthly():
    # One task for the load, not one per stage: every task is a process that imports the pipeline and
    # Great Expectations, and every hop waits for the scheduler. Each stage is idempotent: a retry changes nothing.
    @task(outlets=[MONTHLY_RETURNS],
          doc_md="确定本运行的报告期；归档、读取、校验并载入该月报表；为被退回的工作簿写出退回材料；"
                 "日志末尾用中文汇总要退回改正的问题和尚未报送的单位。")
    def ingest_returns(params=None, dag_run=None, outlet_events=None) -> dict:
        """Name the run's month; archive, read, validate and load its returns; write the feedback for refused
        ones; end the log with what to send back and who is missing."""
        from pipeline.jobs import process_month
        from pipeline.orchestration.airflow_glue import run_period, task_settings

        settings = task_settings()
        result = process_month(run_period(dag_run, params, settings.timezone), settings)
        outlet_events[MONTHLY_RETURNS].extra = {
            "period": result.period, "year": int(result.period[:4]),
            "needs_attention": result.needs_attention, "attention_zh": result.attention_zh(),
        }
        return result.as_dict()

    @task(doc_md="所有单位均已报送、无退回、无待核实数值时为成功（绿色）；否则跳过（粉色），跳过原因写明"
                 "被退回的工作簿数、未报送的单位数和待核实的数值数，详见 ingest_returns 日志末尾的汇总。")
    def check_month_complete(result: dict) -> str:
        """Success when every unit reported, nothing was refused and nothing is 待核实; skipped (pink) otherwise."""
        from airflow.sdk.exceptions import AirflowSkipException

        if result["needs_attention"]:
            raise AirflowSkipException(f"{result['attention_zh']}（详见 ingest_returns 日志末尾的汇总）")
        return f"{result['period']}：全部单位已报送，无退回"

    check_month_complete(ingest_returns())


district_returns_monthly()
