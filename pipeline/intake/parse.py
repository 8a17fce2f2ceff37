"""From a workbook's cell values to typed rows of each form, found by their labels, never by address."""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise, zip_longest

from pipeline.forms import (
    COLUMN_NUMBER_LABELS,
    COLUMN_NUMBER_STEMS,
    FORM_NUMBER_LABELS,
    FORMS,
    NIL_MARKERS,
    NO,
    PERIOD_LABEL,
    SERIAL_LABEL,
    SUBTOTAL_LABELS,
    TOTAL_LABELS,
    UNIT_LABEL,
    UNIT_ROW_LABELS,
    UNIT_WORDS,
    YES,
    Form,
)
from pipeline.intake.coerce import (
    COERCERS,
    EXCEL_EPOCH,
    EXCEL_EPOCH_1904,
    CoercionError,
    fold,
    is_blank,
    to_date_1904,
    to_period,
    to_text,
    unquote,
)
from pipeline.intake.reader import MAX_FORMULA_CELLS_LISTED, SheetData, WorkbookData
from pipeline.problems import Problem, show_value
from pipeline.registry import Unit, resolve_unit

# How far below the top a header row may stand (title, notes and blank rows come first).
HEADER_SEARCH_ROWS = 40
_BRACKETS = re.compile(r"[（(【\[][^）)】\]]*[）)】\]]")
_FOOTER_PREFIXES = (
    "填表人", "填报人", "制表人", "审核人", "联系电话", "联系人", "负责人", "单位负责人", "统计负责人", "分管领导",
    "填报日期", "填表日期", "制表日期", "报出日期", "注:", "备注:", "说明:",
)
FORMULA_MESSAGE = (
    "单元格含公式，但文件中没有保存公式的计算结果（常见于程序生成或未在 Excel 中保存过的文件），"
    "请在 Excel 或 WPS 中打开、保存后重新报送"
)


