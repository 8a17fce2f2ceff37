"""Returns as clerks really send them: edits of a clean workbook that keep its meaning, and a messy month.

``mess_up`` applies what docs/clerk-rules.md (可以报送的内容) accepts (title and note rows, merged
headers, label variants, columns moved, extra columns, numbers and dates typed every which way,
是/否 variants, a 合计 row, footers, formatted-but-empty rows, unit aliases) to a workbook written by
``pipeline.outputs.workbook.write_return``; the result must load to exactly the clean workbook's rows.
``write_messy_month`` puts such workbooks, a same-meaning correction and one broken return into a
sample inbox month (``python -m pipeline sample --messy``).
"""

from __future__ import annotations

import datetime as dt
import os
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Border, PatternFill, Side
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.forms import FORMS, FORMS_BY_SHEET, PERIOD_LABEL, UNIT_LABEL, YES, Form
from pipeline.intake.coerce import EXCEL_EPOCH, to_int
from pipeline.outputs.workbook import FIRST_DATA_ROW, HEADER_ROW, INFO_ROW, period_column, period_text
from pipeline.registry import Unit, unit_by_code, units

_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_COUNT_UNITS = {"entities_sampled": "户", "issues_found": "个", "training_sessions": "场"}
_FILL = PatternFill("solid", fgColor="FFF2CC")
_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


@dataclass
class Layout:
    """Where a form's table is on its sheet, kept up to date as edits move things."""

    form: Form
    header_row: int
    first_row: int
    n_rows: int
    #: Column index (from 1) of each column code.
    cols: dict[str, int]
    is_nil: bool

    @property
    def last_row(self) -> int:
        """Last row of the table: data rows, or the 本月无 row of a nil return."""
        return self.first_row + max(self.n_rows, 1) - 1

    @property
    def width(self) -> int:
        return max(self.cols.values())


def layout_of(ws: Worksheet) -> Layout:
    """The layout ``write_return`` gives a form's sheet."""
    form = FORMS_BY_SHEET[ws.title]
    cols = {c.code: i for i, c in enumerate(form.columns, start=1)}
    n = 0
    while ws.cell(FIRST_DATA_ROW + n, 1).value not in (None, "") and not str(
            ws.cell(FIRST_DATA_ROW + n, 1).value).startswith("填表人"):
        n += 1
    is_nil = n == 1 and ws.cell(FIRST_DATA_ROW, 2).value is None and ws.cell(FIRST_DATA_ROW, 1).value == "本月无"
    return Layout(form, HEADER_ROW, FIRST_DATA_ROW, 0 if is_nil else n, cols, is_nil)


def _data_cells(ws: Worksheet, lay: Layout, types: Iterable[str]):
    wanted = set(types)
    for r in range(lay.first_row, lay.first_row + lay.n_rows):
        for col in lay.form.columns:
            if col.type in wanted:
                cell = ws.cell(r, lay.cols[col.code])
                if cell.value is not None:
                    yield col, cell


# --- edits of values ------------------------------------------------------------------------


