"""Writing the monthly returns as workbooks: the blank template departments fill in, and filled returns.

One sheet writer lays out every form as ``docs/forms-reference.md`` ("Every sheet") describes: title row,
header block (``填报单位：…`` / ``报告期：…``), a blank row, the header row (row 4), data from row 5,
and a footer two rows under the data.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.xml.constants import ARC_CORE
from openpyxl.xml.functions import tostring

from pipeline import atomic
from pipeline.forms import FORMS, NIL_MARKERS, NO, PERIOD_LABEL, UNIT_LABEL, YES, Column, Form
from pipeline.outputs.author_sheets import print_ready
from pipeline.outputs.rule_text import column_rules
from pipeline.registry import resolve_unit, units
from pipeline.sanitise import cell as safe_text

TEMPLATE_NAME = "月报表模板.xlsx"
GUIDE_SHEET = "填报说明"
TITLE_ROW = 1
INFO_ROW = 2
HEADER_ROW = 4
FIRST_DATA_ROW = 5
#: Dropdowns cover this many data rows: enough for any unit's month.
VALIDATION_ROWS = 200
LAST_VALIDATED_ROW = FIRST_DATA_ROW + VALIDATION_ROWS - 1
NIL_TEXT = NIL_MARKERS[0]
FOOTER_TEXT = "填表人：        联系电话：        审核人："
DATE_FORMAT = "yyyy-mm-dd"

TYPE_NAMES = {"text": "文本", "int": "整数", "enum": "选项", "yesno": "是否", "date": "日期"}

_BOLD = Font(bold=True)
_TITLE_FONT = Font(bold=True, size=14)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)
_WRAP = Alignment(vertical="top", wrap_text=True)
_UNLOCKED = Protection(locked=False)
_PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})$")


def period_text(period: str) -> str:
    """``"2020-03"`` → ``"2020年3月"``, the way the header block writes a reporting month."""
    match = _PERIOD_RE.match(period)
    if not match or not 1 <= int(match[2]) <= 12:
        raise ValueError(f"reporting period must look like 2020-03, not {period!r}")
    return f"{int(match[1])}年{int(match[2])}月"


def period_column(form: Form) -> int:
    """1-based column of the ``报告期`` cell: about two thirds across the table."""
    return max(2, len(form.columns) * 2 // 3 + 1)


def column_rule(form: Form, col: Column) -> str:
    """The Chinese filling rule of a column, derived from its definition."""
    return "；".join(rule.zh for rule in column_rules(form, col))


def _display_width(value: object) -> int:
    """Width of a value in Excel character units, CJK characters counting double."""
    if isinstance(value, (date, datetime)):
        return 10
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _cell_value(col: Column, value: object) -> object:
    """A data value as it goes into its cell: typed, and never a formula."""
    if value is None or value == "":
        return None
    if col.type == "yesno" and isinstance(value, bool):
        return YES if value else NO
    if col.type == "int" and isinstance(value, bool):
        raise TypeError(f"{col.code}: a bool is not a count")
    return safe_text(value)


def _validations(form: Form) -> Iterable[DataValidation]:
    """One list dropdown per enum and 是/否 column, over the data rows."""
    for index, col in enumerate(form.columns, start=1):
        if col.type == "enum":
            choices = col.choices
        elif col.type == "yesno":
            choices = (YES, NO)
        else:
            continue
        # A warning, not a stop: the contract accepts Y/N/√/× and the parser folds them.
        dv = DataValidation(
            type="list",
            formula1='"' + ",".join(choices) + '"',
            allow_blank=True,
            showErrorMessage=True,
            errorStyle="warning",
            errorTitle="输入有误",
            error="请从下拉列表中选择：" + "、".join(choices),
        )
        letter = get_column_letter(index)
        dv.add(f"{letter}{FIRST_DATA_ROW}:{letter}{LAST_VALIDATED_ROW}")
        yield dv


def write_form_sheet(
    ws: Worksheet,
    form: Form,
    unit_name: str | None,
    period: str | None,
    rows: Sequence[Mapping[str, object]] | None,
    *,
    template: bool = False,
    protect: bool = False,
) -> None:
    """Lay out one form on ``ws``; ``template`` leaves header values and data empty, no footer."""
    width = len(form.columns)
    last = get_column_letter(width)
    if form.kind == "aggregate" and rows is not None and len(rows) > 1:
        raise ValueError(f"{form.sheet}: an aggregate form has one row, got {len(rows)}")

    ws.title = form.sheet
    title = ws.cell(TITLE_ROW, 1, form.title)
    title.font = _TITLE_FONT
    title.alignment = _CENTRE
    ws.merge_cells(f"A{TITLE_ROW}:{last}{TITLE_ROW}")
    ws.row_dimensions[TITLE_ROW].height = 28

    # The unit name comes from data, but the cell starts with the label, so the cell as a whole is safe.
    unit_cell = ws.cell(INFO_ROW, 1, safe_text(f"{UNIT_LABEL}：" + ("" if template else str(unit_name))))
    period_cell = ws.cell(
        INFO_ROW, period_column(form), f"{PERIOD_LABEL}：" + ("" if template else period_text(period or ""))
    )

    widths = [max(10, _display_width(col.label) + 2) for col in form.columns]
    for index, col in enumerate(form.columns, start=1):
        cell = ws.cell(HEADER_ROW, index, col.label)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.border = _BORDER
        cell.alignment = _CENTRE
    ws.row_dimensions[HEADER_ROW].height = 32

    last_row = HEADER_ROW
    if not template:
        if not rows:
            ws.cell(FIRST_DATA_ROW, 1, NIL_TEXT)
            last_row = FIRST_DATA_ROW
        for offset, row in enumerate(rows or ()):
            unknown = set(row) - set(form.labels)
            if unknown:
                raise KeyError(f"{form.sheet}: unknown columns {sorted(unknown)}")
            for index, col in enumerate(form.columns, start=1):
                value = _cell_value(col, row.get(col.code))
                cell = ws.cell(FIRST_DATA_ROW + offset, index, value)
                cell.border = _BORDER
                if isinstance(value, (date, datetime)):
                    cell.number_format = DATE_FORMAT
                widths[index - 1] = max(widths[index - 1], _display_width(value) + 2)
            last_row = FIRST_DATA_ROW + offset
        ws.cell(last_row + 2, 1, FOOTER_TEXT)

    for index, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = min(w, 40)
    validations = ([_column_validation(form, i, c) for i, c in enumerate(form.columns, start=1)]
                   if template else _validations(form))
    for dv in validations:
        ws.add_data_validation(dv)
    ws.freeze_panes = f"A{FIRST_DATA_ROW}"

    if protect:
        # Lock the layout but leave what the clerk writes editable: header values and data rows.
        ws.protection.sheet = True
        unit_cell.protection = _UNLOCKED
        period_cell.protection = _UNLOCKED
        for row_cells in ws.iter_rows(min_row=FIRST_DATA_ROW, max_row=LAST_VALIDATED_ROW, max_col=width):
            for cell in row_cells:
                cell.protection = _UNLOCKED


#: 填报说明 column widths (栏目, 类型, 填写要求): 88 characters, one A4 portrait page wide.
GUIDE_WIDTHS = (24, 8, 56)
UNIT_LIST_NAME = "UNIT_NAMES"
PERIOD_FORMAT = 'yyyy"年"m"月"'


def _lines(text: str, width: int) -> int:
    """How many lines ``text`` wraps to in a cell ``width`` characters wide (CJK counting double)."""
    return max(1, -(-_display_width(text) // max(1, width - 2)))


def _guide_line(ws: Worksheet, row: int, text: str, *, bold: bool = False) -> None:
    """One instruction across the three columns, wrapped, its row tall enough to show all of it.

    Spreadsheets do not grow a merged cell's row to fit wrapped text, so the height is set here.
    """
    cell = ws.cell(row, 1, text)
    cell.alignment = _WRAP
    if bold:
        cell.font = _BOLD
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=3)
    ws.row_dimensions[row].height = 16 * _lines(text, sum(GUIDE_WIDTHS))


def _general_notes(forms: list[Form], unit_name: str | None) -> tuple[str, ...]:
    sheets = "、".join(f"“{f.sheet}”" for f in forms)
    first = (f"本模板为{unit_name}专用，只含本单位每月应报的{len(forms)}张表：{sheets}。每张表都要报送，不要删除。"
             if unit_name else
             "每个单位每月报送一个工作簿，只保留本单位需要填报的工作表（多数单位只填“执法培训”）；"
             "各单位应报哪些表见本页末尾“附：各单位应报报表”。")
    return (
        first,
        "每张表第2行填写填报单位（单位全称，可从下拉列表选择），第3行填写报告期（如2020-12，显示为2020年12月）。",
        "第4行表头请勿修改；数据从第5行起逐行填写，不要合并单元格，日期按2020-12-03格式填写。"
        "选中单元格时会显示该栏的填写要求，填写不符合要求时会弹出提示。",
        f"本月没有数据的报表，在第5行第一格填写“{NIL_TEXT}”，不要删除该工作表。",
        "报送后发现错误的，重新报送整个工作簿（更正），以最后一次通过审核的报送为准。",
    )


def _write_guide(ws: Worksheet, forms: Iterable[Form], unit_name: str | None = None,
                 unit_list: Sequence[tuple[str, str]] = ()) -> None:
    """The 填报说明 sheet: general notes, then per form its instructions and a column table.

    ``unit_list`` ((name, sheets owed) per unit) is appended for the generic template; its names are
    the 填报单位 dropdown's source (the defined name ``UNIT_NAMES``).
    """
    from openpyxl.workbook.defined_name import DefinedName

    forms = list(forms)
    ws.title = GUIDE_SHEET
    for index, width in enumerate(GUIDE_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    title = ws.cell(1, 1, f"{unit_name}月报表填报说明" if unit_name else "月报表填报说明")
    title.font = _TITLE_FONT
    title.alignment = _CENTRE
    ws.merge_cells("A1:C1")
    ws.row_dimensions[1].height = 28
    row = 2
    for number, text in enumerate(_general_notes(forms, unit_name), start=1):
        _guide_line(ws, row, f"{number}. {text}")
        row += 1
    numerals = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三", "十四", "十五")
    for form_index, form in enumerate(forms):
        row += 1
        _guide_line(ws, row, f"{numerals[form_index]}、{form.title}（工作表“{form.sheet}”）", bold=True)
        row += 1
        for number, text in enumerate(form.instructions, start=1):
            _guide_line(ws, row, f"{number}. {text}")
            row += 1
        for index, label in enumerate(("栏目", "类型", "填写要求"), start=1):
            cell = ws.cell(row, index, label)
            cell.font = _BOLD
            cell.fill = _HEADER_FILL
            cell.border = _BORDER
            cell.alignment = _CENTRE
        row += 1
        for col in form.columns:
            rule = column_rule(form, col)
            for index, value in enumerate((col.label, TYPE_NAMES[col.type], rule), start=1):
                cell = ws.cell(row, index, value)
                cell.border = _BORDER
                cell.alignment = _WRAP
            ws.row_dimensions[row].height = 16 * max(_lines(rule, GUIDE_WIDTHS[2]),
                                                     _lines(col.label, GUIDE_WIDTHS[0]))
            row += 1
    if unit_list:
        row += 1
        _guide_line(ws, row, "附：各单位应报报表（填报单位请从下拉列表选择，或照此填写全称）", bold=True)
        row += 1
        first = row
        for name, sheets in unit_list:
            # The name across 栏目 and 类型 (the longest, 15 characters, on one line), the sheets beside it.
            cell = ws.cell(row, 1, name)
            cell.alignment = _WRAP
            ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)
            cell = ws.cell(row, 3, sheets)
            cell.alignment = _WRAP
            ws.row_dimensions[row].height = 16 * max(_lines(sheets, GUIDE_WIDTHS[2]),
                                                     _lines(name, sum(GUIDE_WIDTHS[:2])))
            row += 1
        ref = f"'{GUIDE_SHEET}'!$A${first}:$A${row - 1}"
        ws.parent.defined_names[UNIT_LIST_NAME] = DefinedName(UNIT_LIST_NAME, attr_text=ref)
    _print_ready(ws, landscape=False, title_rows=None)


def _print_ready(ws: Worksheet, *, landscape: bool, title_rows: str | None) -> None:
    """A4, one page wide, page numbers: as every sheet of ``figures.xlsx`` prints."""

    print_ready(ws, landscape=landscape, title_rows=title_rows, title=ws.title)


def _prompt(text: str, limit: int = 250) -> str:
    """Excel refuses a data-validation prompt or message over 255 characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _column_validation(form: Form, index: int, col: Column) -> DataValidation:
    """A validation with a Chinese input prompt and error message for one column's data rows.

    Column A also takes ``本月无``: there a wrong entry warns instead of stopping.
    """
    rule = column_rule(form, col)
    first = index == 1
    nil = f"；本月没有数据时在第5行填写“{NIL_TEXT}”" if first else ""
    if col.type in ("enum", "yesno"):
        choices = col.choices if col.type == "enum" else (YES, NO)
        # A warning, not a stop: the contract accepts Y/N/√/× and the parser folds them.
        dv = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', errorStyle="warning",
                            error="请从下拉列表中选择：" + "、".join(choices))
    elif col.type == "int":
        low = col.min_value if col.min_value is not None else 0
        dv = DataValidation(type="whole", operator="greaterThanOrEqual", formula1=str(low),
                            errorStyle="warning" if first else "stop",
                            error=f"“{col.label}”只能填写不小于{low}的整数" + nil)
    elif col.type == "date":
        dv = DataValidation(type="date", operator="between", formula1="DATE(2000,1,1)",
                            formula2="DATE(2099,12,31)", errorStyle="warning" if first else "stop",
                            error=f"“{col.label}”只能填写日期，格式如2020-12-03" + nil)
    else:
        dv = DataValidation(type="textLength", operator="lessThanOrEqual", formula1="200",
                            errorStyle="warning", error=f"“{col.label}”不超过200个字" + nil)
    dv.allow_blank = True
    dv.showErrorMessage = True
    dv.showInputMessage = True
    dv.errorTitle = "填写有误"
    dv.promptTitle = _prompt(col.label, 30)
    dv.prompt = _prompt(rule + nil)
    letter = get_column_letter(index)
    dv.add(f"{letter}{FIRST_DATA_ROW}:{letter}{LAST_VALIDATED_ROW}")
    return dv


