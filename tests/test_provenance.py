"""Every figure's provenance down to the cell: the source cells add up to the figure and are the archived
workbooks' cells, the monthly trend adds up, and ``explain``/``figures`` print them.

The 2018–2020 sample warehouse is conftest's session fixture: the tests only read it.
"""

from __future__ import annotations

import io
import math
import re

import pytest
from helpers import figures_by_code
from openpyxl import load_workbook

from pipeline.figures.consolidate import monthly_values
from pipeline.figures.definitions import FIGURE_DEFS, LABELS_ZH
from pipeline.figures.provenance import provenance
from pipeline.intake.archive import archive_path
from pipeline.periods import months_of

pytestmark = pytest.mark.integration


def test_every_figure_is_the_sum_of_its_source_cells(sample_warehouse) -> None:
    """Consolidation and provenance read the same rows: the cells add up to the stored figure."""
    _, engine = sample_warehouse
    figures = figures_by_code(engine)
    with engine.connect() as conn:
        for code, fdef in FIGURE_DEFS.items():
            cells = provenance(conn, code, 2020)
            assert cells, code
            assert all(c.cell and re.fullmatch(r"[A-Z]+\d+", c.cell) for c in cells), code
            counted = sum(c.counted for c in cells)
            if fdef.measure == "rate":
                value = 100 * counted / sum(c.base for c in cells)
            elif fdef.measure == "rate3":
                years = {c.period[:4] for c in cells}
                assert years == {"2018", "2019", "2020"}
                value = min(100 * sum(c.counted for c in cells if c.period[:4] == y)
                            / sum(c.base for c in cells if c.period[:4] == y) for y in years)
            else:
                value = counted * fdef.scale
            assert math.isclose(value, figures[code]["value"]), code


def test_source_cells_are_the_archived_workbooks_cells(sample_warehouse_sqlite) -> None:
    settings, engine = sample_warehouse_sqlite
    opened: dict[str, object] = {}
    with engine.connect() as conn:
        for code in ("inspection_entities", "legal_review_items", "head_appearance_rate", "transfers_filed",
                     "e_registration_rate", "grids_covered", "litigation_closed"):
            for c in provenance(conn, code, 2020):
                if c.sha256 not in opened:
                    data = archive_path(settings.archive, c.sha256).read_bytes()
                    opened[c.sha256] = load_workbook(io.BytesIO(data))
                value = opened[c.sha256][c.sheet][c.cell].value
                shown = value.date().isoformat() if hasattr(value, "date") else str(value)
                assert shown == c.value, (code, c.file_name, c.cell)
    with engine.connect() as conn:
        entities = {c.note for c in provenance(conn, "inspection_entities", 2020) if c.note}
    assert "联合抽查：其他参与单位重复填报，不重复计" in entities


def test_monthly_trend_adds_up_to_each_flow_figure(sample_warehouse_sqlite) -> None:
    _, engine = sample_warehouse_sqlite
    figures = figures_by_code(engine)
    with engine.connect() as conn:
        for code, fdef in FIGURE_DEFS.items():
            if fdef.measure == "flow":
                months = monthly_values(conn, code, 2020)
                assert list(months) == months_of(2020)
                assert math.isclose(sum(months.values()), figures[code]["value"]), code


def test_explain_prints_cells_with_addresses_and_hashes(sample_warehouse_sqlite, capsys) -> None:
    from pipeline.cli import main

    settings, engine = sample_warehouse_sqlite
    assert main(["explain", "joint_inspections", "--year", "2020", "--warehouse", settings.warehouse_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2020年 联合抽查次数（joint_inspections）：14次")
    with engine.connect() as conn:
        cells = provenance(conn, "joint_inspections", 2020)
    first = cells[0]
    line = next(line for line in out.splitlines() if first.sha256 in line and f"{first.sheet}!{first.cell}" in line)
    assert first.unit_name in line and first.value in line
    assert first.submission_id in out
    assert main(["explain", "no_such_figure", "--year", "2020", "--warehouse", settings.warehouse_url]) == 2


def test_explain_and_figures_take_a_chinese_label_or_a_unique_part(sample_warehouse_sqlite, capsys) -> None:
    from pipeline.cli import main

    settings, _ = sample_warehouse_sqlite
    url = ["--warehouse", settings.warehouse_url]
    assert main(["explain", "出庭", "--year", "2020", *url]) == 0
    assert capsys.readouterr().out.startswith(f"2020年 {LABELS_ZH['head_appearance_rate']}（head_appearance_rate）")
    assert main(["explain", LABELS_ZH["inspection_entities"], "--year", "2020", *url]) == 0
    assert "（inspection_entities）" in capsys.readouterr().out
    # A part several labels share names them all; an unknown one says how to list the figures.
    assert main(["explain", "行政复议", "--year", "2020", *url]) == 2
    err = capsys.readouterr().err
    assert "“行政复议”对应多项指标，请写得更具体" in err and "reconsideration_accepted" in err
    assert main(["explain", "不存在的指标", "--year", "2020", *url]) == 2
    assert "没有指标“不存在的指标”" in capsys.readouterr().err
    assert main(["figures", "抽取检查对象", "--year", "2020", *url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("inspection_entities")
    assert main(["figures", "--year", "1999", *url]) == 1
    assert capsys.readouterr().err.strip() == ("1999年尚无汇总指标：请先运行年度汇总"
                                               "（python -m pipeline consolidate --year 1999）")
