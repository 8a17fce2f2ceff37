"""Shared fixtures and hooks: a sample inbox, the 2018–2020 sample warehouse, warehouses on SQLite and on
PostgreSQL, isolated settings. Helpers the tests import are in helpers.py."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from helpers import SAMPLE_YEARS, fresh_pg_database, load_sample_years

# Airflow reads its home at first import: give the whole test session its own, before anything imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="district-airflow-"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parent.parent / "dags"))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
for _var in ("DISTRICT_WAREHOUSE_URL", "AIRFLOW_CONN_DISTRICT_WAREHOUSE", "DISTRICT_INBOX", "DISTRICT_DATA"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def sample_inbox_2020(tmp_path_factory) -> Path:
    from pipeline.samples.sample import write_sample_year

    inbox = tmp_path_factory.mktemp("sample") / "inbox"
    write_sample_year(2020, inbox)
    return inbox


@pytest.fixture
def inbox_copy(sample_inbox_2020, tmp_path) -> Path:
    """A private, writable copy of the 2020 sample inbox (mtimes kept: they are receipt times)."""
    target = tmp_path / "inbox"
    shutil.copytree(sample_inbox_2020, target, copy_function=shutil.copy2)
    return target


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request, tmp_path) -> str:
    """The warehouse on both engines the product supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def make_settings(tmp_path, monkeypatch):
    """Settings with the data folder under tmp_path, for a given inbox and warehouse."""
    from pipeline.config import settings

    def make(inbox: Path, url: str):
        monkeypatch.setenv("DISTRICT_DATA", str(tmp_path / "data"))
        monkeypatch.setenv("DISTRICT_INBOX", str(inbox))
        return settings(url)

    return make


@pytest.fixture(scope="session")
def sample_inbox_2018_2020(sample_inbox_2020: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 2020 sample inbox with 2018 and 2019 added (行政应诉 only, for the three-year rate and year-on-year)."""
    from pipeline.samples.sample import LOOKBACK_FORMS, write_sample_year

    inbox = tmp_path_factory.mktemp("inbox-2018-2020") / "inbox"
    shutil.copytree(sample_inbox_2020, inbox, copy_function=shutil.copy2)
    for year in SAMPLE_YEARS[:-1]:
        write_sample_year(year, inbox, forms=LOOKBACK_FORMS)
    return inbox


# The sample warehouse is loaded once per engine for the session (a year takes a minute to ingest): tests
# that use it only read it.
@pytest.fixture(scope="session")
def sample_warehouse_sqlite(sample_inbox_2018_2020: Path, tmp_path_factory: pytest.TempPathFactory):
    """(settings, engine) of the 2018–2020 sample loaded and consolidated on SQLite; read only."""
    folder = tmp_path_factory.mktemp("sqlite-warehouse")
    return load_sample_years(f"sqlite:///{folder / 'warehouse.sqlite'}", sample_inbox_2018_2020, folder / "data")


@pytest.fixture(scope="session")
def sample_warehouse_pg(sample_inbox_2018_2020: Path, tmp_path_factory: pytest.TempPathFactory):
    """(settings, engine) of the 2018–2020 sample loaded and consolidated on PostgreSQL; read only."""
    with fresh_pg_database() as url:
        s, engine = load_sample_years(url, sample_inbox_2018_2020, tmp_path_factory.mktemp("pg-warehouse") / "data")
        yield s, engine
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], scope="session")
def sample_warehouse(request):
    """(settings, engine) of the 2018–2020 sample warehouse, on both engines; read only."""
    return request.getfixturevalue("sample_warehouse_sqlite" if request.param == "sqlite" else "sample_warehouse_pg")


def pytest_collection_modifyitems(config, items):
    """The compose tier runs only when selected (``make test-compose``: ``-m compose``), never in ``make test``."""
    if "compose" in (config.getoption("markexpr") or ""):
        return
    compose = [item for item in items if item.get_closest_marker("compose")]
    if compose:
        config.hook.pytest_deselected(items=compose)
        items[:] = [item for item in items if not item.get_closest_marker("compose")]
