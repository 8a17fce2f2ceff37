"""pipeline.jobs: one month and one year's consolidation, and the guards against emptier figures."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa

from pipeline.jobs import EmptierFigures, consolidate_year, process_month
from pipeline.warehouse.connect import make_engine
from pipeline.warehouse.load import dump
from pipeline.warehouse.schema import figure, figure_contribution, metadata

pytestmark = pytest.mark.integration
MONTHS = ["2020-01", "2020-02", "2020-03"]


@pytest.fixture
def loaded(sample_inbox_2020, tmp_path, warehouse_url, make_settings):
    """Three months of 2020 loaded and consolidated; the settings."""
    inbox = tmp_path / "inbox"
    for period in MONTHS:
        shutil.copytree(sample_inbox_2020 / period, inbox / period, copy_function=shutil.copy2)
    settings = make_settings(inbox, warehouse_url)
    results = [process_month(period, settings) for period in MONTHS]
    assert [r.period for r in results] == MONTHS
    consolidate_year(2020, settings)
    return settings


def _files(settings) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (settings.out / "2020").iterdir()}


def test_process_month_closes_with_a_chinese_summary(loaded):
    result = process_month("2020-02", loaded)
    assert result.summary_zh.startswith("2020-02 报告期汇入完成：收到 ")
    assert result.as_dict()["period"] == "2020-02"


def test_an_empty_warehouse_never_replaces_figures(loaded, tmp_path):
    """The demo's incident: another, empty warehouse consolidated into the same out folder."""
    import dataclasses

    before = _files(loaded)
    empty = dataclasses.replace(loaded, warehouse_url=f"sqlite:///{tmp_path / 'empty.sqlite'}")
    with pytest.raises(EmptierFigures, match="2020"):
        consolidate_year(2020, empty)
    assert _files(loaded) == before


def test_a_year_nobody_reported_for_is_not_created(loaded):
    result = consolidate_year(2026, loaded)
    assert result["skipped"]
    assert not (loaded.out / "2026").exists()


def test_losing_counted_units_is_refused_and_changes_nothing(loaded):
    engine = make_engine(loaded.warehouse_url)
    before_files, before_rows = _files(loaded), dump(engine, [figure, figure_contribution])
    with engine.connect() as conn:
        unit = conn.execute(sa.select(figure_contribution.c.unit_code)
                            .where(figure_contribution.c.unit_code != "*", figure_contribution.c.value != 0)
                            .limit(1)).scalar_one()
    with engine.begin() as conn:  # the unit's returns vanish from the warehouse (a restore gone wrong)
        # Its facts only: the submissions stay, so no foreign key stands in the way on PostgreSQL.
        for table in metadata.sorted_tables:
            if "unit_code" in table.c and table.name.startswith("fact_"):
                conn.execute(table.delete().where(table.c.unit_code == unit))
    with pytest.raises(EmptierFigures, match="未计入"):
        consolidate_year(2020, loaded)
    assert _files(loaded) == before_files
    assert dump(engine, [figure, figure_contribution]) == before_rows
    # The operator who knows the returns were withdrawn says so, and the figures follow.
    consolidate_year(2020, loaded, accept_fewer=True)
    assert dump(engine, [figure, figure_contribution]) != before_rows
    engine.dispose()


def test_pipeline_run_keeps_its_airflow_runs_out_of_the_uis_metadata(tmp_path, monkeypatch):
    """``make demo`` exports AIRFLOW_HOME=var/airflow (the UI's); ``pipeline run`` must not use it."""
    import os

    from pipeline import cli
    from pipeline.orchestration import runner

    seen = {}
    monkeypatch.setenv("DISTRICT_DATA", str(tmp_path / "var"))
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "var" / "airflow"))
    monkeypatch.setattr(runner, "run_year_airflow", lambda year, s, log_file=None: seen.setdefault(
        "home", os.environ["AIRFLOW_HOME"]))
    from pipeline.warehouse.schema import ensure_schema

    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    ensure_schema(make_engine(url))
    assert cli.main(["run", "--inbox", str(tmp_path / "inbox"), "--year", "2020", "--warehouse", url]) == 0
    assert seen["home"] == str((tmp_path / "var" / "cli-airflow").resolve())
