"""The sample year consolidates to the 2020 report, obeys the contract, and is written reproducibly."""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from helpers import assert_matches_report, report_figures_2020

from pipeline.forms import FORMS, INSPECTION, TRAINING, TRANSFER, VERIFY_NOTE
from pipeline.outputs.workbook import (
    DATE_FORMAT,
    FOOTER_TEXT,
    GUIDE_SHEET,
    LAST_VALIDATED_ROW,
    TEMPLATE_NAME,
    TYPE_NAMES,
    column_rule,
    safe_text,
    write_return,
    write_template,
)
from pipeline.registry import unit_by_code, units
from pipeline.samples import sample
from pipeline.samples.sample import CHINA_TZ, LOOKBACK_FORMS, sample_year_data, write_sample_year

pytestmark = pytest.mark.unit

YEAR = 2020


@pytest.fixture(scope="module")
def data_2020() -> dict:
    return sample_year_data(YEAR)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Path], list[Path]]:
    first = tmp_path_factory.mktemp("inbox1")
    second = tmp_path_factory.mktemp("inbox2")
    return first, second, write_sample_year(YEAR, first), write_sample_year(YEAR, second)


def _month_bounds(ym: str) -> tuple[date, date]:
    year, month = int(ym[:4]), int(ym[5:])
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _rows(data: dict, form: str) -> list[tuple[str, str, dict]]:
    return [(unit, ym, row) for (unit, ym), sheets in data.items() for row in sheets.get(form) or []]


# --- the first seven figures, consolidated independently ---------------------------------------


def test_inspection_figures(data_2020: dict) -> None:
    rows = _rows(data_2020, "inspection")
    assert len({unit for unit, _, _ in rows}) == 17
    assert len(rows) == 104
    joint_max: dict[str, int] = {}
    entities = 0
    for _, _, row in rows:
        if row["joint"] == "是":
            joint_max[row["joint_id"]] = max(joint_max.get(row["joint_id"], 0), row["entities_sampled"])
        else:
            entities += row["entities_sampled"]
    assert entities + sum(joint_max.values()) == 1976
    assert len(joint_max) == 14


def test_tjj_files_nil_inspection_returns_all_year(data_2020: dict) -> None:
    owing = [u.code for u in units() if "inspection" in u.forms]
    assert len(owing) == 18
    for month in range(1, 13):
        assert data_2020[("TJJ", f"{YEAR}-{month:02d}")]["inspection"] == []


def test_transfers_filed(data_2020: dict) -> None:
    latest: dict[tuple[str, str], tuple[str, dict]] = {}
    reports: dict[tuple[str, str], list[str]] = defaultdict(list)
    for unit, ym, row in sorted(_rows(data_2020, "transfer"), key=lambda r: r[1]):
        key = (unit, row["transfer_id"])
        latest[key] = (ym, row)
        reports[key].append(row["police_decision"])
    filed = [
        key for key, (_, row) in latest.items()
        if row["police_decision"] == "已立案" and row["filed_on"].year == YEAR
    ]
    assert len(filed) == 9
    finals = [row["police_decision"] for _, row in latest.values()]
    assert finals.count("不予立案") == 2
    assert finals.count("待定") == 2
    # Both ways of reporting a filed case occur: 待定 first then 已立案, and 已立案 at once.
    assert any(reports[key] == ["待定", "已立案"] for key in filed)
    assert any(reports[key] == ["已立案"] for key in filed)


def test_training_figures(data_2020: dict) -> None:
    rows = [row for _, _, row in _rows(data_2020, "training")]
    assert sum(r["exam_takers"] for r in rows) == 607
    assert 150 <= sum(r["trained_officers"] for r in rows) <= 159


# --- all 32 figures of the report, consolidated independently from the sample's rows ---------------


def _flow(data: dict, form: str, column: str) -> int:
    return sum(row[column] or 0 for _, _, row in _rows(data, form))


def _year_end(data: dict, form: str, column: str) -> int:
    """A stock: each unit's value in the last month of the year it reported it."""
    last: dict[str, tuple[str, int]] = {}
    for unit, ym, row in _rows(data, form):
        if row[column] is not None and (unit not in last or ym > last[unit][0]):
            last[unit] = (ym, row[column])
    return sum(v for _, v in last.values())


