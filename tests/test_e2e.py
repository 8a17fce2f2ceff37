"""The real DAGs over the sample years, through Airflow (``dag.test()``), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import pytest
from helpers import assert_matches_report, report_figures_2020

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def inbox_2018_2020(sample_inbox_2020, tmp_path_factory):
    """The 2020 sample plus 2018 and 2019 行政应诉 returns (the three-year appearance rate)."""
    import shutil

    from pipeline.samples.sample import LOOKBACK_FORMS, write_sample_year

    inbox = tmp_path_factory.mktemp("e2e") / "inbox"
    shutil.copytree(sample_inbox_2020, inbox, copy_function=shutil.copy2)
    for year in (2018, 2019):
        write_sample_year(year, inbox, forms=LOOKBACK_FORMS)
    return inbox


def test_dags_reproduce_the_2020_report(inbox_2018_2020, warehouse_url, make_settings):
    from airflow.utils.state import DagRunState

    from pipeline.figures.consolidate import stored_figures
    from pipeline.orchestration.runner import run_year_airflow
    from pipeline.warehouse.connect import make_engine

    settings = make_settings(inbox_2018_2020, warehouse_url)
    runs = [r for year in (2018, 2019, 2020) for r in run_year_airflow(year, settings)]
    assert [r.dag_id for r in runs] == (["district_returns_monthly"] * 12 + ["district_annual_statistics"]) * 3
    assert all(r.state == DagRunState.SUCCESS for r in runs)
    figures = {f["code"]: f["value"] for f in stored_figures(make_engine(warehouse_url), 2020)}
    assert set(figures) == set(report_figures_2020())
    assert_matches_report(figures, list(report_figures_2020()))
    out = settings.out / "2020"
    assert (out / "figures.csv").read_text(encoding="utf-8-sig").splitlines()[0].startswith("指标代码")
    assert (out / "figures.xlsx").stat().st_size > 0


def test_monthly_dag_writes_feedback_and_ends_its_log_with_what_to_send_back(
        sample_inbox_2020, warehouse_url, make_settings, tmp_path, capsys, caplog):
    import shutil

    from airflow.utils.state import DagRunState

    from pipeline.orchestration.runner import run_year_airflow

    inbox = tmp_path / "inbox"
    shutil.copytree(sample_inbox_2020 / "2020-12", inbox / "2020-12", copy_function=shutil.copy2)
    broken = sorted((inbox / "2020-12").glob("*.xlsx"))[0]
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])  # a truncated upload
    settings = make_settings(inbox, warehouse_url)
    caplog.set_level(logging.INFO)
    [monthly, annual] = run_year_airflow(2020, settings, periods=["2020-12"])
    assert monthly.state == annual.state == DagRunState.SUCCESS
    written = sorted(p for p in (settings.feedback / "2020-12").rglob("*") if p.is_file())
    assert written, "no feedback written for the truncated workbook"
    # dag.test() logs the task to this process's stdout, or through logging once Airflow has set it up.
    log = capsys.readouterr().out + caplog.text
    assert broken.name in log
    for path in written:
        assert f"已写出退回材料：{path}" in log
    # The closing summary is Chinese; refusals and missing units are warnings.
    warnings = [line for line in log.splitlines() if "[warning" in line or "WARNING" in line]
    assert any(f"退回：{broken.name}" in line for line in warnings), warnings
    assert any("尚未报送：" in line for line in warnings), warnings
    # The month needs attention: its last task is skipped (pink in the grid), the run still succeeded.
    states = {ti.task_id: ti.state for ti in monthly.get_task_instances()}
    assert states == {"ingest_returns": "success", "check_month_complete": "skipped"}, states
