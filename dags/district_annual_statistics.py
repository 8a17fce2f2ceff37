"""
### 年度统计：一年的报告指标（annual statistics, the report's figures for a year）

把一年中有效的报表汇总为法治政府建设年度报告引用的指标，存入数据仓库（`figure`、
`figure_contribution`），并写出 `out/<year>/figures.csv` 和 `figures.xlsx`。

每当 `district_returns_monthly` 更新其资产时运行（年度取自资产事件），也可手动运行并填写 `年度`。
它先等待排队中或运行中的月度运行（例如回填期间；等待交给触发器 triggerer，不占用工作槽位）：这些
运行的资产事件汇集到下一次运行，因此回填一年只汇总一次，而不是每月一次。自上次汇总以来输入没有
变化的年度（表 `consolidation` 保存其输入摘要）保持指标和文件不变。等待超过两小时或等待失败时，
照常汇总。手动填写 `年度` 的运行总是重新汇总。

它绝不悄悄地以更少的指标替换原有指标：没有任何已接收报表的年度不汇总（不生成 `out/<year>`）；
汇总会使该年指标全部归零（包括数据仓库中没有某个已有指标年度的任何已接收报表）、少计上次计入的
单位，或覆盖由另一个数据仓库写出的文件（`out/<year>/.warehouse` 写明是哪个）时，立即失败（红色）、
不重试，指标和文件保持原样；日志写明年度和原因。确属应当时（例如某单位的报表已撤回），手动运行
并填写 `年度`、勾选 `接受减少`。
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from pipeline.config import settings
from pipeline.orchestration.assets import MONTHLY_RETURNS
from pipeline.orchestration.triggers import WaitForMonthlyRunsOperator


@dag(
    dag_id="district_annual_statistics",
    schedule=[MONTHLY_RETURNS],
    start_date=pendulum.datetime(2020, 1, 1, tz=settings().timezone),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "year": Param(
            None, type=["null", "integer"], minimum=2000, maximum=2100,
            title="年度", description="要汇总的年度；留空则为触发它的资产事件所属年度。填写时总是重新汇总该年度。",
        ),
        "accept_fewer": Param(
            False, type="boolean", title="接受减少",
            description="汇总结果比上次少（指标归零或少计单位），或 out/<年度> 中的文件由另一个数据仓库写出时，"
                        "仍替换指标和文件；默认拒绝。仅在确属应当时勾选（例如某单位的报表已撤回）。",
        ),
    },
    tags=["district", "annual", "figures"],
    doc_md=__doc__,
)
def district_annual_statistics():
    # Deferred: while it waits the triggerer polls and no worker slot is held, which the monthly runs
    # it waits for need (pipeline/orchestration/triggers.py says why this is not a sensor).
    wait = WaitForMonthlyRunsOperator(
        task_id="wait_for_monthly_runs", poll_interval_s=2.0, wait_timeout=timedelta(hours=2),
        retry_delay=timedelta(seconds=10),
        doc_md="等待到没有排队中或运行中的月度运行，期间不占用工作槽位；两小时后照常继续。"
               "（Wait, without a worker slot, until no monthly run is queued or running; after two hours, go on.）",
    )

    # all_done: the wait only saves work; whether it succeeded, timed out or failed, consolidate.
    @task(trigger_rule="all_done",
          doc_md="计算并保存年度指标，写出 out/<year>/ 下的指标文件：年度取自参数“年度”，未填写时取自资产事件；"
                 "指标会变少时拒绝替换（见 DAG 说明）。")
    def consolidate_figures(params=None, triggering_asset_events=None) -> list[dict]:
        """Compute, store and write out the figures of the year(s): the Param, else the asset events' years."""
        from airflow.sdk.exceptions import AirflowFailException

        from pipeline.annual import years_to_consolidate
        from pipeline.jobs import EmptierFigures, consolidate_year
        from pipeline.orchestration.airflow_glue import task_settings

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
