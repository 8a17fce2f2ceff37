"""The real DAGs over the 2020 sample year, through Airflow (``dag.test()``), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from conftest import assert_matches_report

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SEVEN = ["inspection_units", "inspection_tasks", "inspection_entities", "joint_inspections", "transfers_filed",
         "exam_takers", "trained_officers"]


def test_dags_reproduce_the_2020_report(inbox_copy, warehouse_url, make_settings):
    from airflow.utils.state import DagRunState

    from pipeline.figures import stored_figures
    from pipeline.runner import run_year_airflow
    from pipeline.warehouse import make_engine

    settings = make_settings(inbox_copy, warehouse_url)
    runs = run_year_airflow(2020, settings)
    assert [r.dag_id for r in runs] == ["district_returns_monthly"] * 12 + ["district_annual_statistics"]
    assert all(r.state == DagRunState.SUCCESS for r in runs)
    figures = {f["code"]: f["value"] for f in stored_figures(make_engine(warehouse_url), 2020)}
    assert_matches_report(figures, SEVEN)
    out = settings.out / "2020"
    assert (out / "figures.csv").read_text(encoding="utf-8-sig").splitlines()[0].startswith("指标代码")
    assert (out / "figures.xlsx").stat().st_size > 0
