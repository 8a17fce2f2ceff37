"""The parts of ``figures.xlsx`` written for report authors who open files, not terminals.

A cover sheet (year, as-of time, published version, completeness), the figures grouped by the
report's sections, each figure's source cells (provenance), a monthly trend chart per flow figure,
and print-ready page setup (A4, fit to width, repeated title rows, header and footer) on every sheet.
``pipeline.outputs`` calls these while it writes the workbook.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING

from pipeline.figures import by_section, figure_specs
from pipeline.report import local_time, report_text

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

    from pipeline.completeness import YearCompleteness
    from pipeline.provenance import SourceCell
    from pipeline.publish import Comparison

COVER_SHEET = "封面"
TREND_SHEET = "月度趋势"
HEAD_FILL = "DDEBF7"
SECTION_FILL = "FCE4D6"


def section_titles() -> dict[str, str]:
    """Section number → ``一、加强组织领导，落实法治政府建设职责``, from the report's text."""
    sections, _ = report_text()
    return {s.number: s.title for s in sections}


def grouped(figures: list[dict]) -> list[tuple[str, list[dict]]]:
    """The figures by report section (一 … 六), each section in report order."""
    titles = section_titles()
    by_code = {f["code"]: f for f in figures}
    order = [c for c in figure_specs() if c in by_code] + [c for c in by_code if c not in figure_specs()]
    sections = by_section([c for c in order if c in figure_specs()])
    out = [(titles.get(n, n), [by_code[c] for c in codes]) for n, codes in sections.items()]
    rest = [by_code[c] for c in order if c not in figure_specs()]
    return out + ([("其他", rest)] if rest else [])


def print_ready(ws: Worksheet, *, title_rows: str | None = None, landscape: bool = False, title: str = "") -> None:
    """A4, fit to one page wide, title rows repeated on every page, header and page-number footer."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.page_margins.top = ws.page_margins.bottom = 0.7
    if title_rows:
        ws.print_title_rows = title_rows
    ws.oddHeader.center.text = title or ws.title
    ws.oddHeader.center.size = 9
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.oddFooter.center.size = 9
    ws.oddFooter.right.text = "&D"
    ws.oddFooter.right.size = 8


def write_cover(
    wb: Workbook, year: int, figures: list[dict], *, completeness: YearCompleteness | None = None,
    comparison: Comparison | None = None, sheet_notes: list[tuple[str, str]] | None = None,
) -> Worksheet:
    """The first sheet: what this workbook is, as of when, which published version, how complete."""
    from openpyxl.styles import Alignment, Font

    ws = wb.create_sheet(COVER_SHEET, 0)
    ws.column_dimensions["A"].width = 20
    ws.column_dimensions["B"].width = 80
    ws["A1"] = f"{year}年法治政府建设年度报告统计指标"
    ws["A1"].font = Font(bold=True, size=16)
    ws.merge_cells("A1:B1")
    ws.row_dimensions[1].height = 30
    as_of = max((f["as_of_utc"] for f in figures if f.get("as_of_utc")), default=None)
    if comparison is None:
        version = "尚未发布（本工作簿为最新汇总结果）"
    else:
        changed = len(comparison.figure_changes)
        version = (f"第{comparison.version}版，{local_time(comparison.published_at_utc)}由"
                   f"{comparison.published_by}发布；" + (f"其后有{changed}项指标变化，见“与已发布版本比较”"
                                                       if changed else "其后指标没有变化"))
    rows = [
        ("年度", f"{year}年"),
        ("数据截至", local_time(as_of)),
        ("生成时间", local_time(dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0))),
        ("已发布版本", version),
        ("报送完整性", completeness_summary(completeness)),
        ("指标数", f"{len(figures)}项，按报告六个部分排列（见“指标”）"),
    ]
    for offset, (label, value) in enumerate(rows, start=3):
        ws.cell(offset, 1, label).font = Font(bold=True)
        ws.cell(offset, 2, value).alignment = Alignment(wrap_text=True, vertical="top")
    row = len(rows) + 4
    ws.cell(row, 1, "工作表").font = Font(bold=True)
    ws.cell(row, 2, "内容").font = Font(bold=True)
    for name, what in sheet_notes or ():
        row += 1
        ws.cell(row, 1, name)
        ws.cell(row, 2, what).alignment = Alignment(wrap_text=True, vertical="top")
    row += 2
    ws.cell(row, 1, "说明").font = Font(bold=True)
    ws.cell(row, 2, "数值按报送单位在用的报表精确汇总；“报告表述”按报告写法显示（约数写作“80余项”“90%以上”）。"
                    "每项指标的工作表列出各单位贡献和来源单元格（文件SHA-256、工作表、单元格地址）。").alignment = (
        Alignment(wrap_text=True, vertical="top"))
    print_ready(ws, title=f"{year}年统计指标")
    return ws


def completeness_summary(completeness: YearCompleteness | None) -> str:
    """``已汇入12个月；应报 948 份：按时报送 900，…`` from the 报送情况 rows."""
    if completeness is None:
        return "未计算"
    from pipeline.completeness import LABELS_ZH as STATUS_LABELS
    from pipeline.completeness import STATUSES

    counts = Counter(r["status"] for r in completeness.rows)
    parts = [f"{STATUS_LABELS[s].split('（')[0]} {counts[s]}" for s in STATUSES if counts.get(s)]
    return (f"已汇入{len(completeness.processed)}个月；应报{sum(counts.values())}份："
            + "，".join(parts) + "（明细见“报送情况”）")


def write_figure_table(ws: Worksheet, year: int, figures: list[dict], columns: tuple[tuple[str, str], ...],
                       cell_value) -> None:
    """The 指标 sheet: a title, the header, then each report section's heading and its figures."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    ws.append([f"{year}年法治政府建设年度报告统计指标"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(columns))
    ws.append([zh for _, zh in columns])
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=HEAD_FILL)
        cell.alignment = Alignment(horizontal="center")
        cell.border = border
    r = 2
    for title, rows in grouped(figures):
        ws.append([title])
        r += 1
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=len(columns))
        ws.cell(r, 1).font = Font(bold=True)
        ws.cell(r, 1).fill = PatternFill("solid", fgColor=SECTION_FILL)
        for f in rows:
            ws.append([cell_value(f, key) for key, _ in columns])
            r += 1
            for cell in ws[r]:
                cell.border = border
                if isinstance(cell.value, float):
                    cell.number_format = "0.00"
    ws.freeze_panes = "A3"
    print_ready(ws, title_rows="1:2", landscape=True, title=f"{year}年统计指标")


