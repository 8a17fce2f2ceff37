"""Returns laid out the way official statistical returns are (forms.md, "How official statistical returns are
laid out"): 序号 columns, 栏次 and 计量单位 rows, 表号 blocks, total rows first or last and subtotals, and
workbooks saved with the 1904 date system."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from hostile_files import to_xls
from openpyxl import Workbook

from pipeline.forms import FORMS, VERIFY_NOTE
from pipeline.intake.parse import parse_sheet, parse_workbook
from pipeline.intake.reader import CalamineXlsxReader, OpenpyxlReader, SheetData, WorkbookData, default_reader

pytestmark = pytest.mark.unit

INSPECTION = FORMS["inspection"]
TRAINING = FORMS["training"]
INSPECTION_HEADER = tuple(c.label for c in INSPECTION.columns)
TRAINING_HEADER = tuple(c.label for c in TRAINING.columns)
BLOCK = ("填报单位：区市场监管局", None, None, None, "报告期：", "2020年12月")
ROW1 = ("T-1", "食品检查", "双随机", 12, "否", None, dt.datetime(2020, 12, 3), 1)
ROW2 = ("T-2", "消防检查", "日常检查", 8, "否", None, dt.datetime(2020, 12, 4), 0)
ROW3 = ("T-3", "药品检查", "专项检查", 5, "否", None, dt.datetime(2020, 12, 9), 2)


def sheet(header, *rows, above=(), name="行政检查", block=BLOCK):
    return SheetData(name, [tuple(r) for r in [("月报表",), block, *above, (), header, *rows]])


def inspection(*rows, above=(), serial=False):
    """An inspection sheet; with ``serial`` a 序号 column leads and the data rows are numbered."""
    if serial:
        numbered, n = [], 0
        for row in rows:
            if row and isinstance(row[0], str) and row[0].startswith("T-"):
                n += 1
                numbered.append((n, *row))
            else:
                numbered.append(row)
        return sheet(("序号", *INSPECTION_HEADER), *numbered, above=above)
    return sheet(INSPECTION_HEADER, *rows, above=above)


def training(*rows, above=()):
    return sheet(TRAINING_HEADER, *rows, above=above, name="执法培训")


def errors(parsed):
    return [(p.rule, p.cell or p.excel_row) for p in parsed.problems]


def row_numbers(parsed):
    return list(parsed.excel_rows)


# --- total rows -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("label", ["合计", "总计", "小计", "合 计", "总\u3000计", "合计数", " 合  计： "])
@pytest.mark.parametrize("where", ["first", "last"])
def test_total_row_first_or_last_with_any_label(label, where):
    total = (label, None, None, 20, None, None, None, 1)
    rows = (total, ROW1, ROW2) if where == "first" else (ROW1, ROW2, total)
    parsed = parse_sheet(INSPECTION, inspection(*rows))
    assert parsed.problems == []
    assert row_numbers(parsed) == ([6, 7] if where == "first" else [5, 6])
    assert parsed.data["entities_sampled"] == [12, 8]
    assert not parsed.is_nil


def test_total_row_first_that_does_not_add_up_names_its_row_and_the_sum():
    parsed = parse_sheet(INSPECTION, inspection(("合计", None, None, 21, None, None, None, 1), ROW1, ROW2))
    assert [(p.rule, p.cell, p.value) for p in parsed.problems] == [("total_mismatch", "D5", "21")]
    assert "20" in parsed.problems[0].message_zh and "第6行至第7行" in parsed.problems[0].message_zh
    assert row_numbers(parsed) == [6, 7]


def test_total_label_in_the_serial_number_column():
    parsed = parse_sheet(INSPECTION, inspection(ROW1, ROW2, ("合计", None, None, None, 20, None, None, None, 1),
                                                serial=True))
    assert parsed.problems == [] and row_numbers(parsed) == [5, 6]


def test_total_label_in_a_number_column_is_not_its_value():
    # 执法培训's first column is a number column: the label stands where its total would.
    parsed = parse_sheet(TRAINING, training(("合计", 7, 5, 1, 30), (40, 7, 5, 1, 30)))
    assert parsed.problems == []
    assert row_numbers(parsed) == [6]
    assert parsed.data["certified_officers"] == [40]
    wrong = parse_sheet(TRAINING, training((40, 7, 5, 1, 30), ("合 计", 8, 5, 1, 30)))
    assert [(p.rule, p.cell) for p in wrong.problems] == [("total_mismatch", "B6")]


def test_placeholders_in_a_total_row_are_not_values():
    total = ("合计", "—", "/", 20, "—", "-", "——", 1)
    parsed = parse_sheet(INSPECTION, inspection(ROW1, ROW2, total))
    assert parsed.problems == [] and row_numbers(parsed) == [5, 6]


def test_subtotals_after_each_group_then_a_grand_total():
    rows = (ROW1, ROW2, ("小计", None, None, 20, None, None, None, 1),
            ROW3, ("小计", None, None, 5, None, None, None, 2),
            ("合计", None, None, 25, None, None, None, 3))
    parsed = parse_sheet(INSPECTION, inspection(*rows))
    assert parsed.problems == []
    assert row_numbers(parsed) == [5, 6, 8]


def test_subtotals_leading_their_groups_after_a_grand_total_first():
    rows = (("合计", None, None, 25, None, None, None, 3),
            ("小计", None, None, 20, None, None, None, 1), ROW1, ROW2,
            ("小计", None, None, 5, None, None, None, 2), ROW3)
    parsed = parse_sheet(INSPECTION, inspection(*rows))
    assert parsed.problems == []
    assert row_numbers(parsed) == [7, 8, 10]


def test_a_subtotal_that_does_not_add_up_is_refused_naming_its_group():
    rows = (ROW1, ROW2, ("小计", None, None, 21, None, None, None, 1),
            ROW3, ("小计", None, None, 5, None, None, None, 2),
            ("合计", None, None, 25, None, None, None, 3))
    parsed = parse_sheet(INSPECTION, inspection(*rows))
    assert [(p.rule, p.cell) for p in parsed.problems] == [("total_mismatch", "D7")]
    assert "第5行至第6行" in parsed.problems[0].message_zh and "20" in parsed.problems[0].message_zh


# --- 栏次 and 计量单位 rows --------------------------------------------------------------------------------

COLUMN_NUMBERS = ("甲", "乙", "丙", 1, "丁", "戊", "己", 2)
UNITS = ("—", "—", "—", "户", "—", "—", "—", "个")


@pytest.mark.parametrize("companions", [
    [COLUMN_NUMBERS],
    [("甲", "乙", "丙", "1", "丁", "戊", "己", "2")],
    [tuple(str(i) for i in range(1, 9))],
    [tuple(range(1, 9))],
    [UNITS],
    [COLUMN_NUMBERS, UNITS],
    [UNITS, COLUMN_NUMBERS],
])
@pytest.mark.parametrize("total_first", [False, True])
def test_column_number_and_unit_rows_under_the_header_are_not_data(companions, total_first):
    total = ("合计", None, None, 20, None, None, None, 1)
    rows = [*companions, *((total,) if total_first else ()), ROW1, ROW2, *(() if total_first else (total,))]
    parsed = parse_sheet(INSPECTION, inspection(*rows))
    assert parsed.problems == []
    first = 5 + len(companions) + total_first
    assert row_numbers(parsed) == [first, first + 1]


def test_column_numbers_labelled_in_the_serial_number_column():
    rows = (("栏次", "甲", "乙", "丙", 1, "丁", "戊", "己", 2),
            ("计量单位", None, None, None, "户", None, None, None, "个"), ROW1, ROW2)
    parsed = parse_sheet(INSPECTION, inspection(*rows, serial=True))
    assert parsed.problems == [] and row_numbers(parsed) == [7, 8]


@pytest.mark.parametrize("label", ["代码", "栏次"])
def test_column_numbers_labelled_in_a_text_column(label):
    parsed = parse_sheet(INSPECTION, inspection((label, "乙", "丙", 1, "丁", "戊", "己", 2), ROW1))
    assert parsed.problems == [] and row_numbers(parsed) == [6]


def test_training_unit_row_and_unit_note_above_the_header():
    parsed = parse_sheet(TRAINING, training(("人", "人", "人", "场", "人次"), (40, 7, 5, 1, 30),
                                            above=[("（单位：人）",)]))
    assert parsed.problems == [] and row_numbers(parsed) == [7]
    assert parsed.data["trained_officers"] == [30]


def test_column_numbers_1_to_5_followed_by_the_data_row_are_column_numbers():
    parsed = parse_sheet(TRAINING, training((1, 2, 3, 4, 5), (40, 7, 5, 1, 30)))
    assert parsed.problems == [] and row_numbers(parsed) == [6]
    both = parse_sheet(TRAINING, training(("1", "2", "3", "4", "5"), ("合计", 7, 5, 1, 30), (40, 7, 5, 1, 30)))
    assert both.problems == [] and row_numbers(both) == [7]


def test_the_only_row_1_to_5_is_the_months_data():
    # Nothing follows it: it is the return's one row (a legal-adviser month of 1, 2, 3, 4 is plausible).
    adviser = FORMS["legal_adviser"]
    parsed = parse_sheet(adviser, sheet(tuple(c.label for c in adviser.columns), (1, 2, 3, 4), name="法律顾问"))
    assert row_numbers(parsed) == [5]
    assert [parsed.data[c.code] for c in adviser.columns if c.code != VERIFY_NOTE] == [[1], [2], [3], [4]]
    assert all(p.severity == "warning" for p in parsed.problems)
    with_total = parse_sheet(adviser, sheet(tuple(c.label for c in adviser.columns), (1, 2, 3, 4), ("合计", 2, 3, 4),
                                            name="法律顾问"))
    assert row_numbers(with_total) == [5] and not with_total.has_errors
    # 执法培训 whose only row is literally 1 2 3 4 5: read as its data (the suite then refuses 3 passed of 2
    # takers), with a warning that says the row was taken for data and what to do if it is a 栏次 row.
    only = parse_sheet(TRAINING, training((1, 2, 3, 4, 5), ("填表人：张三",)))
    assert row_numbers(only) == [5] and only.data["exam_passed"] == [3]
    assert [(p.rule, p.severity, p.excel_row) for p in only.problems] == [("column_numbers_as_data", "warning", 5)]
    assert "第5行" in only.problems[0].message_zh


def test_companion_rows_then_nil_marker_is_a_nil_return():
    parsed = parse_sheet(INSPECTION, inspection(COLUMN_NUMBERS, UNITS, ("本月无",)))
    assert parsed.is_nil and parsed.problems == []
    bare = parse_sheet(TRAINING, training(("人", "人", "人", "场", "人次")))
    assert bare.is_nil and bare.problems == []


# --- 序号 and 表号 ------------------------------------------------------------------------------------------

def test_serial_number_column_is_known():
    parsed = parse_sheet(INSPECTION, inspection(ROW1, ROW2, serial=True))
    assert parsed.problems == [] and row_numbers(parsed) == [5, 6]
    assert parsed.data["task_id"] == ["T-1", "T-2"]


def test_prenumbered_empty_serial_rows_are_not_data():
    parsed = parse_sheet(INSPECTION, inspection(ROW1, (2,), (3,), serial=True))
    assert parsed.problems == [] and row_numbers(parsed) == [5]


@pytest.mark.parametrize("block", [
    [("填报单位：", "区市场监管局", None, None, "表号：", "钟司统1表"),
     ("报告期：", "2020年12月", None, None, "制定机关：", "区司法局"),
     (None, None, None, None, "批准文号：", "钟司〔2020〕3号"), (None, None, None, None, "有效期至：", "2022年12月")],
    [("填报单位：", None, None, None, "表号：钟司统1表"), ("报告期：", None, None, None, "有效期至：2022年12月")],
    [(None, None, None, None, "表号：钟司统1表"), (None, None, None, None, "制定机关：区司法局"),
     (None, None, None, None, "批准文号：钟司〔2020〕3号"), (None, None, None, None, "有效期至：2022年12月"),
     ("填报单位：区市场监管局",), ("报告期：2020年12月",)],
    [("填报单位：区市场监管局 表号：钟司统1表",), ("报告期：2020年12月 有效期至：2022年12月",)],
])
def test_form_number_block_is_never_the_unit_or_the_period(block):
    parsed = parse_sheet(INSPECTION, sheet(INSPECTION_HEADER, ROW1, block=block[0], above=block[1:]))
    if parsed.unit_text is not None:
        assert parsed.unit_text == "区市场监管局"
    if parsed.period_text is not None:
        assert parsed.period == "2020-12"
    assert "钟司" not in str(parsed.unit_text) + str(parsed.period_text)
    assert "有效期" not in str(parsed.period_text)


def test_missing_unit_beside_a_form_number_is_reported_missing():
    block = [("填报单位：", None, None, None, "表号：", "钟司统1表"), ("报告期：", "2020年12月")]
    book = WorkbookData(sheets={"行政检查": sheet(INSPECTION_HEADER, ROW1, block=block[0], above=block[1:])})
    wb = parse_workbook(book, "2020-12")
    assert [p.rule for p in wb.sheets[0].problems] == ["unit_missing"]


# --- what is still refused says which row and what it was taken for ------------------------------------

def test_an_unrecognised_row_under_the_header_says_it_was_read_as_data():
    parsed = parse_sheet(TRAINING, training(("人数", "人数", "人数", "场数", "人数"), (40, 7, 5, 1, 30)))
    assert parsed.has_errors
    row_notes = [p for p in parsed.problems if p.rule == "row_read_as_data"]
    assert [p.excel_row for p in row_notes] == [5]
    assert "第5行" in row_notes[0].message_zh and "数据行" in row_notes[0].message_zh


def test_second_row_of_an_aggregate_return_names_both_rows():
    parsed = parse_sheet(TRAINING, training((40, 7, 5, 1, 30), (41, 7, 5, 1, 30)))
    [p] = [p for p in parsed.problems if p.rule == "one_row"]
    assert p.excel_row == 6 and "第6行" in p.message_zh and "第5行" in p.message_zh


# --- the 1904 date system ---------------------------------------------------------------------------------

def _workbook_1904(formula: bool, date1904: bool = True, period: object = "2020年12月") -> bytes:
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    wb = Workbook()
    if date1904:
        wb.epoch = CALENDAR_MAC_1904
    ws = wb.active
    ws.title = "行政检查"
    for row in [("行政检查情况月报表",), (*BLOCK[:-1], period), (), INSPECTION_HEADER]:
        ws.append(row)
    if isinstance(period, dt.datetime):
        ws["F2"].number_format = "yyyy年m月"
    serial = (dt.date(2020, 12, 3) - dt.date(1904, 1, 1)).days
    ws.append(("T-1", "食品检查", "双随机", 12, "否", None, serial, 1))  # General format: a plain number
    ws.append(("T-2", "消防检查", "日常检查", 8, "否", None, str(serial + 1), 0))  # the serial typed as text
    ws.append(("T-3", "药品检查", "专项检查", 5, "否", None, dt.datetime(2020, 12, 9), 2))  # a real date
    ws["G7"].number_format = "yyyy-mm-dd"
    if formula:
        ws["K50"] = "=1+1"  # below the table: only forces the openpyxl path
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _read_1904(reader: str, date1904: bool = True, period: object = "2020年12月"):
    """The one parsed sheet of ``_workbook_1904`` as ``reader`` reads it; ``xls``: saved as a legacy .xls."""
    data = _workbook_1904(formula=reader == "auto-with-formula", date1904=date1904, period=period)
    if reader == "calamine":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            wb = CalamineXlsxReader(archive).read(io.BytesIO(data))
    elif reader == "openpyxl":
        wb = OpenpyxlReader().read(io.BytesIO(data))
    else:
        wb = default_reader().read(io.BytesIO(to_xls(data, date1904) if reader == "xls" else data))
    [parsed] = parse_workbook(wb, "2020-12").sheets
    return parsed


@pytest.mark.parametrize("reader", ["calamine", "openpyxl", "auto-with-formula", "auto", "xls"])
def test_1904_serial_dates_count_from_1904(reader):
    parsed = _read_1904(reader)
    assert parsed.problems == []
    assert parsed.data["completed_on"] == [dt.date(2020, 12, 3), dt.date(2020, 12, 4), dt.date(2020, 12, 9)]


@pytest.mark.parametrize("reader", ["auto", "xls"])
def test_1900_serial_dates_unchanged(reader):
    # The same serial numbers in a workbook of the 1900 system are dates 1,462 days earlier.
    parsed = _read_1904(reader, date1904=False)
    assert parsed.data["completed_on"][:2] == [dt.date(2016, 12, 2), dt.date(2016, 12, 3)]
    assert parsed.data["completed_on"][2] == dt.date(2020, 12, 9)


@pytest.mark.parametrize("reader", ["calamine", "openpyxl", "auto-with-formula", "xls"])
@pytest.mark.parametrize("date1904", [False, True], ids=["1900", "1904"])
@pytest.mark.parametrize("typed", ["number", "text", "date"])
def test_period_typed_as_a_date_reads_as_its_month(reader, date1904, typed):
    # 报告期 as a date, the same date formatted as General (its serial number), or that number pasted as text.
    first = dt.date(2020, 12, 1)
    serial = (first - (dt.date(1904, 1, 1) if date1904 else dt.date(1899, 12, 30))).days
    period = {"number": serial, "text": str(serial), "date": dt.datetime(2020, 12, 1)}[typed]
    parsed = _read_1904(reader, date1904, period)
    assert parsed.period == "2020-12"
    assert not [p for p in parsed.problems if p.rule.startswith("period_")]


def test_period_serial_of_the_other_date_system_is_another_month():
    # 44165 is 2020-12-01 counted from 1899-12-30, but 2024-12-02 counted from 1904-01-01: never silently the same.
    parsed = _read_1904("xls", date1904=True, period=44165)
    assert parsed.period == "2024-12"
    assert [p.rule for p in parsed.problems] == ["period_mismatch"]


def test_data_below_the_closing_total_is_refused_not_dropped():
    total = ("合计", None, None, 20, None, None, None, 1)
    parsed = parse_sheet(INSPECTION, inspection(ROW1, ROW2, total, ROW3, ("填表人：张三",), ROW3))
    assert [(p.rule, p.excel_row) for p in parsed.problems] == [("rows_after_total", 8)]
    assert "第8行" in parsed.problems[0].message_zh and "合计行" in parsed.problems[0].message_zh
    notes = parse_sheet(INSPECTION, inspection(ROW1, ROW2, total, ("注：本表按月报送",),
                                               (None, None, None, None, "盖章")))
    assert notes.problems == []


def test_consecutive_numbers_not_from_1_are_data_not_a_column_number_row():
    # 509 510 under the header is a month's data that happens to run on; a 栏次 row counts from 1.
    adviser = FORMS["legal_adviser"]
    parsed = parse_sheet(adviser, sheet(tuple(c.label for c in adviser.columns), (None, None, 509, 510),
                                        name="法律顾问"))
    assert row_numbers(parsed) == [5] and parsed.problems == []
