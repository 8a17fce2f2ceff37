"""The year's outputs for report authors: ``figures.csv`` and a formatted ``figures.xlsx``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import atomic, sanitise
from pipeline.figures.publish import write_changes_sheet
from pipeline.operations.completeness import write_sheet
from pipeline.outputs import author_sheets
from pipeline.periods import local_time
from pipeline.registry import units
from pipeline.sanitise import one_line

if TYPE_CHECKING:
    from pipeline.figures.provenance import SourceCell
    from pipeline.figures.publish import Comparison
    from pipeline.operations.completeness import YearCompleteness

FIGURE_COLUMNS = (
    ("code", "指标代码"),
    ("label_zh", "指标"),
    ("value", "数值"),
    ("unit_zh", "单位"),
    ("display_zh", "报告表述"),
    ("year", "年度"),
    ("as_of_utc", "数据截至（UTC）"),
    ("contributing_submissions", "报送份数"),
)


#: figures.xlsx's 指标 sheet: as FIGURE_COLUMNS, the as-of time in Beijing time (the CSV keeps UTC).
XLSX_FIGURE_COLUMNS = tuple(
    (key, "数据截至（北京时间）") if key == "as_of_utc" else (key, zh) for key, zh in FIGURE_COLUMNS)


#: Column of a figure sheet's code cell: the provenance table's last printed column (文件).
CODE_COLUMN = 9


def _xlsx_value(f: dict, key: str) -> object:

    if key == "value":
        return _number(f[key])
    if key == "as_of_utc":
        return local_time(f[key]).replace("（北京时间）", "") if f[key] else None
    return sanitise.cell(f[key])


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def figure_records(figures: list[dict]) -> list[dict]:
    """The public shape of a figure: code, label, value, unit, display (plus year and as-of)."""
    return [
        {
            "code": f["code"], "label": f["label_zh"], "value": _number(f["value"]), "unit": f["unit_zh"],
            "display": f["display_zh"], "year": f["year"],
            "as_of": f["as_of_utc"].isoformat() if f["as_of_utc"] else None,
            "contributing_submissions": f["contributing_submissions"],
        }
        for f in figures
    ]


def figures_csv(figures: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([zh for _, zh in FIGURE_COLUMNS])
    for f in figures:
        row = [_number(f[k]) if k == "value" else f[k] for k, _ in FIGURE_COLUMNS]
        writer.writerow([sanitise.cell("" if v is None else str(v)) for v in row])
    return buf.getvalue()


def figures_json(figures: list[dict]) -> str:
    return json.dumps(figure_records(figures), ensure_ascii=False, indent=2)


def figures_table(figures: list[dict]) -> str:
    """A plain-text table for the terminal."""
    lines = [f"{'指标代码':<28}{'数值':>10}  报告表述        指标"]
    for f in figures:
        value = _number(f["value"])
        shown = value if isinstance(value, int) else f"{value:.2f}"  # rates: exact in csv/json, rounded here
        lines.append(f"{f['code']:<32}{shown:>10}  {f['display_zh']:<14}{f['label_zh']}")
    return "\n".join(one_line(line) for line in lines)


def write_outputs(
    year: int, figures: list[dict], contributions: list[dict], out_root: Path, *,
    completeness: YearCompleteness | None = None, comparison: Comparison | None = None,
    provenance: dict[str, list[SourceCell]] | None = None, trends: dict[str, dict[str, float]] | None = None,
    cover_checks: Callable[[Any], None] | None = None,
) -> Path:
    """Write ``<out_root>/<year>/figures.csv`` and ``figures.xlsx``; return the folder.

    ``completeness`` adds the sheet 报送情况; ``comparison`` (with a published version) 与已发布版本比较;
    ``provenance`` (figure code → source cells) lists each figure's cells on its sheet; ``trends``
    (figure code → month → value) adds 月度趋势 with a chart per flow figure.
    """
    folder = out_root / str(year)
    # Each file whole (temporary file, then rename): a kill while writing leaves the previous file.
    # BOM: Excel opens a UTF-8 CSV with Chinese headers correctly only with it.
    atomic.write_text(folder / "figures.csv", figures_csv(figures), encoding="utf-8-sig")
    _write_xlsx(folder / "figures.xlsx", year, figures, contributions, completeness, comparison,
                provenance=provenance, trends=trends, cover_checks=cover_checks)
    return folder


def _write_xlsx(
    path: Path, year: int, figures: list[dict], contributions: list[dict],
    completeness: YearCompleteness | None = None, comparison: Comparison | None = None, *,
    provenance: dict[str, list[SourceCell]] | None = None, trends: dict[str, dict[str, float]] | None = None,
    cover_checks: Callable[[Any], None] | None = None,
) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill


    names = {u.code: u.name for u in units()}
    bold, head_fill = Font(bold=True), PatternFill("solid", fgColor=author_sheets.HEAD_FILL)
    wb = Workbook()
    ws = wb.active
    ws.title = "指标"
    author_sheets.write_figure_table(ws, year, figures, XLSX_FIGURE_COLUMNS, _xlsx_value)
    author_sheets.fit_columns(ws, first_row=2, maximum=44)
    by_code: dict[str, list[dict]] = {}
    for c in contributions:
        by_code.setdefault(c["code"], []).append(c)
    used = {"封面", "指标", "报送情况", "月度趋势", "与已发布版本比较"}
    for f in figures:
        sheet = wb.create_sheet(author_sheets.sheet_title(f["label_zh"], used))
        sheet.append([sanitise.cell(f"{f['label_zh']}：{f['display_zh']}（按单位）")])
        sheet["A1"].font = bold
        # The sheet is named by the label; the code (what explain and figures.csv use) stays in a cell,
        # right-aligned in the last printed column so the title can run across the columns before it.
        code_cell = sheet.cell(1, CODE_COLUMN, f"指标代码：{f['code']}")
        code_cell.alignment = Alignment(horizontal="right")
        sheet.append(["单位代码", "单位名称", "贡献数值", "说明"])
        for cell in sheet[2]:
            cell.font, cell.fill = bold, head_fill
        rows = by_code.get(f["code"], [])
        for c in rows:
            name = "全区汇总调整" if c["unit_code"] == "*" else names.get(c["unit_code"], c["unit_code"])
            sheet.append([sanitise.cell(c["unit_code"]), sanitise.cell(name), _number(c["value"]),
                          sanitise.cell(c["note_zh"] or "")])
        sheet.append(["合计", "", _number(f["value"]), ""])
        total_row = 3 + len(rows)
        for r in range(3, total_row):
            note = sheet.cell(r, 4)
            if author_sheets.text_width(note.value) > author_sheets.NOTE_WIDTH:
                note.alignment = Alignment(wrap_text=True, vertical="top")
                sheet.row_dimensions[r].height = 15 * -(-author_sheets.text_width(note.value)
                                                        // (author_sheets.NOTE_WIDTH - 1))
        sheet.cell(total_row, 1).font = bold
        if provenance is not None and f["code"] in provenance:
            author_sheets.write_provenance(sheet, provenance[f["code"]], total_row + 2)
        # Row 1 (title and code) on every page: the two tables below have different headers.
        author_sheets.fit_columns(sheet, first_row=2, maximum=author_sheets.NOTE_WIDTH, skip_rows=(total_row + 2,),
                                  wider={CODE_COLUMN: 44})
        author_sheets.print_ready(sheet, title_rows="1:1", landscape=True, title=f"{year}年 {f['label_zh']}")
    if trends:
        author_sheets.write_trends(wb, year, figures, trends, index=1)
    if completeness is not None:

        write_sheet(wb, completeness, index=1)
    if comparison is not None:

        write_changes_sheet(wb, comparison, index=1)
    for other in wb.worksheets:
        if not other.page_setup.paperSize:
            author_sheets.print_ready(other, landscape=True, title=f"{year}年 {other.title}")
    cover = author_sheets.write_cover(wb, year, figures, completeness=completeness, comparison=comparison, sheet_notes=[
        ("指标", "全部指标，按报告的六个部分排列：数值、报告表述、数据截至时间、报送份数"),
        *((("报送情况", "各单位各月报表是否按时报送"),) if completeness is not None else ()),
        *((("与已发布版本比较", "已发布版本之后变化的指标及原因"),) if comparison is not None else ()),
        *(((author_sheets.TREND_SHEET, "流量指标逐月数值和趋势图"),) if trends else ()),
        ("各指标工作表", "以指标名称命名（第1行注明指标代码）：各单位贡献、全区调整，以及来源单元格"
                   "（文件SHA-256前12位、工作表、单元格；报送编号和完整SHA-256在隐藏的最后两列）"),
    ])
    if cover_checks is not None:
        cover_checks(cover)  # verification: figures with values still 待核实, year-on-year changes
    # The footer's &D would print the reader's date in the spreadsheet's locale (12/04/2026): the
    # workbook's own time, in Beijing time, instead.

    made = local_time(dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0))
    for sheet in wb.worksheets:
        sheet.oddFooter.right.text = f"生成于 {made}"
    author_sheets.use_cjk_font(wb)
    atomic.save(path, wb.save)
