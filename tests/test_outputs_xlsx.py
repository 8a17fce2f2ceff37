"""figures.xlsx's figure sheets: contributions, total, then every source cell of ``provenance`` as given."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from pipeline.outputs import neutralise, write_outputs
from pipeline.provenance import HEADERS, SourceCell, cell_rows

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
    ws = load_workbook(folder / "figures.xlsx")["c1"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][:4] == ("单位代码", "单位名称", "贡献数值", "说明")
    assert [r[:4] for r in rows[2:5]] == [("SCJG", "区市场监督管理局", 4, None), ("*", "全区汇总调整", 3, "'+调整"),
                                         ("合计", None, 7, None)]
    assert rows[5] == (None,) * len(rows[5]) and rows[6][0] == f"来源单元格（{len(cells)}个）"
    assert rows[7] == HEADERS
    assert ws.cell(8, 1).font.b and ws.cell(8, 10).fill.fgColor.rgb.endswith("DDEBF7")
    expected = [tuple(None if v == "" else neutralise(v) for v in row) for row in cell_rows(cells)]
    assert rows[8:] == expected
    assert rows[8][8] == "'=file1.xlsx" and rows[9][4] is None and rows[9][6] == "'-联合抽查"
    assert rows[10][5] == "3/4"
    assert not ws.cell(9, 1).has_style