def _latest(data: dict, form: str) -> dict[tuple[str, str], dict]:
    """Registers: each case's latest report."""
    latest: dict[tuple[str, str], dict] = {}
    for unit, _, row in sorted(_rows(data, form), key=lambda r: r[1]):
        latest[(unit, row["case_id"])] = row
    return latest


def _appearance_rate(year: int) -> float:
    data = sample_year_data(year)
    hearings = [row for _, _, row in _rows(data, "litigation") if row["hearing_held"] == "是"]
    assert hearings, year
    return 100 * sum(row["head_appeared"] == "是" for row in hearings) / len(hearings)


def independent_figures(data: dict, year: int) -> dict[str, float]:
    """What the figure list's rules give for the sample's rows, computed without the warehouse."""
    inspection = _rows(data, "inspection")
    joint_max: dict[str, int] = {}
    solo = 0
    for _, _, row in inspection:
        if row["joint"] == "是":
            joint_max[row["joint_id"]] = max(joint_max.get(row["joint_id"], 0), row["entities_sampled"])
        else:
            solo += row["entities_sampled"]
    transfers: dict[tuple[str, str], dict] = {}
    for unit, _, row in sorted(_rows(data, "transfer"), key=lambda r: r[1]):
        transfers[(unit, row["transfer_id"])] = row
    reconsideration = _latest(data, "reconsideration").values()
    closed = [r for r in reconsideration if r["status"] == "已结案" and r["closed_on"].year == year]
    litigation = _latest(data, "litigation").values()
    general = [row for _, _, row in _rows(data, "general") if row["registrations_total"]]
    return {
        "legal_review_items": _flow(data, "legality_review", "documents_reviewed")
        + _flow(data, "legality_review", "contracts_reviewed"),
        "study_sessions": _flow(data, "general", "study_sessions"),
        "legislative_research_meetings": _flow(data, "legality_review", "research_meetings"),
        "adviser_matters": _flow(data, "legal_adviser", "matters_handled"),
        "adviser_opinions": _flow(data, "legal_adviser", "opinions_issued"),
        "adviser_contracts": _flow(data, "legal_adviser", "contracts_reviewed"),
        "adviser_meetings": _flow(data, "legal_adviser", "meetings_attended"),
        "surveyed_enterprises": _year_end(data, "mediation", "surveyed_enterprises"),
        "enterprise_mediation_orgs": _year_end(data, "mediation", "enterprise_mediation_orgs"),
        "enterprise_health_checks": _flow(data, "mediation", "health_check_reports"),
        "e_registration_rate": 100 * sum(r["registrations_online"] for r in general)
        / sum(r["registrations_total"] for r in general),
        "inspection_units": len({unit for unit, _, _ in inspection}),
        "inspection_tasks": len(inspection),
        "inspection_entities": solo + sum(joint_max.values()),
        "joint_inspections": len(joint_max),
        "devolved_powers": _year_end(data, "general", "devolved_powers"),
        "transfers_filed": sum(
            1 for r in transfers.values() if r["police_decision"] == "已立案" and r["filed_on"].year == year),
        "exam_takers": _flow(data, "training", "exam_takers"),
        "trained_officers": _flow(data, "training", "trained_officers"),
        "reconsideration_accepted": sum(1 for r in reconsideration if r["accepted_on"].year == year),
        "reconsideration_closed": len(closed),
        "reconsideration_suggestions": sum(r["suggestion_letters"] for r in closed),
        "reconsideration_opinions": sum(r["opinion_letters"] for r in closed),
        "litigation_received": sum(1 for r in litigation if r["received_on"].year == year),
        "litigation_closed": sum(1 for r in litigation if r["status"] == "已结案" and r["closed_on"].year == year),
        "head_appearance_rate": min(_appearance_rate(y) for y in (year - 2, year - 1, year)),
        "family_mediation_studios": _flow(data, "mediation", "family_studios_new"),
        "legal_service_teams": _year_end(data, "mediation", "service_teams"),
        "grids_covered": _year_end(data, "mediation", "grids_covered"),
        "legal_aid_workers": _flow(data, "legal_aid", "workers_helped"),
        "legal_aid_wages_10k_yuan": _flow(data, "legal_aid", "wages_recovered_yuan") / 10000,
        "petition_risks": _flow(data, "petition", "risks_resolved"),
    }