def _template_header(ws: Worksheet, form: Form, unit_name: str | None) -> None:
    """Template rows 2 and 3: 填报单位 (filled in, or a dropdown of the registry) and 报告期 (a month).

    Each label stands alone with its value in the cell to its right, where a validation can check it.
    """
    for merged in [m for m in ws.merged_cells.ranges if m.min_row == INFO_ROW]:
        ws.unmerge_cells(str(merged))
    for cell in ws[INFO_ROW]:
        cell.value = None
    last = get_column_letter(max(2, len(form.columns)))
    ws.cell(INFO_ROW, 1, f"{UNIT_LABEL}：").font = _BOLD
    unit = ws.cell(INFO_ROW, 2, safe_text(unit_name) if unit_name else None)
    if last != "B":
        ws.merge_cells(f"B{INFO_ROW}:{last}{INFO_ROW}")
    ws.cell(INFO_ROW + 1, 1, f"{PERIOD_LABEL}：").font = _BOLD
    period = ws.cell(INFO_ROW + 1, 2)
    period.number_format = PERIOD_FORMAT
    period.alignment = Alignment(horizontal="left")
    if unit_name is None:
        dv = DataValidation(type="list", formula1=UNIT_LIST_NAME, allow_blank=False, showErrorMessage=True,
                            showInputMessage=True, errorStyle="stop", errorTitle="填写有误",
                            error="请从下拉列表中选择本单位全称（见“填报说明”末尾的单位名单）",
                            promptTitle="填报单位", prompt="请从下拉列表选择本单位全称")
        dv.add(unit.coordinate)
        ws.add_data_validation(dv)
    dv = DataValidation(type="date", operator="between", formula1="DATE(2015,1,1)", formula2="DATE(2099,12,31)",
                        allow_blank=False, showErrorMessage=True, showInputMessage=True, errorStyle="stop",
                        errorTitle="填写有误", error="报告期请填写年月，如2020-12（显示为2020年12月）",
                        promptTitle="报告期", prompt="填写本表所属月份，如2020-12（显示为2020年12月）")
    dv.add(period.coordinate)
    ws.add_data_validation(dv)


