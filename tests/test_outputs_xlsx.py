"""figures.xlsx's figure sheets: contributions, total, then every source cell of ``provenance`` as given."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from pipeline.figures.provenance import HEADERS, SourceCell, cell_rows
from pipeline.outputs.figure_files import write_outputs
from pipeline.sanitise import cell as neutralise

pytestmark = pytest.mark.unit


def _cell(i: int, *, value: str | None, note: str | None, base: float | None = None) -> SourceCell:
    return SourceCell(
        code="c1", unit_code="SCJG", unit_name=f"单位{i}", period=f"2020-{i % 12 + 1:02d}",
        submission_id=f"sub-{i}", file_name=f"=file{i}.xlsx", sha256=f"{i:064x}", sheet="行政检查",
        excel_row=4 + i, cell=f"D{4 + i}", column_label="检查对象户数", value=value, counted=float(i),
        base=base, note=note,
    )


def test_figure_sheet_lists_every_source_cell(tmp_path) -> None:
    cells = [
        _cell(1, value="3", note=None),
        _cell(2, value=None, note="-联合抽查"),  # an empty value; a note a spreadsheet would run
        _cell(3, value="2.5", note="@SUM(A1)", base=4.0),
        *(_cell(i, value=str(i), note="说明" if i % 2 else None) for i in range(4, 40)),
    ]
    fig = {"code": "c1", "label_zh": "检查对象户数", "value": 7.0, "unit_zh": "户", "display_zh": "7户",
           "year": 2020, "as_of_utc": None, "contributing_submissions": 2, "section": "三", "approx": False}
    contributions = [{"code": "c1", "unit_code": "SCJG", "value": 4.0, "note_zh": None},
                     {"code": "c1", "unit_code": "*", "value": 3.0, "note_zh": "+调整"}]
    folder = write_outputs(2020, [fig], contributions, tmp_path, provenance={"c1": cells})
    wb = load_workbook(folder / "figures.xlsx")
    # The sheet is named by the figure's label; its code is kept in a cell of row 1.
    ws = wb["检查对象户数"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "检查对象户数：7户（按单位）" and rows[0][8] == "指标代码：c1"
    assert rows[1][:4] == ("单位代码", "单位名称", "贡献数值", "说明")
    assert [r[:4] for r in rows[2:5]] == [("SCJG", "区市场监督管理局", 4, None), ("*", "全区汇总调整", 3, "'+调整"),
                                         ("合计", None, 7, None)]
    assert rows[5] == (None,) * len(rows[5]) and rows[6][0] == f"来源单元格（{len(cells)}个）"
    # The SHA-256 column shows 12 characters; the full hash is in a hidden last column.
    assert rows[7] == (*HEADERS[:7], "SHA-256（前12位）", *HEADERS[8:], "SHA-256（完整）")
    assert ws.cell(8, 1).font.b and ws.cell(8, 10).fill.fgColor.rgb.endswith("DDEBF7")
    expected = [tuple(None if v == "" else neutralise(v) for v in (*row[:7], row[7][:12], *row[8:], row[7]))
                for row in cell_rows(cells)]
    assert rows[8:] == expected
    # The submission id and the full hash are kept in hidden columns; the file name is printed.
    assert ws.column_dimensions["J"].hidden and ws.column_dimensions["K"].hidden
    assert not ws.column_dimensions["H"].hidden and not ws.column_dimensions["I"].hidden
    assert rows[8][8] == "'=file1.xlsx" and rows[9][4] is None and rows[9][6] == "'-联合抽查"
    assert rows[10][5] == "3/4"
    assert not ws.cell(9, 1).has_style
    # Only the title row repeats on continuation pages: the two tables have different headers.
    assert ws.print_title_rows == "$1:$1"
    # Widths fit the content: the unit name and the shortened hash are not clipped.
    assert ws.column_dimensions["B"].width >= 2 * len("区市场监督管理局")
    assert 12 <= ws.column_dimensions["H"].width <= 20  # the 64-character hash needed 66
    # Every font names the CJK font with the GB2312 charset (a fallback every reader has).
    assert {(f.name, f.charset) for f in wb._fonts} == {("等线", 134)}


def test_figures_xlsx_speaks_beijing_time_and_the_cover_counts_plainly(tmp_path) -> None:
    import datetime as dt

    from pipeline.outputs.author_sheets import completeness_summary, sheet_title

    fig = {"code": "c1", "label_zh": "检查对象户数", "value": 7.0, "unit_zh": "户", "display_zh": "7户",
           "year": 2020, "as_of_utc": dt.datetime(2021, 1, 7, 20, 30), "contributing_submissions": 2,
           "section": "三", "approx": False}
    folder = write_outputs(2020, [fig], [], tmp_path)
    wb = load_workbook(folder / "figures.xlsx")
    ws = wb["指标"]
    assert "数据截至（北京时间）" in [c.value for c in ws[2]]
    # Footers carry the workbook's time in Beijing time, not the printer's locale date (&D).
    assert all(s.oddFooter.right.text.startswith("生成于 ") and s.oddFooter.right.text.endswith("（北京时间）")
               for s in wb.worksheets)
    assert "2021-01-08 04:30" in [c.value for row in ws.iter_rows() for c in row]

    from types import SimpleNamespace

    year = SimpleNamespace(processed=["2020-01"],
                           rows=[{"status": "on_time"}] * 3 + [{"status": "nil"}] * 2 + [{"status": "late"}])
    text = completeness_summary(year)
    assert "按时报送 5 份（其中“本月无” 2 份）；逾期报送 1 份" in text and "按时报送，本月无数据" not in text
    used: set[str] = set()
    assert sheet_title("a/b[c]:d", used) == "a_b_c__d" and sheet_title("a/b[c]:d", used) == "a_b_c__d（2）"
    assert len(sheet_title("长" * 40, used)) == 31