def write_provenance(ws: Worksheet, cells: list[SourceCell], start_row: int, neutralise) -> None:
    """Below a figure's contributions: every source cell with its file, SHA-256 and address."""
    from openpyxl.styles import Font, PatternFill

    from pipeline.provenance import HEADERS, cell_rows

    bold, fill = Font(bold=True), PatternFill("solid", fgColor=HEAD_FILL)
    ws.cell(start_row, 1, f"来源单元格（{len(cells)}个）").font = bold
    for i, label in enumerate(HEADERS, start=1):
        cell = ws.cell(start_row + 1, i, label)
        cell.font, cell.fill = bold, fill
    # A city's year has hundreds of thousands of these cells: appended as plain rows (ws.cell per value
    # cost a third of the workbook's time). An empty text is left out: openpyxl writes an empty inline
    # string as a cell without a value, which reads back as an empty cell all the same.
    for row in cell_rows(cells):
        ws.append([None if value == "" else neutralise(value) for value in row])
    for col, width in zip("EFGHIJ", (12, 10, 44, 66, 34, 40), strict=True):
        ws.column_dimensions[col].width = max(ws.column_dimensions[col].width or 0, width)


def write_trends(wb: Workbook, year: int, figures: list[dict], trends: dict[str, dict[str, float]],
                 index: int | None = None) -> Worksheet:
    """月度趋势: a month × figure table of every flow figure and one column chart per figure."""
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font, PatternFill
    from openpyxl.worksheet.pagebreak import Break

    ws = wb.create_sheet(TREND_SHEET, index)
    months = sorted({m for values in trends.values() for m in values})
    labels = {f["code"]: f for f in figures}
    codes = [c for c in figure_specs() if c in trends and c in labels]
    ws.append([f"{year}年流量指标逐月数值（各月合计等于全年指标）"])
    ws["A1"].font = Font(bold=True, size=12)
    ws.append(["指标", "单位", *(f"{int(m[5:])}月" for m in months), "全年"])
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=HEAD_FILL)
    for row, code in enumerate(codes, start=3):
        values = [trends[code].get(m, 0.0) for m in months]
        ws.append([labels[code]["label_zh"], labels[code]["unit_zh"],
                   *(_plain(v) for v in values), _plain(sum(values))])
        for cell in ws[row]:
            if isinstance(cell.value, float):
                cell.number_format = "0.00"
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 6
    first_data = 3
    anchor_row = first_data + len(codes) + 2
    # Two rows of two charts per printed page, none cut by a page break.
    rows_per_chart, charts_per_page = 14, 4
    for page in range(0, len(codes), charts_per_page):
        ws.row_breaks.append(Break(id=anchor_row - 1 + (page // 2) * rows_per_chart))
    for i, code in enumerate(codes):
        row = first_data + i
        chart = BarChart()
        chart.type = "col"
        chart.title = f"{labels[code]['label_zh']}（{labels[code]['unit_zh']}）"
        chart.legend = None
        chart.height, chart.width = 6.5, 12.5
        chart.y_axis.majorGridlines = None
        chart.add_data(Reference(ws, min_col=3, max_col=2 + len(months), min_row=row, max_row=row), from_rows=True)
        chart.set_categories(Reference(ws, min_col=3, max_col=2 + len(months), min_row=2, max_row=2))
        column = "A" if i % 2 == 0 else "H"
        ws.add_chart(chart, f"{column}{anchor_row + (i // 2) * rows_per_chart}")
    ws.freeze_panes = "C3"
    print_ready(ws, title_rows="1:2", landscape=True, title=f"{year}年流量指标逐月趋势")
    return ws


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 4)