def save_workbook(wb: Workbook, path: Path, stamp: datetime | None = None) -> None:
    """Save ``wb``; with ``stamp``, document properties and zip entry times are fixed to it.

    A naive ``stamp`` is taken as UTC for the properties; zip entries get its wall-clock time.

    openpyxl stamps ``modified`` and every zip entry with the current time, so two saves of the same
    content differ in bytes; with a stamp the bytes depend on the content alone.
    """
    if stamp is None:
        atomic.save(path, wb.save)
        return
    # Document properties are UTC; zip entries carry the wall-clock time of the stamp.
    utc = stamp.astimezone(UTC).replace(tzinfo=None) if stamp.tzinfo else stamp
    wb.properties.created = utc
    buffer = io.BytesIO()
    wb.save(buffer)
    wb.properties.modified = utc
    core = tostring(wb.properties.to_tree())
    date_time = stamp.timetuple()[:6]
    with zipfile.ZipFile(buffer) as src, atomic.replacing(path) as tmp, \
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = core if info.filename == ARC_CORE else src.read(info)
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, data)


def _ordered_forms(codes: Iterable[str]) -> list[Form]:
    """The forms named by ``codes`` in contract order (inspection, transfer, training)."""
    wanted = set(codes)
    unknown = wanted - set(FORMS)
    if unknown:
        raise KeyError(f"unknown forms {sorted(unknown)}")
    return [form for code, form in FORMS.items() if code in wanted]


