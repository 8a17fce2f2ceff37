"""The parts of ``figures.xlsx`` written for report authors who open files, not terminals.

A cover sheet (year, as-of time, published version, completeness), the figures grouped by the
report's sections, each figure's source cells (provenance), a monthly trend chart per flow figure,
and print-ready page setup (A4, fit to width, repeated title rows, header and footer) on every sheet.
``pipeline.outputs.figure_files`` calls these while it writes the workbook.
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections import Counter
from typing import TYPE_CHECKING

from pipeline import sanitise
from pipeline.figures.definitions import by_section, figure_specs
from pipeline.figures.provenance import HEADERS, cell_rows
from pipeline.operations.completeness import STATUS_LABELS_ZH as STATUS_LABELS
from pipeline.operations.completeness import STATUSES
from pipeline.outputs.report import report_text
from pipeline.periods import local_time

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

    from pipeline.figures.provenance import SourceCell
    from pipeline.figures.publish import Comparison
    from pipeline.operations.completeness import YearCompleteness

#: Named on every font: Excel's Chinese default (Office 2016 and later). The GB2312 charset and the sans
#: family let Excel, WPS and LibreOffice fall back to a CJK sans they have (宋体, Noto Sans CJK SC)
#: instead of a Latin font without Chinese glyphs.
CJK_FONT = "等线"
CJK_CHARSET = 134
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


def use_cjk_font(wb: Workbook) -> None:
    """Name ``CJK_FONT`` (with its charset and family) on every font of ``wb``, just before saving.

    Fonts are replaced in place, index for index, so every cell keeps its own size, weight and colour.
    """
    from copy import copy

    def named(font):
        font = copy(font)
        font.name, font.charset, font.family, font.scheme = CJK_FONT, CJK_CHARSET, 2, None
        return font

    for index, font in enumerate(list(wb._fonts)):
        list.__setitem__(wb._fonts, index, named(font))
    for style in wb._named_styles:
        style.font = named(style.font)


def sheet_title(text: str, used: set[str]) -> str:
    """A worksheet name from a Chinese label: no ``[]:*?/\\``, at most 31 characters, unique in ``used``."""
    base = sanitise.sheet_title(text).strip() or "指标"
    name, n = base[:31], 2
    while name in used:
        suffix = f"（{n}）"
        name, n = base[:31 - len(suffix)] + suffix, n + 1
    used.add(name)
    return name


def text_width(value: object) -> int:
    """Width of a value in Excel character units, CJK characters counting double."""
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def fit_columns(ws: Worksheet, *, first_row: int = 1, minimum: int = 6, maximum: int = 40,
                sample: int = 3000, skip_rows: tuple[int, ...] = (), wider: dict[int, int] | None = None) -> None:
    """Column widths that fit the content (the first ``sample`` rows), between ``minimum`` and ``maximum``
    (``wider``: column number → a larger maximum, for text that must not wrap, such as file names)."""
    from openpyxl.utils import get_column_letter

    widths: dict[int, int] = {}
    for r, row in enumerate(ws.iter_rows(min_row=first_row, max_row=first_row + sample, values_only=True),
                            start=first_row):
        if r in skip_rows:
            continue
        for c, value in enumerate(row, start=1):
            if value is not None:
                widths[c] = max(widths.get(c, 0), text_width(value))
    for c, width in widths.items():
        dim = ws.column_dimensions[get_column_letter(c)]
        if not dim.hidden:
            dim.width = max(minimum, min((wider or {}).get(c, maximum), width + 2))


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
        ws.cell(offset, 1).alignment = Alignment(vertical="top")
        ws.cell(offset, 2, value).alignment = Alignment(wrap_text=True, vertical="top")
    row = len(rows) + 4
    ws.cell(row, 1, "工作表").font = Font(bold=True)
    ws.cell(row, 2, "内容").font = Font(bold=True)
    for name, what in sheet_notes or ():
        row += 1
        ws.cell(row, 1, name).alignment = Alignment(vertical="top")
        ws.cell(row, 2, what).alignment = Alignment(wrap_text=True, vertical="top")
    row += 2
    ws.cell(row, 1, "说明").font = Font(bold=True)
    ws.cell(row, 1).alignment = Alignment(vertical="top")
    ws.cell(row, 2, "数值按报送单位在用的报表精确汇总；“报告表述”按报告写法显示（约数写作“80余项”“90%以上”）。"
                    "每项指标的工作表列出各单位贡献和来源单元格（文件SHA-256、工作表、单元格地址）。"
                    "时间均为北京时间。").alignment = (
        Alignment(wrap_text=True, vertical="top"))
    # Wrapped rows get their height here: spreadsheets keep the default height of a row written by openpyxl.
    for r in range(3, row + 1):
        lines = math.ceil(text_width(ws.cell(r, 2).value) / 76) if ws.cell(r, 2).value else 1
        if lines > 1:
            ws.row_dimensions[r].height = 15 * lines + 3
    print_ready(ws, title=f"{year}年统计指标")
    return ws


def completeness_summary(completeness: YearCompleteness | None) -> str:
    """``已汇入12个月；应报 948 份：按时报送 900，…`` from the 报送情况 rows."""
    if completeness is None:
        return "未计算"

    counts = Counter(r["status"] for r in completeness.rows)
    on_time = counts.get("on_time", 0) + counts.get("nil", 0)
    parts = [f"按时报送 {on_time} 份" + (f"（其中“本月无” {counts['nil']} 份）" if counts.get("nil") else "")]
    parts += [f"{STATUS_LABELS[s].split('（')[0]} {counts[s]} 份" for s in STATUSES
              if s not in ("on_time", "nil") and counts.get(s)]
    return (f"已汇入{len(completeness.processed)}个月；应报{sum(counts.values())}份："
            + "；".join(parts) + "（明细见“报送情况”）")


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


#: The provenance table shows this much of each SHA-256; the whole hash is in the hidden last column.
SHA_SHOWN = 12
FULL_SHA_HEADER = "SHA-256（完整）"
#: Width of a 说明 column on a figure sheet: longer notes wrap.
NOTE_WIDTH = 30


def provenance_headers() -> tuple[str, ...]:
    """``HEADERS`` as figures.xlsx prints them: the SHA-256 column shortened, the full hash appended."""

    return (*(f"SHA-256（前{SHA_SHOWN}位）" if h == "SHA-256" else h for h in HEADERS), FULL_SHA_HEADER)


def write_provenance(ws: Worksheet, cells: list[SourceCell], start_row: int) -> None:
    """Below a figure's contributions: every source cell with its file, SHA-256 and address.

    The SHA-256 column shows the first ``SHA_SHOWN`` characters so the table prints at a readable
    scale; the full hash is in a last column, hidden on screen and on paper.
    """
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter


    sha = HEADERS.index("SHA-256")
    headers = provenance_headers()
    bold, fill = Font(bold=True), PatternFill("solid", fgColor=HEAD_FILL)
    ws.cell(start_row, 1, f"来源单元格（{len(cells)}个）").font = bold
    for i, label in enumerate(headers, start=1):
        cell = ws.cell(start_row + 1, i, label)
        cell.font, cell.fill = bold, fill
    # A city's year has hundreds of thousands of these cells: appended as plain rows (ws.cell per value
    # cost a third of the workbook's time). An empty text is left out: openpyxl writes an empty inline
    # string as a cell without a value, which reads back as an empty cell all the same.
    note = HEADERS.index("说明")
    long_notes: list[tuple[int, int]] = []
    for row in cell_rows(cells):
        shown = (*row[:sha], row[sha][:SHA_SHOWN], *row[sha + 1:], row[sha])
        ws.append([None if value == "" else sanitise.cell(value) for value in shown])
        if text_width(row[note]) > NOTE_WIDTH:
            long_notes.append((ws.max_row, math.ceil(text_width(row[note]) / (NOTE_WIDTH - 1))))
    # A long note wraps within its column (rows keep the default height unless told).
    wrap = Alignment(wrap_text=True, vertical="top")
    for r, lines in long_notes:
        ws.cell(r, note + 1).alignment = wrap
        ws.row_dimensions[r].height = 15 * lines
    # The submission id (period, hash, form: all shown beside it) and the full hash: kept, not printed.
    for hidden in (HEADERS.index("报送编号") + 1, len(headers)):
        ws.column_dimensions[get_column_letter(hidden)].hidden = True


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
        chart.y_axis.delete = False
        chart.x_axis.delete = False
        top = max(trends[code].values(), default=0.0)
        if labels[code]["unit_zh"] != "%":
            # Counts: whole-number ticks from 0 (never 0.2 … 1.2 次).
            chart.y_axis.scaling.min = 0
            chart.y_axis.majorUnit = max(1, math.ceil(top / 5))
            chart.y_axis.number_format = "0"
            chart.y_axis.scaling.max = max(1, math.ceil(top / chart.y_axis.majorUnit)) * chart.y_axis.majorUnit
        chart.add_data(Reference(ws, min_col=3, max_col=2 + len(months), min_row=row, max_row=row), from_rows=True)
        chart.set_categories(Reference(ws, min_col=3, max_col=2 + len(months), min_row=2, max_row=2))
        column = "A" if i % 2 == 0 else "H"
        ws.add_chart(chart, f"{column}{anchor_row + (i // 2) * rows_per_chart}")
    ws.freeze_panes = "C3"
    print_ready(ws, title_rows="1:2", landscape=True, title=f"{year}年流量指标逐月趋势")
    return ws


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 4)