def column_letter(index: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


# Every return repeats the template's labels: a month of a city's workbooks folds a few hundred distinct texts.
@functools.lru_cache(maxsize=8192, typed=True)
def normalise_label(text: object) -> str:
    """Compare labels without spaces (any width), line breaks, ``*`` marks or bracketed units."""
    folded = fold(str(text)) if text is not None else ""
    folded = _BRACKETS.sub("", folded)
    return "".join(ch for ch in folded if not ch.isspace() and ch not in "*＊:：")


@dataclass
class ParsedRow:
    excel_row: int
    values: dict[str, object]


@dataclass
class ParsedSheet:
    """One form's sheet of a workbook, parsed."""

    form: Form
    sheet: str
    unit_text: str | None = None
    unit_cell: str | None = None
    period_text: str | None = None
    period_cell: str | None = None
    period: str | None = None
    header_row: int | None = None
    columns: dict[str, int] = field(default_factory=dict)
    #: Excel row of each data row, in sheet order (a range when no row was skipped: 100,000 ints cost 4 MB).
    excel_rows: Sequence[int] = field(default_factory=list)
    #: Form column code → the coerced value of each data row (aligned with ``excel_rows``), every column.
    data: dict[str, list[object]] = field(default_factory=dict)
    is_nil: bool = False
    problems: list[Problem] = field(default_factory=list)
    #: (excel_row, column code) of cells that could not be coerced: the suite's findings there repeat it.
    bad_cells: set[tuple[int, str]] = field(default_factory=set)
    unit: Unit | None = None
    #: Last Excel row the parser read as part of the table (data rows and the 合计 row).
    end_row: int = 0
    #: The workbook counts serial-number dates from 1904-01-01 (``date1904``).
    date1904: bool = False

    @property
    def rows(self) -> list[ParsedRow]:
        """The data rows one by one (built on each call: bulk work reads ``data``)."""
        codes = list(self.data)
        return [ParsedRow(excel_row=r, values={c: self.data[c][i] for c in codes})
                for i, r in enumerate(self.excel_rows)]

    def cell(self, excel_row: int, code: str) -> str | None:
        col = self.columns.get(code)
        return f"{column_letter(col)}{excel_row}" if col else None

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


def _find_header_row(form: Form, rows: list[tuple[object, ...]]) -> tuple[int, dict[str, int], int]:
    """(Excel row, code → column index, number matched) of the best header row; row 0 if none."""
    wanted = {normalise_label(c.label): c.code for c in form.columns}
    best: tuple[int, dict[str, int], int] = (0, {}, 0)
    for r, row in enumerate(rows[:HEADER_SEARCH_ROWS], start=1):
        found: dict[str, int] = {}
        for c, value in enumerate(row, start=1):
            # Labels are text: a number or date cell is never one.
            code = wanted.get(normalise_label(value)) if isinstance(value, str) else None
            if code and code not in found:
                found[code] = c
        if len(found) > best[2]:
            best = (r, found, len(found))
    needed = max(2, (len(form.columns) + 1) // 2)
    return best if best[2] >= needed else (0, {}, best[2])


def header_score(form: Form, sheet: SheetData) -> int:
    """How many of the form's labels the sheet's best header row carries."""
    return _find_header_row(form, sheet.rows)[2]


# ``填报单位（盖章）：…``: a bracket right after the label is a note about the label, not the value. A value
# ends where the next label of the header block (the 表号 block's too) begins.
_NEXT_LABEL = "|".join(("填报日期", *FORM_NUMBER_LABELS))
_BLOCK_RE = {
    UNIT_LABEL: re.compile(rf"填报单位(?:名称)?(?:\([^)]*\))?[:：]?(.*?)(?=报告期|{_NEXT_LABEL}|$)"),
    PERIOD_LABEL: re.compile(rf"报告期(?:间)?(?:\([^)]*\))?[:：]?(.*?)(?=填报单位|{_NEXT_LABEL}|$)"),
}


def _is_block_label(text: str) -> bool:
    """A header-block label (填报单位, 报告期, 表号, 有效期至 …, or a ``（单位：人）`` note), never a value."""
    compact = "".join(fold(text).split()).lstrip("([【")
    return compact.startswith((UNIT_LABEL, PERIOD_LABEL, "填报日期", *FORM_NUMBER_LABELS, "单位:"))


def _header_block(rows: list[tuple[object, ...]], above: int) -> dict[str, tuple[object, str]]:
    """Label → (value, cell) for 填报单位 and 报告期 in the rows above the header row."""
    found: dict[str, tuple[object, str]] = {}
    for r, row in enumerate(rows[: max(above - 1, 0)], start=1):
        for c, value in enumerate(row, start=1):
            if not isinstance(value, str):
                continue
            text = fold(str(unquote(value)))
            compact = "".join(text.split())
            for label, pattern in _BLOCK_RE.items():
                if label in found or label not in compact:
                    continue
                match = pattern.search(compact)
                inline = match.group(1) if match else ""
                if inline:
                    found[label] = (inline, f"{column_letter(c)}{r}")
                    continue
                # Label alone in its cell: the value is the next non-empty cell to its right.
                for c2 in range(c + 1, len(row) + 1):
                    if not is_blank(row[c2 - 1]):
                        neighbour = unquote(row[c2 - 1])
                        # The next label (``报告期：``) is not this label's value: the value is missing.
                        if not (isinstance(neighbour, str) and _is_block_label(neighbour)):
                            found[label] = (neighbour, f"{column_letter(c2)}{r}")
                        break
    return found


_FOOTER_FIRST = frozenset(p[0] for p in _FOOTER_PREFIXES)


def _is_footer(row: tuple[object, ...]) -> bool:
    for value in row:
        # Cheap test first: a footer cell starts with one of a few characters.
        if isinstance(value, str) and value.lstrip()[:1] in _FOOTER_FIRST:
            text = "".join(fold(value).split())
            if text.startswith(_FOOTER_PREFIXES):
                return True
    return False


#: What a total row holds in columns that have no total: a dash or a slash.
_PLACEHOLDER = re.compile(r"^[-—–―─/\\、…]+$")
TOTAL = "total"
SUBTOTAL = "subtotal"


def _is_placeholder(value: object) -> bool:
    return isinstance(value, str) and bool(_PLACEHOLDER.match("".join(fold(value).split())))


def _total_kind(row: tuple[object, ...]) -> str | None:
    """``TOTAL`` (合计, 总计, 合 计, 合计数 …) or ``SUBTOTAL`` (小计) for a row whose only text is that label, in
    whatever column, beside numbers and dashes; None for any other row."""
    if not any(isinstance(v, str) and "计" in v for v in row):
        return None
    texts = [v for v in row if isinstance(v, str) and not is_blank(v) and not _is_count(v) and not _is_placeholder(v)]
    if len(texts) != 1:
        return None
    label = normalise_label(texts[0])
    return TOTAL if label in TOTAL_LABELS else SUBTOTAL if label in SUBTOTAL_LABELS else None


def _is_total(row: tuple[object, ...]) -> bool:
    return _total_kind(row) is not None


def _total_label(value: object) -> bool:
    return isinstance(value, str) and normalise_label(value) in (*TOTAL_LABELS, *SUBTOTAL_LABELS)


# --- the 栏次 and 计量单位 rows under the header ----------------------------------------------------------

COLUMN_NUMBERS = "column_numbers"
UNITS = "units"
#: Only 1 2 3 … in sequence: a 栏次 row, or an aggregate return's month that happens to read so.
NUMBERS_ONLY = "numbers_only"
_UNIT_WORDS = frozenset(UNIT_WORDS)


def _column_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return int(value)
    if isinstance(value, str):
        text = fold(value)
        if text.isdigit() and len(text) <= 3:
            return int(text)
    return None


def _companion_kind(row: tuple[object, ...]) -> str | None:
    """What a row right under the header is by its content: a 栏次 row, a 计量单位 row, a row of numbers only
    (``NUMBERS_ONLY``: decided by what follows), or None (a data row)."""
    cells = [v for v in row if not is_blank(v)]
    if len(cells) < 2:
        return None
    numbers: list[int] = []
    column_marks = units = 0
    other = False
    for value in cells:
        n = _column_number(value)
        if n is not None:
            numbers.append(n)
            continue
        if not isinstance(value, str):
            return None
        text = "".join(fold(value).split())
        bare = text.strip("()[]【】")
        if text in COLUMN_NUMBER_LABELS or (len(text) == 1 and text in COLUMN_NUMBER_STEMS):
            column_marks += 1
        elif bare in _UNIT_WORDS or text in UNIT_ROW_LABELS:
            units += text not in UNIT_ROW_LABELS
        elif not _is_placeholder(text):
            other = True
    if other:
        return None
    ascending = all(a < b for a, b in pairwise(numbers))
    if column_marks and not units and ascending:
        return COLUMN_NUMBERS
    if units and not column_marks and not numbers:
        return UNITS
    # A 栏次 row numbers the number columns from 1: 509 510 is a month's data that happens to run on.
    if not column_marks and not units and len(numbers) == len(cells) and numbers[0] == 1 and all(
            b == a + 1 for a, b in pairwise(numbers)):
        return NUMBERS_ONLY
    return None


def _is_count(text: str) -> bool:
    try:
        COERCERS["int"](text)
    except CoercionError:
        return False
    return True


def _is_nil_marker(value: object) -> bool:
    """``本月无``, ``无``, and ``本月无检查任务``-like sentences that say the same."""
    if not isinstance(value, str):
        return False
    text = normalise_label(value).rstrip("。.!！")
    return text in NIL_MARKERS or text.startswith(NIL_MARKERS[0])


def parse_sheet(form: Form, sheet: SheetData) -> ParsedSheet:
    """Locate the header block and header row by label, then read and coerce the data rows."""
    parsed = ParsedSheet(form=form, sheet=sheet.name, data={c.code: [] for c in form.columns},
                         date1904=sheet.date1904)
    header_row, columns, _ = _find_header_row(form, sheet.rows)
    block = _header_block(sheet.rows, header_row or HEADER_SEARCH_ROWS)
    if UNIT_LABEL in block:
        value, parsed.unit_cell = block[UNIT_LABEL]
        parsed.unit_text = to_text(value)
    if PERIOD_LABEL in block:
        value, parsed.period_cell = block[PERIOD_LABEL]
        parsed.period_text = to_text(value)
        parsed.period = to_period(value, EXCEL_EPOCH_1904 if sheet.date1904 else EXCEL_EPOCH)
    if not header_row:
        parsed.problems.append(Problem(
            "找不到表头行，请使用模板中的列名（如“" + "”“".join(c.label for c in form.columns[:3]) + "”）",
            rule="header_missing", sheet=sheet.name,
        ))
        parsed.end_row = min(len(sheet.rows), HEADER_SEARCH_ROWS)
        _report_uncached_formulas(parsed, sheet)
        return parsed
    parsed.header_row = header_row
    parsed.columns = columns
    for col in form.columns:
        if col.code not in columns and (col.required or col.required_when):
            parsed.problems.append(Problem(
                f"缺少“{col.label}”列", rule="column_missing", sheet=sheet.name,
                excel_row=header_row, column_label=col.label,
            ))
    header = sheet.rows[header_row - 1]
    known = set(columns.values())
    for c, value in enumerate(header, start=1):
        # A 序号 column numbers the rows (and may hold the total row's label): it is part of the layout.
        if c not in known and not is_blank(value) and normalise_label(value) != SERIAL_LABEL:
            parsed.problems.append(Problem(
                f"多余的列“{to_text(value)}”未导入", rule="extra_column", severity="warning",
                sheet=sheet.name, cell=f"{column_letter(c)}{header_row}", value=show_value(value),
            ))
    _read_rows(parsed, sheet.rows, header_row)
    _report_uncached_formulas(parsed, sheet)
    return parsed


def _report_uncached_formulas(parsed: ParsedSheet, sheet: SheetData) -> None:
    """Formula cells without a saved result, in the part of the sheet the parser read."""
    by_col = {c: code for code, c in parsed.columns.items()}
    cells = sorted((r, c) for r, c in sheet.uncached_formulas if r <= parsed.end_row)
    for r, c in cells[:MAX_FORMULA_CELLS_LISTED]:
        code = by_col.get(c) if r > (parsed.header_row or r) else None
        if code:
            parsed.bad_cells.add((r, code))
        parsed.problems.append(Problem(
            FORMULA_MESSAGE, rule="formula_uncached", sheet=parsed.sheet, cell=f"{column_letter(c)}{r}",
            excel_row=r, column_label=parsed.form.column(code).label if code else None,
        ))
    if len(cells) > MAX_FORMULA_CELLS_LISTED:
        parsed.problems.append(Problem(
            f"另有 {len(cells) - MAX_FORMULA_CELLS_LISTED} 个单元格含未保存计算结果的公式，" + FORMULA_MESSAGE,
            rule="formula_uncached", sheet=parsed.sheet,
        ))


def _unquoted(row: tuple[object, ...]) -> tuple[object, ...]:
    if any(isinstance(v, str) and v[:1] == "'" for v in row):
        return tuple(unquote(v) for v in row)
    return row


# A 合计 row holds ``计`` and a footer starts with one of a few characters (both before folding), and our
# formula quote starts with ``'``: a row holding none of these anywhere is neither, nor needs unquoting.
_MAYBE_SPECIAL = re.compile("[" + re.escape("计'" + "".join(sorted(_FOOTER_FIRST))) + "]")


#: A total row found: (Excel row, ``TOTAL`` or ``SUBTOTAL``, its cells).
TotalRow = tuple[int, str, tuple[object, ...]]


def _read_rows(parsed: ParsedSheet, rows: list[tuple[object, ...]], header_row: int) -> None:
    form = parsed.form
    totals: list[TotalRow] = []
    nil_row: int | None = None
    nil_col = 1
    first: int | None = None
    numbers_row: int | None = None
    parsed.end_row = header_row
    # Row by row up to the first data row: blank rows, the 栏次 and 计量单位 rows, total rows written first,
    # 本月无, or a footer right below the header.
    for r in range(header_row + 1, len(rows) + 1):
        row = _unquoted(rows[r - 1])
        kind = _total_kind(row)
        if kind:
            totals.append((r, kind, row))
            parsed.end_row = r
            continue
        if _is_footer(row):
            break
        cells = {code: (row[c - 1] if c - 1 < len(row) else None) for code, c in parsed.columns.items()}
        if all(is_blank(v) for v in cells.values()):
            continue
        parsed.end_row = r
        # The header's companion rows stand directly under it, before any total row or 本月无.
        if not totals and nil_row is None:
            companion = _companion_kind(row)
            if companion in (COLUMN_NUMBERS, UNITS):
                continue
            if companion == NUMBERS_ONLY and numbers_row is None:
                numbers_row = r
                continue
        filled = [v for v in cells.values() if not is_blank(v)]
        # 本月无 alone on its row, wherever the clerk put it, before any data row.
        if nil_row is None and len(filled) == 1 and _is_nil_marker(filled[0]):
            nil_row = r
            nil_col = next(c for code, c in parsed.columns.items() if cells[code] is filled[0])
            continue
        first = r
        break
    if numbers_row is not None and first is None and nil_row is None:
        # 1 2 3 … with no data row below it: it is the month's one row, not a 栏次 row (say so, though).
        first = numbers_row
        parsed.problems.append(Problem(
            f"第{numbers_row}行只有依次排列的数字，与栏次行的写法相同；其下没有其他数据行，已按本月数据读取。"
            "如果这一行是栏次行，请在其下填写本月数据；本月没有数据请填写“本月无”",
            rule="column_numbers_as_data", severity="warning", sheet=parsed.sheet, excel_row=numbers_row,
        ))
    if first is not None:
        totals += _read_data(parsed, rows, first)
    # A sheet with no data rows is a nil return, as is one that says 本月无 (docs/forms-reference.md).
    parsed.is_nil = not parsed.excel_rows
    if nil_row is not None and parsed.excel_rows:
        parsed.problems.append(Problem(
            "填写了“本月无”，下方却还有数据行：本月有数据时请删去“本月无”，没有数据时请删去下方各行",
            rule="nil_with_rows", sheet=parsed.sheet, cell=f"{column_letter(nil_col)}{nil_row}", excel_row=nil_row,
            value=show_value(rows[nil_row - 1][nil_col - 1]),
        ))
    if form.kind == "aggregate" and len(parsed.excel_rows) > 1:
        one = parsed.excel_rows[0]
        for extra in parsed.excel_rows[1:]:
            parsed.problems.append(Problem(
                f"本表每月只填一行：第{one}行已读作本月数据，第{extra}行也被读作数据行。如果第{extra}行是栏次行"
                "（甲 乙 1 2 …）、计量单位行（人 户 件 …）或合计行（合计、小计），请按这些写法填写；否则请删去多余的行",
                rule="one_row", sheet=parsed.sheet, excel_row=extra,
            ))
    _check_totals(parsed, totals)


def _read_data(parsed: ParsedSheet, rows: list[tuple[object, ...]], first: int) -> list[TotalRow]:
    """Read the table from its first data row ``first``, column by column; the total rows met on the way.

    The table ends at a footer or at a grand total (合计) below the data; a 小计 between groups is skipped.
    """
    span = rows[first - 1:]
    physical = list(zip_longest(*span)) if span else []
    # Only rows holding a character that can start a footer or make a 合计 row are looked at one by one.
    suspects: set[int] = set()
    quoted: set[int] = set()
    # The types found in each column: the fast paths below ask it of every part of a column.
    kinds = [set(map(type, col)) for col in physical]
    for c, col in enumerate(physical, start=1):
        joined = "\n".join(_strings(col, kinds[c - 1]))
        if _MAYBE_SPECIAL.search(joined):
            suspects.update(i for i, v in enumerate(col) if isinstance(v, str) and _MAYBE_SPECIAL.search(v))
            if "'" in joined:
                quoted.add(c)
    stop = len(span)
    totals: list[TotalRow] = []
    subtotals: set[int] = set()
    for i in sorted(suspects):
        row = _unquoted(span[i])
        kind = _total_kind(row)
        if kind:
            totals.append((first + i, kind, row))
            if kind == SUBTOTAL:
                subtotals.add(i)
                continue
            stop = i
            _report_rows_after_total(parsed, span, first, i)
            break
        if _is_footer(row):
            stop = i
            break
    width = len(physical)
    # Cell by cell, unquoting is what unquoting the whole row does (only ``'``-led cells change).
    columns = {
        code: ([unquote(v) for v in physical[c - 1][:stop]] if c in quoted else list(physical[c - 1][:stop]))
        if c <= width else [None] * stop
        for code, c in parsed.columns.items()
    }
    # Rows blank in every column of the form are skipped, as the clerk's spacing rows they are.
    none = {_NONE}
    types = {code: kinds[c - 1] if c <= width else none for code, c in parsed.columns.items()}
    blank: list[int] | range = range(stop)
    for code, values in columns.items():
        if not _may_be_blank(values, types[code]):
            blank = []
            break
        blank = [i for i in blank if (v := values[i]) is None or (isinstance(v, str) and not v.strip())]
        if not blank:
            break
    keep: list[int] | range = range(stop)
    if blank or subtotals:
        skipped = set(blank) | subtotals
        keep = [i for i in range(stop) if i not in skipped]
        columns = {code: [values[i] for i in keep] for code, values in columns.items()}
    parsed.excel_rows = range(first, first + stop) if isinstance(keep, range) else [first + i for i in keep]
    if parsed.excel_rows:
        parsed.end_row = parsed.excel_rows[-1]
    if totals:
        parsed.end_row = max(parsed.end_row, totals[-1][0])
    found: list[tuple[int, int, Problem]] = []
    n = len(parsed.excel_rows)
    for k, col in enumerate(parsed.form.columns):
        raw = columns.get(col.code)
        if raw is None:
            parsed.data[col.code] = [None] * n
            continue
        fast = _coerce_column(col.type, raw, types[col.code])
        if fast is not None:
            parsed.data[col.code] = fast
            continue
        coerce = to_date_1904 if col.type == "date" and parsed.date1904 else COERCERS[col.type]
        out = []
        for i, value in enumerate(raw):
            try:
                out.append(coerce(value))
            except CoercionError as exc:
                out.append(None)
                r = parsed.excel_rows[i]
                parsed.bad_cells.add((r, col.code))
                found.append((i, k, Problem(
                    exc.args[0], rule=f"type_{col.type}", sheet=parsed.sheet, cell=parsed.cell(r, col.code),
                    excel_row=r, column_label=col.label, value=show_value(value),
                )))
        parsed.data[col.code] = out
    found.sort(key=lambda f: (f[0], f[1]))
    parsed.problems.extend(p for _, _, p in found)
    _explain_rows_read_as_data(parsed, columns, found)
    return totals


def _report_rows_after_total(parsed: ParsedSheet, span: list[tuple[object, ...]], first: int, at: int) -> None:
    """Rows that look like data below the 合计 that ends the table (before any footer) would be lost: refuse them."""
    cols = [c - 1 for c in parsed.columns.values()]
    for k in range(at + 1, len(span)):
        row = _unquoted(span[k])
        if _is_footer(row):
            return
        if _is_total(row) or sum(not is_blank(row[c]) for c in cols if c < len(row)) < 2:
            continue
        r = first + k
        parsed.problems.append(Problem(
            f"第{r}行在第{first + at}行的合计行下方，被当作表外内容，没有读取。如果这一行是数据，请移到合计行上方"
            "（合计行也可以放在表头下方第一行）；如果不是数据，请删去",
            rule="rows_after_total", sheet=parsed.sheet, excel_row=r,
        ))


def _explain_rows_read_as_data(
    parsed: ParsedSheet, raw: dict[str, list[object]], found: list[tuple[int, int, Problem]]
) -> None:
    """A row none of whose numbers or dates could be read is most likely not data at all: say what it was taken for."""
    failed: dict[int, int] = {}
    for i, _, _ in found:
        failed[i] = failed.get(i, 0) + 1
    typed = [c.code for c in parsed.form.columns if c.type in ("int", "date") and c.code in raw]
    for i, n in failed.items():
        filled = sum(not is_blank(raw[code][i]) for code in typed)
        if n < 2 or n < filled:
            continue
        r = parsed.excel_rows[i]
        parsed.problems.append(Problem(
            f"第{r}行被当作数据行读取，但其中的数字、日期都无法识别。如果这一行是栏次行（甲 乙 1 2 …）、"
            "计量单位行（人 户 件 …）或合计行（合计、小计、总计），请按这些写法填写；如果是数据行，请改正标出的单元格",
            rule="row_read_as_data", sheet=parsed.sheet, excel_row=r,
        ))


_NONE = type(None)
_YESNO = frozenset((YES, NO, None))


def _strings(values: tuple[object, ...], types: set[type]) -> tuple[object, ...] | list[str]:
    """The text values of a column whose values' types are among ``types``, in order (empty ones may be left out)."""
    if types == {str}:
        return values
    if types <= {str, _NONE}:
        return list(filter(None, values))
    if not any(issubclass(t, str) for t in types):
        return ()
    return [v for v in values if isinstance(v, str)]


def _may_be_blank(values: list[object], types: set[type]) -> bool:
    """False when no value of the column is blank (its types are among ``types``), without a Python call per value."""
    if _NONE in types:
        return True
    if types == {str}:
        return not all(map(str.strip, values))
    return any(issubclass(t, str) for t in types)


def _shared(values: list[object]) -> list[object]:
    """``values`` with equal values as one object: a column repeats a few texts or dates thousands of times.

    Only for columns of one type besides None (equal values of different types, such as 1 and True,
    must stay apart).
    """
    # A column of mostly distinct values (task numbers) has nothing to share: judged by its first thousand.
    if len(set(values[:1024])) > 512:
        return values
    canon = dict(zip(values, values, strict=True))
    return values if len(canon) == len(values) else list(map(canon.__getitem__, values))


def _coerce_column(kind: str, values: list[object], types: set[type]) -> list[object] | None:
    """The column's coerced values when every one is already of its type (what ``COERCERS`` would
    give, without a call per cell); None when some value needs the per-cell coercer.

    ``types`` holds the type of every value (it may hold more: each test below holds for any part
    of a column that passes it).
    """
    if kind == "int":
        if types <= {int, _NONE}:
            return values
        if types == {float} and all(map(float.is_integer, values)):
            return list(map(int, values))
        if types <= {int, float, _NONE} and all(v.is_integer() for v in values if type(v) is float):
            return [v if v is None else int(v) for v in values]
    elif kind == "date":
        if types <= {dt.date, _NONE}:
            return _shared(values)
        if types <= {dt.datetime, dt.date, _NONE}:
            # One date per distinct value: a month's rows share about thirty dates.
            dates = {v: v.date() if type(v) is dt.datetime else v for v in set(values)}
            return list(map(dates.__getitem__, values))
    elif kind == "yesno":
        try:
            if set(values) <= _YESNO:
                return _shared(values)
        except TypeError:
            return None
    elif types <= {str, _NONE} and kind in ("text", "enum"):
        texts = values if _NONE not in types else [v for v in values if v is not None]
        # "\n" never composes with a neighbour, so the joined text is NFKC-normal iff every value is.
        joined = "\n".join(texts)
        if not unicodedata.is_normalized("NFKC", joined):
            return None
        if kind == "text" and "" not in texts and list(map(str.strip, texts)) == texts:
            return _shared(values)
        # Equal only when no value is empty or holds any whitespace, which to_choice would remove.
        if kind == "enum" and joined.split() == texts:
            return _shared(values)
    return None


def _check_totals(parsed: ParsedSheet, totals: list[TotalRow]) -> None:
    """Each total row must equal the sum of the data rows it covers.

    A 合计 (总计, 合计数) covers every data row. A 小计 covers its group: when the first 小计 stands above
    the data, each 小计 heads the rows below it up to the next 小计; otherwise each closes the rows above it
    back to the previous 小计.
    """
    rows = parsed.excel_rows
    subtotal_rows = sorted(r for r, kind, _ in totals if kind == SUBTOTAL)
    leading = bool(subtotal_rows) and (not rows or subtotal_rows[0] < rows[0])
    for r, kind, row in totals:
        if kind == TOTAL:
            lo, hi = 0, len(rows)
        elif leading:
            after = [s for s in subtotal_rows if s > r]
            lo, hi = bisect_left(rows, r), (bisect_left(rows, after[0]) if after else len(rows))
        else:
            before = [s for s in subtotal_rows if s < r]
            lo, hi = (bisect_left(rows, before[-1]) if before else 0), bisect_left(rows, r)
        _check_total(parsed, r, row, lo, hi)


def _check_total(parsed: ParsedSheet, r: int, row: tuple[object, ...], lo: int, hi: int) -> None:
    """The total row ``r`` against the sum of data rows ``lo:hi`` (indices into ``excel_rows``), column by column."""
    label = next(normalise_label(v) for v in row if _total_label(v))
    rows = parsed.excel_rows
    if lo >= hi:
        scope = "数据行（没有数据行）"
    elif lo == 0 and hi == len(rows) and r > rows[-1]:
        scope = "上方各行"
    else:
        where = "下方" if r < rows[lo] else ""
        scope = f"{where}第{rows[lo]}行至第{rows[hi - 1]}行各数据行" if hi - lo > 1 else f"{where}第{rows[lo]}行数据"
    for col in parsed.form.numeric_columns:
        c = parsed.columns.get(col.code)
        # The total's label may stand in a number column: that column's total is then simply not given.
        if not c or c - 1 >= len(row) or is_blank(raw := row[c - 1]) or _is_placeholder(raw) or _total_label(raw):
            continue
        try:
            stated = COERCERS["int"](raw)
        except CoercionError as exc:
            parsed.problems.append(Problem(
                f"{label}行的数字无法识别：{exc.args[0]}", rule="type_int", sheet=parsed.sheet,
                cell=parsed.cell(r, col.code), excel_row=r, column_label=col.label, value=show_value(raw),
            ))
            continue
        summed = sum(int(v) for v in parsed.data.get(col.code, ())[lo:hi] if v is not None)
        if stated != summed:
            parsed.problems.append(Problem(
                f"{label}行与{scope}之和（{summed}）不符", rule="total_mismatch", sheet=parsed.sheet,
                cell=parsed.cell(r, col.code), excel_row=r, column_label=col.label, value=show_value(raw),
            ))


@dataclass
class ParsedWorkbook:
    sheets: list[ParsedSheet]
    #: Problems of the file as a whole (no form sheet found, two sheets for one form, …).
    problems: list[Problem]


def match_sheets(workbook: WorkbookData) -> tuple[dict[str, SheetData], list[Problem]]:
    """Form code → the sheet that holds it: by sheet name first, else by its header labels."""
    matched: dict[str, SheetData] = {}
    problems: list[Problem] = []
    leftovers: list[SheetData] = []
    for sheet in workbook.sheets.values():
        name = normalise_label(sheet.name)
        form = next((f for f in FORMS.values() if normalise_label(f.sheet) in name), None)
        if form is None:
            leftovers.append(sheet)
        elif form.code in matched:
            problems.append(Problem(
                f"工作簿中有两张“{form.sheet}”表（“{matched[form.code].name}”和“{sheet.name}”），请只保留一张",
                rule="duplicate_sheet", sheet=sheet.name,
            ))
        else:
            matched[form.code] = sheet
    for sheet in leftovers:
        scores = {f.code: header_score(f, sheet) for f in FORMS.values() if f.code not in matched}
        best = max(scores, key=scores.__getitem__, default=None)
        if best and _find_header_row(FORMS[best], sheet.rows)[0]:
            matched[best] = sheet
        elif any(sheet.rows) and normalise_label(sheet.name) not in ("填报说明", "说明"):
            problems.append(Problem(
                f"工作表“{sheet.name}”不是月报表，未导入", rule="unknown_sheet", severity="warning",
                sheet=sheet.name,
            ))
    if not matched:
        problems.append(Problem(
            "工作簿中没有可识别的月报表（工作表应为：" + "、".join(f.sheet for f in FORMS.values()) + "）",
            rule="no_form_sheet",
        ))
    return matched, problems


def parse_workbook(workbook: WorkbookData, period: str) -> ParsedWorkbook:
    """Parse every form sheet and resolve its unit and reporting month against the inbox month."""
    matched, problems = match_sheets(workbook)
    problems = [*workbook.problems, *problems]
    sheets = [parse_sheet(FORMS[code], sheet) for code, sheet in matched.items()]
    units = {s.unit_text for s in sheets if s.unit_text}
    periods = {s.period for s in sheets if s.period}
    for s in sheets:
        # Clerks often fill the header block on the first sheet only; borrow it when unambiguous.
        if not s.unit_text and len(units) == 1:
            s.unit_text = next(iter(units))
        if not s.period_text and len(periods) == 1:
            s.period = next(iter(periods))
            s.period_text = s.period
        _check_identity(s, period)
    named = {s.unit.code: s.unit.name for s in sheets if s.unit}
    if len(named) > 1:
        for s in sheets:
            s.problems.append(Problem(
                "同一工作簿的各表填报单位不一致（" + "、".join(sorted(named.values()))
                + "），每个单位单独报送一个工作簿",
                rule="unit_conflict", sheet=s.sheet, cell=s.unit_cell, column_label=UNIT_LABEL, value=s.unit_text,
            ))
    return ParsedWorkbook(sheets=sheets, problems=problems)


def _check_identity(s: ParsedSheet, period: str) -> None:
    if not s.unit_text:
        s.problems.append(Problem("未填写填报单位", rule="unit_missing", sheet=s.sheet, column_label=UNIT_LABEL))
    else:
        # ``区市场监管局（盖章）``: a bracketed note after the name is not part of it.
        s.unit = resolve_unit(s.unit_text) or resolve_unit(_BRACKETS.sub("", fold(s.unit_text)))
        if s.unit is None:
            s.problems.append(Problem(
                f"填报单位“{s.unit_text}”不在单位名录中，请填写单位全称", rule="unit_unknown", sheet=s.sheet,
                cell=s.unit_cell, column_label=UNIT_LABEL, value=s.unit_text,
            ))
    if not s.period_text:
        s.problems.append(Problem("未填写报告期", rule="period_missing", sheet=s.sheet, column_label=PERIOD_LABEL))
    elif s.period is None:
        s.problems.append(Problem(
            "无法识别报告期，请按“2020年12月”格式填写", rule="period_unreadable", sheet=s.sheet,
            cell=s.period_cell, column_label=PERIOD_LABEL, value=s.period_text,
        ))
    elif s.period != period:
        y, m = s.period.split("-")
        y2, m2 = period.split("-")
        s.problems.append(Problem(
            f"报告期为{y}年{int(m)}月，与报送月份{y2}年{int(m2)}月不符", rule="period_mismatch",
            sheet=s.sheet, cell=s.period_cell, column_label=PERIOD_LABEL, value=s.period_text,
        ))