def write_return(
    path: Path,
    unit_name: str,
    period: str,
    sheets: Mapping[str, Sequence[Mapping[str, object]] | None],
    *,
    protect: bool = False,
    stamp: datetime | None = None,
) -> None:
    """Write one unit's workbook for ``period`` (``YYYY-MM``); a sheet of None or [] is a nil return.

    ``stamp`` fixes the workbook's created/modified times so the file's bytes are reproducible.
    """
    period_text(period)
    wb = Workbook()
    wb.remove(wb.active)
    for form in _ordered_forms(sheets):
        write_form_sheet(wb.create_sheet(), form, unit_name, period, sheets[form.code], protect=protect)
    save_workbook(wb, path, stamp)


def write_template(out_dir: Path, unit: str | None = None, *, stamp: datetime | None = None) -> Path:
    """Write the blank template into ``out_dir``: ``月报表模板.xlsx`` with every form and a 填报单位
    dropdown, or with ``unit`` (a registry name, alias or code) ``<单位>_月报表模板.xlsx`` with only
    the sheets that unit owes and its name filled in. Raises LookupError for an unknown unit."""

    if unit is not None:
        found = resolve_unit(unit)
        if found is None:
            raise LookupError(unit)
        forms, name, unit_list = _ordered_forms(found.forms), found.name, []
        path = out_dir / f"{safe_file_name(found.name)}_{TEMPLATE_NAME}"
    else:
        forms, name, path = list(FORMS.values()), None, out_dir / TEMPLATE_NAME
        unit_list = [(u.name, "、".join(FORMS[f].sheet for f in u.forms if f in FORMS)) for u in units()]
    wb = Workbook()
    _write_guide(wb.active, forms, name, unit_list)
    for form in forms:
        ws = wb.create_sheet()
        write_form_sheet(ws, form, None, None, None, template=True)
        _template_header(ws, form, name)
        _print_ready(ws, landscape=len(form.columns) > 5, title_rows=f"{HEADER_ROW}:{HEADER_ROW}")
    save_workbook(wb, path, stamp)
    return path


def safe_file_name(name: str) -> str:
    """A registry name as part of a file name: path separators and reserved characters replaced."""
    return re.sub(r'[\\/:*?"<>|\s]+', "_", name).strip("._") or "unit"


__all__ = [
    "DATE_FORMAT",
    "FIRST_DATA_ROW",
    "FOOTER_TEXT",
    "GUIDE_SHEET",
    "HEADER_ROW",
    "LAST_VALIDATED_ROW",
    "NIL_TEXT",
    "TEMPLATE_NAME",
    "TYPE_NAMES",
    "column_rule",
    "period_column",
    "period_text",
    "safe_text",
    "save_workbook",
    "write_form_sheet",
    "write_return",
    "write_template",
]
