"""The DAG files: they import cleanly, stay light at parse time, and say what they do."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import REPO

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"district_returns_monthly", "district_annual_statistics"}


@pytest.mark.parametrize("dag_id", ["district_returns_monthly", "district_annual_statistics"])
def test_docs_tags_retries_and_timezone(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.doc_md and len(dag.doc_md) > 200
    assert "district" in dag.tags
    assert str(dag.timezone) in ("Asia/Shanghai", "Timezone('Asia/Shanghai')")
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.doc_md or task.doc or task.python_callable.__doc__, task.task_id


def test_monthly_dag_batches_by_stage_and_emits_the_asset(dagbag):
    dag = dagbag.dags["district_returns_monthly"]
    assert len(dag.tasks) <= 6  # never one task per workbook
    outlets = [o for t in dag.tasks for o in t.outlets]
    assert [o.uri for o in outlets] == ["district://warehouse/monthly-returns"]
    assert "period" in dag.params


def test_annual_dag_is_scheduled_on_the_monthly_asset(dagbag):
    dag = dagbag.dags["district_annual_statistics"]
    assert [a.uri for a in dag.timetable.asset_condition.objects] == [
        "district://warehouse/monthly-returns"]
    assert "year" in dag.params


def test_dag_modules_import_nothing_heavy():
    code = (
        "import sys, runpy\n"
        f"for f in ['{REPO}/dags/district_returns_monthly.py', '{REPO}/dags/district_annual_statistics.py']:\n"
        "    runpy.run_path(f)\n"
        "heavy = [m for m in ('pandas', 'great_expectations', 'openpyxl',"
        " 'pipeline.ingest', 'pipeline.validation.suites', 'pipeline.validation.validate') if m in sys.modules]\n"
        "print('heavy:' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    # Providers may log warnings to stdout too: read only the line this code printed.
    assert [line for line in out.stdout.splitlines() if line.startswith("heavy:")] == ["heavy:"], out.stdout


def test_annual_dag_waits_for_pending_monthly_runs_without_holding_a_slot(dagbag):
    dag = dagbag.dags["district_annual_statistics"]
    wait, consolidate = dag.get_task("wait_for_monthly_runs"), dag.get_task("consolidate_figures")
    assert wait.downstream_task_ids == {"consolidate_figures"}
    assert wait.wait_timeout and wait.poll_interval_s <= 5
    assert consolidate.trigger_rule == "all_done"  # a failed wait still consolidates


class _Counts:
    """``get_dr_count`` answering from a list, recording what it was asked."""

    def __init__(self, answers: list[int]):
        self.answers, self.asked = list(answers), []

    def __call__(self, **query):
        self.asked.append(query)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def _events(trigger) -> list:
    import asyncio

    async def collect():
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


def test_wait_succeeds_at_once_when_nothing_is_pending_and_defers_otherwise(dagbag, caplog):
    from airflow.sdk.exceptions import TaskDeferred

    from pipeline.orchestration.triggers import TRIGGER_PATH

    wait = dagbag.dags["district_annual_statistics"].get_task("wait_for_monthly_runs")

    class TaskInstance:
        def __init__(self, pending: int):
            self.get_dr_count = _Counts([pending])

    assert wait.execute({"ti": TaskInstance(0)}) is None
    with pytest.raises(TaskDeferred) as deferred:
        wait.execute({"ti": TaskInstance(3)})
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == TRIGGER_PATH and kwargs["timeout_s"] == wait.wait_timeout.total_seconds()
    assert deferred.value.method_name == "execute_complete" and deferred.value.timeout > wait.wait_timeout
    # What the triggerer's event brings back ends the wait either way; giving up is logged.
    caplog.clear()
    with caplog.at_level("WARNING", logger="pipeline.orchestration.triggers"):
        wait.execute_complete({}, {"settled": True})
        assert "still pending" not in caplog.text
        wait.execute_complete({}, {"settled": False, "pending": 2})
    assert "still pending" in caplog.text


def test_trigger_fires_once_no_monthly_run_is_pending(monkeypatch):
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    from pipeline.orchestration.airflow_glue import MONTHLY_DAG_ID
    from pipeline.orchestration.triggers import MonthlyRunsSettledTrigger

    counts = _Counts([3, 1, 0])
    monkeypatch.setattr(RuntimeTaskInstance, "get_dr_count", staticmethod(counts))
    events = _events(MonthlyRunsSettledTrigger(poll_interval_s=0.01))
    assert [e.payload for e in events] == [{"settled": True}]
    assert counts.asked == [{"dag_id": MONTHLY_DAG_ID, "states": ["queued", "running"]}] * 3


def test_trigger_gives_up_after_its_timeout(monkeypatch):
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    from pipeline.orchestration.triggers import MonthlyRunsSettledTrigger

    monkeypatch.setattr(RuntimeTaskInstance, "get_dr_count", staticmethod(_Counts([2])))
    events = _events(MonthlyRunsSettledTrigger(poll_interval_s=0.01, timeout_s=0.05))
    assert [e.payload for e in events] == [{"settled": False, "pending": 2}]


def test_monthly_runs_settled_counts_the_monthly_dags_queued_and_running_runs(dagbag):
    from pipeline.orchestration.airflow_glue import MONTHLY_DAG_ID, monthly_runs_settled

    class TaskInstance:
        def __init__(self, pending: int):
            self.pending, self.asked = pending, None

        def get_dr_count(self, **query):
            self.asked = query
            return self.pending

    busy, idle = TaskInstance(2), TaskInstance(0)
    assert monthly_runs_settled(busy) is False and monthly_runs_settled(idle) is True
    assert busy.asked == {"dag_id": MONTHLY_DAG_ID, "states": ["queued", "running"]}
    assert MONTHLY_DAG_ID in dagbag.dag_ids
