"""Helpers the tests share (conftest.py holds only fixtures and hooks): the 2020 answer key, a fresh
PostgreSQL database, the 2018–2020 sample warehouse, a log collector."""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("DISTRICT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parent.parent
FIGURES_CSV = REPO / "pipeline" / "data" / "figures-2020.csv"
#: The published 2020 report, as text.
REPORT_2020 = REPO / "tests" / "data" / "zhonglou-2020-rule-of-law-report.txt"
#: The years of the sample warehouse: 2020 in full, 2018 and 2019 for 行政应诉 only.
SAMPLE_YEARS = (2018, 2019, 2020)


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


def load_sample_years(url: str, inbox: Path, data: Path):
    """Every month of SAMPLE_YEARS loaded from ``inbox`` into ``url``, 2019 and 2020 consolidated:
    (settings, engine)."""
    # Imported here: conftest imports this module before it points Airflow at the session's home.
    import dataclasses

    from pipeline.annual import consolidate_year
    from pipeline.config import settings as make_settings_
    from pipeline.ingest import run_month
    from pipeline.periods import months_of
    from pipeline.warehouse.connect import make_engine

    s = dataclasses.replace(make_settings_(url), inbox=inbox, data=data)
    engine = make_engine(url)
    for year in SAMPLE_YEARS:
        for period in months_of(year):
            run_month(period, s, engine=engine)
    for year in SAMPLE_YEARS[1:]:
        consolidate_year(year, s)
    return s, engine


def figures_by_code(engine, year: int = 2020) -> dict[str, dict]:
    """The stored figures of ``year``, by figure code."""
    from pipeline.figures.consolidate import stored_figures

    return {f["code"]: f for f in stored_figures(engine, year)}


class LogCollector(logging.Handler):
    """Keeps the messages of the log records it receives, for assertions on what a step logged."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