def test_all_32_figures_of_the_report(data_2020: dict) -> None:
    figures = independent_figures(data_2020, YEAR)
    assert list(figures) == list(report_figures_2020())
    assert_matches_report(figures, list(figures))


def test_litigation_carries_cases_over_between_years() -> None:
    """2020's 8 closed cases include cases received in 2019, reported in 2019's returns too."""
    reports_2019 = {row["case_id"] for _, _, row in _rows(sample_year_data(2019), "litigation")}
    closed_2020 = [row for row in _latest(sample_year_data(2020), "litigation").values()
                   if row["status"] == "已结案"]
    carried = [row for row in closed_2020 if row["received_on"].year == 2019]
    assert carried and {row["case_id"] for row in carried} <= reports_2019
    assert len(closed_2020) == 8


def test_lookback_years_write_only_litigation(tmp_path: Path) -> None:
    paths = write_sample_year(2019, tmp_path, forms=LOOKBACK_FORMS)
    owing = [u for u in units() if "litigation" in u.forms]
    assert len(paths) == 12 * len(owing)
    wb = openpyxl.load_workbook(paths[0])
    assert wb.sheetnames == ["行政应诉"]


# --- the contract holds for every generated row, in any year -----------------------------------


@pytest.mark.parametrize("year", [2019, 2020, 2021])
def test_every_unit_month_has_the_forms_it_owes(year: int) -> None:
    data = sample_year_data(year)
    registry = units()
    assert len(data) == len(registry) * 12
    for unit in registry:
        for month in range(1, 13):
            sheets = data[(unit.code, f"{year}-{month:02d}")]
            assert set(sheets) == set(unit.forms)
            for code, rows in sheets.items():
                assert all(set(row) <= set(FORMS[code].labels) for row in rows)


def test_a_form_with_no_sample_generator_is_an_error(monkeypatch) -> None:
    from dataclasses import replace

    first, *rest = units()
    monkeypatch.setattr(sample, "units", lambda: [replace(first, forms=(*first.forms, "new_form")), *rest])
    with pytest.raises(sample.NoSampleGenerator, match="new_form"):
        sample_year_data(YEAR)


def test_every_form_is_owed_by_some_unit_so_the_sample_year_has_it() -> None:
    assert {f for u in units() for f in u.forms} == set(FORMS)


@pytest.mark.parametrize("year", [2019, 2020, 2021])
def test_inspection_rows_obey_the_contract(year: int) -> None:
    data = sample_year_data(year)
    method = INSPECTION.column("method").choices
    task_ids: set[tuple[str, str]] = set()
    joints: dict[str, list[tuple[str, str, dict]]] = defaultdict(list)
    for unit, ym, row in _rows(data, "inspection"):
        first, last = _month_bounds(ym)
        assert row["task_id"] and row["task_name"]
        assert (unit, row["task_id"]) not in task_ids
        task_ids.add((unit, row["task_id"]))
        assert row["method"] in method
        assert isinstance(row["entities_sampled"], int) and row["entities_sampled"] >= 0
        assert isinstance(row["issues_found"], int) and 0 <= row["issues_found"] <= row["entities_sampled"]
        assert first <= row["completed_on"] <= last
        assert row["joint"] in ("是", "否")
        if row["joint"] == "是":
            assert row["joint_id"].startswith(f"LH-{year}-")
            assert row["method"] == "双随机"
            joints[row["joint_id"]].append((unit, ym, row))
        else:
            assert row["joint_id"] is None
    for joint_id, members in joints.items():
        participants = [unit for unit, _, _ in members]
        assert 2 <= len(participants) <= 4, joint_id
        assert len(set(participants)) == len(participants), joint_id
        assert len({ym for _, ym, _ in members}) == 1, joint_id