def numbers_as_text(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """Counts typed as text, in full-width digits, with thousands separators or a trailing unit."""
    for col, cell in _data_cells(ws, lay, ["int"]):
        n = int(cell.value)
        options = [str(n), str(n).translate(_FULL_WIDTH), f" {n} ", float(n)]
        if col.code in _COUNT_UNITS:
            options.append(f"{n}{_COUNT_UNITS[col.code]}")
        if col.code.endswith("officers") or col.code in ("exam_takers", "exam_passed"):
            options.append(f"{n}人")
        if n >= 1000:
            options.append(f"{n:,}")
        cell.value = rng.choice(options)


def dates_as_typed(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """Dates as serial numbers or as text in the forms clerks use."""
    for _, cell in _data_cells(ws, lay, ["date"]):
        d = cell.value.date() if isinstance(cell.value, dt.datetime) else cell.value
        cell.value = rng.choice([
            (d - EXCEL_EPOCH).days, d.isoformat(), f"{d.year}/{d.month}/{d.day}", f"{d.year}年{d.month}月{d.day}日",
            f"{d.year}.{d.month:02d}.{d.day:02d}", d.strftime("%Y%m%d"), dt.datetime(d.year, d.month, d.day),
        ])
        if not isinstance(cell.value, dt.datetime):
            cell.number_format = "General"


def yes_no_variants(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """是/否 as Y/N, √/×, with stray spaces."""
    for _, cell in _data_cells(ws, lay, ["yesno"]):
        yes = cell.value == YES
        cell.value = rng.choice(["Y", "√", "y", " 是 ", "YES"] if yes else ["N", "×", "n", " 否", "NO"])


def padded_text(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """Leading and trailing spaces, full-width ones too, around text and choices."""
    for _, cell in _data_cells(ws, lay, ["text", "enum"]):
        cell.value = rng.choice(["\u3000", " ", ""]) + str(cell.value) + rng.choice(["  ", "\u3000", ""])


# --- edits of labels and the header block ---------------------------------------------------------


def label_variants(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """Header labels with spaces (any width), line breaks, ``*`` marks and bracketed units."""
    for col in lay.form.columns:
        label = col.label
        mid = len(label) // 2
        options = [f" {label} ", label[:mid] + "\u3000" + label[mid:], label[:mid] + "\n" + label[mid:], "*" + label,
                   label + "＊"]
        if col.code in _COUNT_UNITS:
            options += [f"{label}（{_COUNT_UNITS[col.code]}）", f"{label}({_COUNT_UNITS[col.code]})"]
        if col.required:
            options.append(f"{label}\n（必填）")
        ws.cell(lay.header_row, lay.cols[col.code]).value = rng.choice(options)


def header_block_variants(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """The unit by one of its aliases; 报告期 in another spelling; label and value in separate cells."""
    unit_cell = ws.cell(INFO_ROW, 1)
    name = str(unit_cell.value).split("：", 1)[1]
    unit = next((u for u in units() if u.name == name), None)
    alias = rng.choice([name, *unit.aliases]) if unit else name
    period_cell = ws.cell(INFO_ROW, period_column(lay.form))
    year, month = (int(x) for x in str(period_cell.value).split("：", 1)[1].rstrip("月").split("年"))
    period = rng.choice([f"{year}年{month}月", f"{year}-{month:02d}", f"{year}.{month:02d}", f"{year}/{month}",
                         f"{year}年{month}月份", f" {year} 年 {month} 月", dt.datetime(year, month, 1)])
    if rng.random() < 0.5 or period_cell.column <= 2:
        unit_cell.value = f"{UNIT_LABEL}（盖章）：{alias}" if rng.random() < 0.3 else f"{UNIT_LABEL}：  {alias}"
    else:
        unit_cell.value = f"{UNIT_LABEL}："
        ws.cell(INFO_ROW, 2).value = alias
    if isinstance(period, dt.datetime) or rng.random() < 0.5:
        period_cell.value = PERIOD_LABEL
        value = ws.cell(INFO_ROW, period_cell.column + 1, period)
        if isinstance(period, dt.datetime):
            value.number_format = "yyyy年m月"
    else:
        period_cell.value = f"{PERIOD_LABEL}：{period}"


# --- edits of the table's shape ---------------------------------------------------------------------


def _table_rows(lay: Layout) -> range:
    return range(lay.header_row, lay.last_row + 1)


def move_columns(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """Columns in another order, and an extra column (序号 or 备注) the form does not have."""
    rows = list(_table_rows(lay))
    grid = {(r, c): (ws.cell(r, c).value, ws.cell(r, c).number_format) for r in rows for c in range(1, lay.width + 1)}
    order = list(lay.form.columns)
    rng.shuffle(order)
    extra = rng.choice(["序号", "备注", "经办人", None])
    slots: list[str | None] = [c.code for c in order]
    if extra:
        slots.insert(0 if extra == "序号" else rng.randint(0, len(slots)), extra)
    for r in rows:
        for c in range(1, len(slots) + 1):
            ws.cell(r, c).value = None
    new_cols: dict[str, int] = {}
    for c, code in enumerate(slots, start=1):
        if code in lay.cols:
            for r in rows:
                value, fmt = grid[(r, lay.cols[code])]
                cell = ws.cell(r, c, value)
                cell.number_format = fmt
            new_cols[code] = c
        else:
            ws.cell(lay.header_row, c, code)
            for i, r in enumerate(rows[1:], start=1):
                if not lay.is_nil:
                    note = "已核实" if code == "备注" and rng.random() < 0.5 else None
                    ws.cell(r, c, i if code == "序号" else note)
    lay.cols = new_cols


def total_row(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """A 合计 row under the data: the sum of each count column."""
    if lay.is_nil or not lay.n_rows or lay.form.kind == "aggregate":
        return  # an aggregate form is one row of counts: no column to write 合计 in
    r = lay.last_row + 1
    ws.insert_rows(r)
    numeric = {lay.cols[c.code] for c in lay.form.numeric_columns}
    label_cols = [c for c in range(1, lay.width + 2) if c not in numeric]
    ws.cell(r, rng.choice(label_cols[:2]), rng.choice(["合计", "合  计", "合计："]))
    for col in lay.form.numeric_columns:
        values = [ws.cell(x, lay.cols[col.code]).value for x in range(lay.first_row, lay.last_row + 1)]
        total = sum(_as_int(v) for v in values if v is not None)
        ws.cell(r, lay.cols[col.code], total if rng.random() < 0.7 else str(total))


def _as_int(value: object) -> int:
    return to_int(value) or 0


def footer_variants(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """Names, a phone number and a date under the table."""
    r = ws.max_row + rng.randint(1, 2)
    ws.cell(r, 1, "填表人：张晓燕　　联系电话：0519-86688123　　审核人：王建国")
    if rng.random() < 0.5:
        ws.cell(r + 1, 1, "单位负责人：李明")
        ws.cell(r + 2, 1, "填报日期：2021年1月5日")


def blank_rows_between(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """An empty row left between data rows (or after the last one)."""
    if lay.n_rows < 1 or lay.is_nil:
        return
    at = rng.randint(lay.first_row + 1, lay.last_row + 1)
    ws.insert_rows(at)
    lay.n_rows += 1  # the table now spans one more row, one of them blank


def rows_above(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """Notes and blank rows between the header block and the header row."""
    notes = rng.choice([[None], ["注：本表数据统计截至报告期末。", None], ["单位：户、个", None, None], [None, None]])
    at = lay.header_row
    ws.insert_rows(at, len(notes))
    for i, text in enumerate(notes):
        if text:
            ws.cell(at + i, 1, text)
    lay.header_row += len(notes)
    lay.first_row += len(notes)


def merged_header(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """A two-level header: labels merged down over two rows, or a group row merged across above."""
    if rng.random() < 0.5:
        ws.insert_rows(lay.header_row + 1)
        for c in range(1, lay.width + 1):
            ws.merge_cells(start_row=lay.header_row, start_column=c, end_row=lay.header_row + 1, end_column=c)
        lay.first_row += 1
    else:
        ws.insert_rows(lay.header_row)
        half = max(1, lay.width // 2)
        ws.cell(lay.header_row, 1, "基本情况")
        ws.merge_cells(start_row=lay.header_row, start_column=1, end_row=lay.header_row, end_column=half)
        if half < lay.width:
            ws.cell(lay.header_row, half + 1, "完成情况")
            ws.merge_cells(start_row=lay.header_row, start_column=half + 1, end_row=lay.header_row,
                           end_column=lay.width)
        lay.header_row += 1
        lay.first_row += 1


def formatted_empty_rows(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """Borders and fill left on empty rows below everything, as after deleting data."""
    start = ws.max_row + 1
    for r in range(start, start + rng.randint(20, 300)):
        for c in range(1, lay.width + 2):
            cell = ws.cell(r, c)
            cell.border = _BORDER
            if rng.random() < 0.3:
                cell.fill = _FILL


def nil_variants(ws: Worksheet, lay: Layout, rng: random.Random) -> None:
    """本月无 as 无, as a sentence, or the data rows simply left empty."""
    if not lay.is_nil:
        return
    choice = rng.choice(["无", "本月无检查任务", None, " 本月无 "])
    for c in range(1, ws.max_column + 1):
        if ws.cell(lay.first_row, c).value is not None:
            ws.cell(lay.first_row, c).value = None
    ws.cell(lay.first_row, rng.choice([1, min(lay.cols.values())]), choice)


#: Sheet-level edits, in the order they are applied (later ones rely on the layout earlier ones leave).
SHEET_EDITS: dict[str, Callable[[Worksheet, Layout, random.Random], None]] = {
    "numbers_as_text": numbers_as_text,
    "dates_as_typed": dates_as_typed,
    "yes_no_variants": yes_no_variants,
    "padded_text": padded_text,
    "label_variants": label_variants,
    "header_block_variants": header_block_variants,
    "move_columns": move_columns,
    "nil_variants": nil_variants,
    "blank_rows_between": blank_rows_between,
    "total_row": total_row,
    "footer_variants": footer_variants,
    "rows_above": rows_above,
    "merged_header": merged_header,
    "formatted_empty_rows": formatted_empty_rows,
}
#: Workbook-level edits.
BOOK_EDITS = ("rename_sheets", "reorder_sheets", "extra_sheet")
EDITS = (*SHEET_EDITS, *BOOK_EDITS)


def mess_up(wb: Workbook, rng: random.Random, edits: Iterable[str] = EDITS) -> Workbook:
    """Apply ``edits`` (names from ``EDITS``) to every form sheet of ``wb``, in place; return ``wb``."""
    chosen = set(edits)
    unknown = chosen - set(EDITS)
    if unknown:
        raise KeyError(f"unknown edits {sorted(unknown)}")
    for ws in list(wb.worksheets):
        if ws.title not in FORMS_BY_SHEET:
            continue
        lay = layout_of(ws)
        for name, edit in SHEET_EDITS.items():
            if name in chosen:
                edit(ws, lay, rng)
        if "rename_sheets" in chosen:
            ws.title = rng.choice([f"{ws.title}表", f"{ws.title}（12月）", f" {ws.title}", f"Sheet{wb.index(ws) + 1}"])
    if "extra_sheet" in chosen:
        notes = wb.create_sheet(rng.choice(["填报说明", "Sheet3", "说明"]))
        if notes.title != "Sheet3":
            notes["A1"] = "本表由办公室统一报送。"
    if "reorder_sheets" in chosen:
        rng.shuffle(wb._sheets)
        wb.active = 0
    return wb


def messy_copy(source: Path, target: Path, rng: random.Random, edits: Iterable[str] = EDITS) -> Path:
    """Save a messed-up copy of the clean workbook ``source`` as ``target``."""
    wb = mess_up(load_workbook(source), rng, edits)
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)
    return target


# --- the messy sample month ------------------------------------------------------------------------

#: Units whose clean December workbook the messy month replaces, and the names their clerks give the file.
MESSY_UNITS: dict[str, str] = {
    "SCJG": "市场监管局{m}月报表（终稿）.xlsx",
    "YJJ": "{y}年{m}月 应急局 月报.xlsx",
    "NYJ": "农业农村局-月报-{y}{m:02d}.xlsx",
    "TJJ": "统计局{m}月.xlsx",
    "HHC": "荷花池街道 执法培训 {m}月.xlsx",
    "GAFJ": "公安分局月报表 ({m}).xlsx",
}
#: A unit that sends its return twice: the clean one, then a messy one of the same meaning a day later.
RESENT_UNIT = "WJW"
#: Units whose later correction may be the broken one (bad date, 合计 that does not add up, a 是/否 that
#: is neither): the first with a 行政检查 row in the month.
BROKEN_UNITS = ("RSJ", "STHJ", "ZJJ", "SWJ", "JYJ", "MZJ", "ZRZY", "SWSJ", "SCJG")
BROKEN_UNIT = BROKEN_UNITS[0]


def _set_mtime(path: Path, when: dt.datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def _broken(source: Path, target: Path) -> Path:
    """A correction of ``source``'s 行政检查 alone (执法培训 if it has no inspection rows) with mistakes in it."""
    wb = load_workbook(source)
    sheet = FORMS["inspection"].sheet
    if sheet not in wb.sheetnames or layout_of(wb[sheet]).n_rows == 0:
        sheet = FORMS["training"].sheet
    ws = wb[sheet]
    for other in [s for s in wb.worksheets if s is not ws]:
        wb.remove(other)
    lay = layout_of(ws)
    if lay.form.code == "training":
        ws.cell(lay.first_row, lay.cols["certified_officers"]).value = "很多"
        ws.cell(lay.first_row, lay.cols["exam_takers"]).value = "12.5"
        wb.save(target)
        return target
    date_col = lay.cols["completed_on"]
    ws.cell(lay.first_row, date_col).value = "2020-12-32"
    ws.cell(lay.first_row, lay.cols["joint"]).value = "不确定"
    total = lay.last_row + 1
    ws.insert_rows(total)
    ws.cell(total, 1, "合计")
    entities = [ws.cell(r, lay.cols["entities_sampled"]).value for r in range(lay.first_row, lay.last_row + 1)]
    ws.cell(total, lay.cols["entities_sampled"], sum(int(v) for v in entities) + 10)
    wb.save(target)
    return target


def write_messy_month(year: int, inbox: Path, month: int = 12) -> list[Path]:
    """Make ``inbox/<year>-<month>`` (already written by ``write_sample_year``) look as clerks send it.

    Six units' clean workbooks are replaced by messy ones of the same meaning, one unit resends its
    workbook a day later in a messy form (the later one is in force, with the same rows), and one
    unit sends a correction of its 行政检查 a day later that is broken and refused (its earlier valid
    return stays in force). The year's figures do not change. Returns the files written.
    """
    from pipeline.samples.sample import received_at, return_path, sample_year_data

    data = sample_year_data(year)
    period = f"{year:04d}-{month:02d}"
    written: list[Path] = []
    folder = inbox / f"{year:04d}-{month:02d}"
    for code, pattern in MESSY_UNITS.items():
        unit = unit_by_code(code)
        clean = return_path(inbox, unit, year, month)
        target = folder / pattern.format(y=year, m=month)
        messy_copy(clean, target, random.Random(f"messy-{year}-{month}-{code}"))
        clean.unlink()
        _set_mtime(target, received_at(year, month, code))
        written.append(target)
    resent = unit_by_code(RESENT_UNIT)
    clean = return_path(inbox, resent, year, month)
    target = folder / f"{resent.name}_{period_text(period)}报表（更正）.xlsx"
    messy_copy(clean, target, random.Random(f"messy-{year}-{month}-{RESENT_UNIT}"))
    _set_mtime(target, received_at(year, month, RESENT_UNIT) + dt.timedelta(days=1))
    written.append(target)
    others = [u.code for u in units() if u.code not in (*MESSY_UNITS, RESENT_UNIT)]
    with_rows = [c for c in (*BROKEN_UNITS, *others) if c in others and data[(c, period)].get("inspection")]
    broken_unit: Unit = unit_by_code(with_rows[0] if with_rows else BROKEN_UNIT)
    clean = return_path(inbox, broken_unit, year, month)
    target = _broken(clean, folder / f"{broken_unit.name}{month}月报表_更正.xlsx")
    _set_mtime(target, received_at(year, month, broken_unit.code) + dt.timedelta(days=1))
    written.append(target)
    return written


__all__ = ["BOOK_EDITS", "EDITS", "SHEET_EDITS", "Layout", "layout_of", "mess_up", "messy_copy", "write_messy_month"]
