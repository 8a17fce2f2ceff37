"""Shared fixtures: a sample inbox, warehouses on SQLite and on PostgreSQL, isolated settings."""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Airflow reads its home at first import: give the whole test session its own, before anything imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="district-airflow-"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parent.parent / "dags"))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
for _var in ("DISTRICT_WAREHOUSE_URL", "AIRFLOW_CONN_DISTRICT_WAREHOUSE", "DISTRICT_INBOX", "DISTRICT_DATA"):
    os.environ.pop(_var, None)

PG_ADMIN_URL = os.environ.get("DISTRICT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parent.parent
FIGURES_CSV = REPO / "pipeline" / "data" / "figures-2020.csv"


def report_figures_2020() -> dict[str, tuple[int, bool]]:
    """The 2020 report's figures, as the bureau's figure list gives them: code → (value, approximate)."""
    with FIGURES_CSV.open(encoding="utf-8") as fh:
        return {r["code"]: (int(r["value"]), r["approx"] == "yes") for r in csv.DictReader(fh)}


def assert_matches_report(figures: dict[str, float], codes: list[str]) -> None:
    """Exact figures equal the report's; approximate ones lie in the range its wording allows."""
    expected = report_figures_2020()
    for code in codes:
        value, approx = expected[code]
        got = figures[code]
        if approx:
            step = 100 if value >= 1000 else 10
            assert value <= got < value + step, (code, got, value)
        else:
            assert got == value, (code, got, value)


@pytest.fixture(scope="session")
def sample_inbox_2020(tmp_path_factory) -> Path:
    from pipeline.sample import write_sample_year

    inbox = tmp_path_factory.mktemp("sample") / "inbox"
    write_sample_year(2020, inbox)
    return inbox


@pytest.fixture
def inbox_copy(sample_inbox_2020, tmp_path) -> Path:
    """A private, writable copy of the 2020 sample inbox (mtimes kept: they are receipt times)."""
    target = tmp_path / "inbox"
    shutil.copytree(sample_inbox_2020, target, copy_function=shutil.copy2)
    return target


def _pg_available() -> bool:
    try:
        import sqlalchemy as sa

        with sa.create_engine(PG_ADMIN_URL).connect():
            return True
    except Exception:  # noqa: BLE001
        return False


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[str]:
    """URL of a new PostgreSQL database, dropped on exit; skips the test (fails it in CI) without a server."""
    import sqlalchemy as sa

    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (CI must start it)")
        pytest.skip("PostgreSQL is not reachable")
    name = f"district_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with fresh_pg_database() as url:
        yield url


class LogCollector(logging.Handler):
    """Keeps the messages of the log records it receives, for assertions on what a step logged."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


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


def pytest_collection_modifyitems(config, items):
    """The compose tier runs only when selected (``make test-compose``: ``-m compose``), never in ``make test``."""
    if "compose" in (config.getoption("markexpr") or ""):
        return
    compose = [item for item in items if item.get_closest_marker("compose")]
    if compose:
        config.hook.pytest_deselected(items=compose)
        items[:] = [item for item in items if not item.get_closest_marker("compose")]