@pytest.mark.parametrize("year", [2019, 2020, 2021])
def test_transfer_rows_obey_the_contract(year: int) -> None:
    data = sample_year_data(year)
    owing = {u.code for u in units() if "transfer" in u.forms}
    for unit, ym, row in _rows(data, "transfer"):
        assert unit in owing
        _, last = _month_bounds(ym)
        assert row["transfer_id"] and row["offence"]
        assert row["domain"] in TRANSFER.column("domain").choices
        assert row["receiver"] == "常州市公安局钟楼分局"
        assert row["transferred_on"] <= last
        assert row["police_decision"] in TRANSFER.column("police_decision").choices
        if row["police_decision"] == "已立案":
            assert row["transferred_on"] <= row["filed_on"] <= last
        else:
            assert row["filed_on"] is None


@pytest.mark.parametrize("year", [2019, 2020, 2021])
def test_training_rows_obey_the_contract(year: int) -> None:
    data = sample_year_data(year)
    for unit in units():
        previous: int | None = None
        for month in range(1, 13):
            rows = data[(unit.code, f"{year}-{month:02d}")]["training"]
            assert len(rows) == 1
            row = rows[0]
            # The clerk's 核实说明 stays empty in the sample.
            assert set(row) == {c.code for c in TRAINING.columns} - {VERIFY_NOTE}
            assert all(isinstance(v, int) and v >= 0 for v in row.values())
            assert row["exam_passed"] <= row["exam_takers"]
            assert (row["training_sessions"] == 0) == (row["trained_officers"] == 0)
            # A stock that moves slowly: it never drops by more than a couple in a month.
            if previous is not None:
                assert row["certified_officers"] >= previous - 2
            previous = row["certified_officers"]


def test_activity_is_spread_over_months_and_units(data_2020: dict) -> None:
    rows = _rows(data_2020, "inspection")
    per_month = defaultdict(int)
    per_unit = defaultdict(int)
    for unit, ym, _ in rows:
        per_month[ym] += 1
        per_unit[unit] += 1
    assert len(per_month) >= 10
    assert max(per_month.values()) <= 30
    assert max(per_unit.values()) >= 3 * min(per_unit.values())


def test_sample_year_data_is_deterministic() -> None:
    assert sample_year_data(YEAR) == sample_year_data(YEAR)
    assert sample_year_data(2021) != sample_year_data(2019)


# --- files ---------------------------------------------------------------------------------------


