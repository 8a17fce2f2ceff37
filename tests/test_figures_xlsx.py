"""figures.xlsx for report authors: its sheets, cover, page setup and source cells, and how it prints.

The 2018–2020 sample warehouse (its consolidation wrote figures.xlsx) is conftest's session fixture: the
tests only read it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import report_figures_2020
from openpyxl import load_workbook

from pipeline.figures.consolidate import stored_contributions, stored_figures
from pipeline.figures.definitions import FIGURE_DEFS, LABELS_ZH
from pipeline.figures.provenance import all_provenance
from pipeline.registry import units

pytestmark = pytest.mark.integration


def test_figures_xlsx_for_report_authors(sample_warehouse_sqlite) -> None:
    settings, _ = sample_warehouse_sqlite
    path = settings.out / "2020" / "figures.xlsx"
    wb = load_workbook(path)
    assert wb.sheetnames[:2] == ["封面", "指标"]
    assert {"报送情况", "月度趋势"} <= set(wb.sheetnames)
    cover = {r[0]: r[1] for r in wb["封面"].iter_rows(values_only=True) if r[0]}
    assert cover["年度"] == "2020年" and "北京时间" in cover["数据截至"]
    assert cover["已发布版本"].startswith("尚未发布")
    assert cover["报送完整性"].startswith("已汇入12个月")
    table = [r for r in wb["指标"].iter_rows(min_row=3, values_only=True)]
    headings = [r[0] for r in table if r[1] is None]
    assert [h[:2] for h in headings] == ["一、", "二、", "三、", "四、", "五、", "六、"]
    assert [r[0] for r in table if r[1] is not None] == list(report_figures_2020())
    flows = [code for code, d in FIGURE_DEFS.items() if d.measure == "flow"]
    assert len(wb["月度趋势"]._charts) == len(flows)
    entities = wb[LABELS_ZH["inspection_entities"]]
    assert entities["I1"].value == "指标代码：inspection_entities"
    for ws in (wb["指标"], wb["月度趋势"], entities, wb["封面"]):
        assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
        assert "&P" in ws.oddFooter.center.text
    assert wb["指标"].print_title_rows == "$1:$2"
    sheet = entities
    rows = list(sheet.iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if r[:4] == ("单位", "报告期", "单元格", "栏目"))
    sources = [r for r in rows[header + 1:] if r[0]]
    assert len(sources) == 104
    # Count charts tick in whole numbers from 0.
    for chart in wb["月度趋势"]._charts:
        if "（%）" not in chart.title.tx.rich.p[0].r[0].t:
            assert chart.y_axis.majorUnit >= 1 and float(chart.y_axis.majorUnit).is_integer()
            assert chart.y_axis.scaling.min == 0
    assert {f.name for f in wb._fonts} == {"等线"}
    assert all(re.fullmatch(r"行政检查!D\d+", r[2]) and re.fullmatch(r"[0-9a-f]{12}", r[7])
               and re.fullmatch(r"[0-9a-f]{64}", r[10]) and r[10].startswith(r[7]) for r in sources)


@pytest.mark.slow
def test_figures_xlsx_prints_readably_in_libreoffice(sample_warehouse_sqlite, tmp_path: Path) -> None:
    """Rendered to PDF: the figure sheets print at a readable scale, nothing is cut, one header per table."""
    from rendering import render

    settings, engine = sample_warehouse_sqlite
    out = render(settings.out / "2020" / "figures.xlsx", tmp_path)
    figures = stored_figures(engine, 2020)
    # Cover, 指标, 报送情况, 月度趋势 and a sheet per figure (57 pages in LibreOffice 7.4; 49 before,
    # when the 64-character SHA-256 column shrank every figure sheet to half size).
    assert 2 + len(FIGURE_DEFS) <= len(out.pages) <= 60
    figure_pages = [n for n, page in enumerate(out.pages, start=1) if "指标代码：" in page]
    assert len(figure_pages) >= len(FIGURE_DEFS)
    # Readable: the median word on a figure sheet's page is at least 6.5 pt high (it was 4.8 pt).
    assert min(out.word_heights[n] for n in figure_pages) >= 6.5, out.word_heights
    # The contributions header is printed once per figure sheet, not above the source cells on later pages.
    assert sum(page.count("贡献数值") for page in out.pages) == len(FIGURE_DEFS)
    text = out.squeezed()
    # Nothing cut: every unit name, every figure's title, the provenance headers, the cover's 说明 in full.
    contributing = {c["unit_code"] for c in stored_contributions(engine, 2020)}
    for unit in units():
        if unit.code in contributing:
            assert unit.name in text, unit.name
    for f in figures:
        assert f"{f['label_zh']}：{f['display_zh']}（按单位）" in text
        assert f"指标代码：{f['code']}" in text
    assert "SHA-256（前12位）" in text and "SHA-256（完整）" not in text
    # The hidden columns (submission id, full hash) are not printed.
    assert not any("报送编号" in out.pages[n - 1] for n in figure_pages)
    for f in figures:  # file names printed whole
        for name in {c.file_name for c in all_provenance(engine, 2020)[f["code"]]}:
            assert "".join(name.split()) in text, name
    assert "时间均为北京时间。" in text and "（其中“本月无”" in text
    assert "按时报送，本月无数据" not in "".join(out.pages[0].split())  # the cover (the legend may say it)
    assert "数据截至（北京时间）" in text and "UTC" not in text
