"""Finding the header block and header row by label, and reading data rows, on tiny inline sheets."""

import datetime as dt

import pytest

from pipeline.forms import FORMS
from pipeline.intake.parse import parse_sheet, parse_workbook
from pipeline.intake.reader import SheetData, WorkbookData

pytestmark = pytest.mark.unit
INSPECTION_HEADER = ("任务编号", "任务名称", "检查方式", "抽取检查对象户数", "是否联合抽查", "联合抽查编号", "完成日期",
                     "发现问题数")


def inspection_sheet(*data, above=(), header=INSPECTION_HEADER, tail=()):
    rows = [("行政检查情况月报表",), ("填报单位：区市场监管局", None, None, None, "报告期：", "2020年12月"), (), *above,
            header, *data, *tail]
    return SheetData("行政检查", [tuple(r) for r in rows])


ROW = ("T-1", "食品检查", "双随机", 12, "否", None, dt.datetime(2020, 12, 3), 1)


def test_header_block_and_rows_found_by_label():
    parsed = parse_sheet(FORMS["inspection"], inspection_sheet(ROW))
    assert parsed.unit_text == "区市场监管局"
    assert parsed.period == "2020-12"
    assert parsed.header_row == 4
    assert [r.excel_row for r in parsed.rows] == [5]
    assert parsed.rows[0].values["entities_sampled"] == 12
    assert parsed.rows[0].values["completed_on"] == dt.date(2020, 12, 3)
    assert parsed.cell(5, "entities_sampled") == "D5"
    assert not parsed.problems


def test_notes_above_header_and_columns_in_another_order():
    header = tuple(reversed(INSPECTION_HEADER))
    parsed = parse_sheet(FORMS["inspection"], inspection_sheet(tuple(reversed(ROW)), above=[("注：本表按月报送",), ()],
                                                               header=header))
    assert parsed.header_row == 6
    assert parsed.rows[0].values["task_id"] == "T-1"
    assert parsed.cell(7, "task_id") == "H7"


def test_nil_return():
    parsed = parse_sheet(FORMS["inspection"], inspection_sheet(("本月无",)))
    assert parsed.is_nil and not parsed.rows and not parsed.problems


def test_sheet_with_no_data_rows_is_nil():
    # docs/forms-reference.md: "A sheet with no data rows ... is a nil return".
    parsed = parse_sheet(FORMS["inspection"], inspection_sheet())
    assert parsed.is_nil is True and parsed.rows == [] and not parsed.problems


def test_total_row_checked_and_footer_ignored():
    other = ("T-2", "消防检查", "日常检查", 8, "否", None, dt.datetime(2020, 12, 4), 0)
    tail = [("合计", None, None, 20, None, None, None, 1), ("填表人：张三  联系电话：123",)]
    ok = parse_sheet(FORMS["inspection"], inspection_sheet(ROW, other, tail=tail))
    assert [r.excel_row for r in ok.rows] == [5, 6] and not ok.problems
    bad = parse_sheet(FORMS["inspection"], inspection_sheet(ROW, other, tail=[("合计", None, None, 21)]))
    assert [(p.rule, p.cell, p.value) for p in bad.problems] == [("total_mismatch", "D7", "21")]
    assert "20" in bad.problems[0].message_zh


def test_uncoercible_cell_is_reported_with_its_address():
    row = ("T-1", "食品检查", "双随机", "十二户", "否", None, "下旬", 1)
    parsed = parse_sheet(FORMS["inspection"], inspection_sheet(row))
    assert {(p.cell, p.column_label, p.value) for p in parsed.problems} == {
        ("D5", "抽取检查对象户数", "十二户"), ("G5", "完成日期", "下旬")}
    assert parsed.bad_cells == {(5, "entities_sampled"), (5, "completed_on")}


def test_missing_required_column_is_an_error():
    header = tuple(h for h in INSPECTION_HEADER if h != "完成日期")
    parsed = parse_sheet(FORMS["inspection"], inspection_sheet(ROW[:6] + ROW[7:], header=header))
    assert [(p.rule, p.column_label) for p in parsed.problems] == [("column_missing", "完成日期")]


def test_unknown_unit_and_wrong_period_refused():
    sheet = SheetData("行政检查", [("填报单位：", "区不存在局"), ("报告期：", "2020年11月"), INSPECTION_HEADER, ROW])
    wb = parse_workbook(WorkbookData({"行政检查": sheet}), "2020-12")
    rules = {p.rule: p for p in wb.sheets[0].problems}
    assert rules["unit_unknown"].cell == "B1" and rules["unit_unknown"].value == "区不存在局"
    assert rules["period_mismatch"].message_zh == "报告期为2020年11月，与报送月份2020年12月不符"


def test_aliases_resolve_to_the_unit():
    wb = parse_workbook(WorkbookData({"行政检查": inspection_sheet(ROW)}), "2020-12")
    assert wb.sheets[0].unit.code == "SCJG"


def test_workbook_without_any_form_sheet():
    wb = parse_workbook(WorkbookData({"Sheet1": SheetData("Sheet1", [("随便写的",)])}), "2020-12")
    assert wb.sheets == []
    assert [p.rule for p in wb.problems if p.severity == "error"] == ["no_form_sheet"]


def test_numbers_are_quoted_back_as_typed():
    from pipeline.problems import show_value

    assert show_value(20.0) == "20"
    assert show_value(2.5) == "2.5"
    assert show_value("x" * 70).endswith("…")
