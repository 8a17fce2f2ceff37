"""A refused workbook taken out of the inbox: its refusal closes everywhere the operator looks."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from hostile_files import PERIOD, edited
from test_hostile_round2 import clean_files, month_settings, write_month

from pipeline.jobs import process_month
from pipeline.warehouse.connect import make_engine
from pipeline.warehouse.schema import completeness

pytestmark = pytest.mark.integration


def _wrong_period(wb) -> None:
    for ws in wb:
        for row in ws.iter_rows(max_row=3):
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith("报告期"):
                    cell.value = "报告期：2020年11月"


def _status(url: str, unit: str) -> set[str]:
    with make_engine(url).connect() as conn:
        return set(conn.execute(sa.select(completeness.c.status).where(
            completeness.c.period == PERIOD, completeness.c.unit_code == unit)).scalars())


def test_a_withdrawn_refusal_leaves_the_unit_missing_and_the_summary_says_so(tmp_path, caplog):
    files = {**clean_files(), "统计局.xlsx": edited("TJJ", _wrong_period)}
    folder = write_month(tmp_path, files)
    settings = month_settings(tmp_path)
    first = process_month(PERIOD, settings)
    assert "统计局.xlsx" in first.open_files and _status(settings.warehouse_url, "TJJ") == {"refused"}
    (folder / "统计局.xlsx").unlink()  # the operator takes the wrong file out
    caplog.set_level(logging.INFO)
    second = process_month(PERIOD, settings)
    assert second.open_files == {}
    # Nothing of the unit's stands: the month is missing, not refused, and the unit is chased as missing.
    assert _status(settings.warehouse_url, "TJJ") == {"missing"}
    assert "区统计局" in second.missing
    assert "已不在收件箱中" in second.summary_zh and "统计局.xlsx" in second.summary_zh
    assert any("已不在收件箱中" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