def test_write_sample_year_is_byte_identical(written: tuple[Path, Path, list[Path], list[Path]]) -> None:
    first, second, paths1, paths2 = written
    assert len(paths1) == len(units()) * 12
    assert [p.relative_to(first) for p in paths1] == [p.relative_to(second) for p in paths2]
    for a, b in zip(paths1, paths2, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
        assert a.stat().st_mtime == b.stat().st_mtime


def test_file_names_and_received_times(written: tuple[Path, Path, list[Path], list[Path]]) -> None:
    first, _, paths, _ = written
    unit = units()[0]
    path = first / "2020-12" / f"{unit.name}_2020年12月报表.xlsx"
    assert path in paths
    for p in paths:
        ym = p.parent.name
        year, month = int(ym[:4]), int(ym[5:])
        assert p.name.endswith(f"_{year}年{month}月报表.xlsx")
        received = datetime.fromtimestamp(p.stat().st_mtime, CHINA_TZ)
        assert (received.year, received.month) == ((year + 1, 1) if month == 12 else (year, month + 1))
        assert 3 <= received.day <= 7


def test_written_workbook_layout(written: tuple[Path, Path, list[Path], list[Path]], data_2020: dict) -> None:
    first = written[0]
    # The month in which the market regulator has the most inspection rows.
    month = max(range(1, 13), key=lambda m: len(data_2020[("SCJG", f"2020-{m:02d}")]["inspection"]))
    rows = data_2020[("SCJG", f"2020-{month:02d}")]["inspection"]
    wb = openpyxl.load_workbook(first / f"2020-{month:02d}" / f"区市场监督管理局_2020年{month}月报表.xlsx")
    assert wb.sheetnames == ["行政检查", "案件移送", "执法培训", "综合"]
    ws = wb["行政检查"]
    assert ws["A1"].value == INSPECTION.title and ws["A1"].font.b
    assert "A1:I1" in {str(r) for r in ws.merged_cells.ranges}  # eight columns and the 核实说明
    assert ws["A2"].value == "填报单位：区市场监督管理局"
    assert f"报告期：2020年{month}月" in [c.value for c in ws[2][1:]]
    assert ws["A3"].value is None
    assert [c.value for c in ws[4]] == [c.label for c in INSPECTION.columns]
    assert all(c.font.b and c.fill.fgColor.rgb.endswith("DDEBF7") and c.border.top.style for c in ws[4])
    for offset, row in enumerate(rows):
        cells = {col.code: ws.cell(5 + offset, i + 1) for i, col in enumerate(INSPECTION.columns)}
        assert cells["task_id"].value == row["task_id"]
        assert cells["entities_sampled"].value == row["entities_sampled"]
        assert isinstance(cells["entities_sampled"].value, int)
        assert cells["completed_on"].value.date() == row["completed_on"]
        assert cells["completed_on"].number_format == DATE_FORMAT
        assert cells["joint"].value == row["joint"]
    last = 5 + len(rows) - 1
    assert ws.cell(last + 1, 1).value is None
    assert ws.cell(last + 2, 1).value == FOOTER_TEXT
    validations = {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation}
    assert validations == {
        f"C5:C{LAST_VALIDATED_ROW}": '"双随机,专项检查,日常检查"',
        f"E5:E{LAST_VALIDATED_ROW}": '"是,否"',
    }
    assert all(dv.type == "list" for dv in ws.data_validations.dataValidation)
    assert all(ws.column_dimensions[c].width >= 10 for c in "ABCDEFGH")


def test_nil_return_says_so(written: tuple[Path, Path, list[Path], list[Path]]) -> None:
    wb = openpyxl.load_workbook(written[0] / "2020-03" / "区统计局_2020年3月报表.xlsx")
    assert wb.sheetnames == ["行政检查", "执法培训"]
    ws = wb["行政检查"]
    assert ws["A5"].value == "本月无"
    assert ws["A7"].value == FOOTER_TEXT


def test_template(tmp_path: Path) -> None:
    path = write_template(tmp_path)
    assert path == tmp_path / TEMPLATE_NAME
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [GUIDE_SHEET, *(f.sheet for f in FORMS.values())]
    guide = [v for row in wb[GUIDE_SHEET].iter_rows(values_only=True) for v in row if v is not None]
    text = "\n".join(map(str, guide))
    for form in FORMS.values():
        assert form.title in text
        assert all(line in text for line in form.instructions)
        for col in form.columns:
            assert col.label in guide
    assert set(TYPE_NAMES.values()) <= set(guide)
    assert "必填；可选值：双随机、专项检查、日常检查" in guide
    assert "“立案情况”为“已立案”时必填，否则留空；格式如2020-12-03；不得晚于报告期所属月份的最后一天；" \
           "不得早于“移送日期”" in guide
    for form in FORMS.values():
        ws = wb[form.sheet]
        assert ws["A1"].value == form.title
        assert (ws["A2"].value, ws["B2"].value, ws["A3"].value) == ("填报单位：", None, "报告期：")
        assert [c.value for c in ws[4]] == [c.label for c in form.columns]
        assert ws.max_row == 4
        by_cell = {str(r): dv for dv in ws.data_validations.dataValidation for r in dv.sqref.ranges}
        # 填报单位: a dropdown of the registry's names; 报告期: a month.
        assert by_cell["B2"].type == "list" and by_cell["B2"].formula1 == "UNIT_NAMES"
        assert by_cell["B3"].type == "date" and ws["B3"].number_format == 'yyyy"年"m"月"'
        # Every column: a Chinese input prompt and error message; numbers and dates checked.
        for index, col in enumerate(form.columns, start=1):
            dv = by_cell[f"{ws.cell(5, index).column_letter}5:{ws.cell(5, index).column_letter}204"]
            assert dv.showInputMessage and dv.prompt.startswith(column_rule(form, col)[:20]) and dv.error
            assert dv.promptTitle == col.label
            assert dv.type == {"int": "whole", "date": "date", "enum": "list", "yesno": "list",
                               "text": "textLength"}[col.type]
    names = wb.defined_names["UNIT_NAMES"].attr_text
    listed = [c.value for c in wb[GUIDE_SHEET][names.split("!")[1].replace("$", "")] for c in c]
    assert listed == [u.name for u in units()]


@pytest.mark.unit
def test_unit_template_has_only_the_units_sheets(tmp_path: Path) -> None:
    from pipeline.cli import main

    assert main(["template", "--unit", "市场监管局", "--out", str(tmp_path)]) == 0
    path = tmp_path / f"区市场监督管理局_{TEMPLATE_NAME}"
    wb = openpyxl.load_workbook(path)
    owed = unit_by_code("SCJG").forms
    assert wb.sheetnames == [GUIDE_SHEET, *(FORMS[f].sheet for f in FORMS if f in owed)]
    guide = "\n".join(str(v) for row in wb[GUIDE_SHEET].iter_rows(values_only=True) for v in row if v)
    assert "只含本单位每月应报的4张表：“行政检查”、“案件移送”、“执法培训”、“综合”" in guide
    assert FORMS["litigation"].title not in guide
    for sheet in wb.sheetnames[1:]:
        ws = wb[sheet]
        assert (ws["A2"].value, ws["B2"].value) == ("填报单位：", "区市场监督管理局")
        assert ws.page_setup.fitToWidth == 1 and ws.print_title_rows == "$4:$4"
    assert wb[GUIDE_SHEET].page_setup.orientation == "portrait"
    assert main(["template", "--unit", "没有这个单位", "--out", str(tmp_path)]) == 2


@pytest.mark.unit
def test_a_template_header_parses_as_the_unit_and_month(tmp_path: Path) -> None:
    """The clerk fills B3 with a month (a date cell): the parser reads the unit and the period."""
    import datetime as dt

    from pipeline.intake.parse import parse_sheet
    from pipeline.intake.reader import default_reader

    path = write_template(tmp_path, "SCJG")
    wb = openpyxl.load_workbook(path)
    ws = wb["执法培训"]
    ws["B3"] = dt.datetime(2020, 12, 1)
    for index in range(1, 6):
        ws.cell(5, index, 1)
    wb.save(path)
    sheet = default_reader().read(path).sheets["执法培训"]
    parsed = parse_sheet(FORMS["training"], sheet)
    assert (parsed.unit_text, parsed.period) == ("区市场监督管理局", "2020-12")


def test_aggregate_form_takes_one_row(tmp_path: Path) -> None:
    row = {c.code: 1 for c in TRAINING.columns}
    with pytest.raises(ValueError):
        write_return(tmp_path / "x.xlsx", "区司法局", "2020-01", {"training": [row, row]})


# --- formula injection -------------------------------------------------------------------------


def test_safe_text() -> None:
    assert safe_text("=1+1") == "'=1+1"
    for text in ("+1", "-1", "@SUM(A1)"):
        assert safe_text(text) == "'" + text
    assert safe_text("正常文本") == "正常文本"
    assert safe_text(12) == 12
    assert safe_text(None) is None


def test_formula_like_text_is_not_a_formula(tmp_path: Path) -> None:
    path = tmp_path / "evil.xlsx"
    row = {
        "task_id": "=1+1", "task_name": "=HYPERLINK(\"http://x\")", "method": "双随机",
        "entities_sampled": 3, "joint": "否", "completed_on": date(2020, 5, 6), "issues_found": 0,
    }
    write_return(path, "=区统计局", "2020-05", {"inspection": [row]})
    ws = openpyxl.load_workbook(path)["行政检查"]
    for cell in (ws["A5"], ws["B5"]):
        assert cell.data_type != "f"
        assert str(cell.value).startswith("'=")
    assert ws["A5"].value == "'=1+1"
    # Inside the header cell the name cannot start a formula: it is kept as written.
    assert ws["A2"].value == "填报单位：=区统计局" and ws["A2"].data_type == "s"


def test_protected_return_leaves_data_cells_editable(tmp_path: Path) -> None:
    path = tmp_path / "p.xlsx"
    write_return(path, "区司法局", "2020-01", {"training": None}, protect=True)
    ws = openpyxl.load_workbook(path)["执法培训"]
    assert ws.protection.sheet
    assert ws["A4"].protection.locked
    assert not ws["A5"].protection.locked
    assert not ws["A2"].protection.locked
