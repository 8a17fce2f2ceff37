"""The DAG files: they import cleanly, stay light at parse time, and say what they do."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

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
        " 'pipeline.ingest', 'pipeline.validate') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip().splitlines()[-1:] in ([], [""]), out.stdout
