"""Returns as clerks really send them load to exactly the rows of the clean template.

Messy variants are built here by editing clean workbooks (``pipeline.outputs.workbook.write_return`` over the
2020 sample's data) the way clerks do (``pipeline.samples.messy``); each must give the same warehouse rows,
lineage (sheet, Excel row, column letters) aside.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import random
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.forms import FORMS
from pipeline.ingest import build_loads, read_and_parse
from pipeline.intake.archive import InboxFile
from pipeline.intake.parse import parse_sheet, parse_workbook
from pipeline.intake.reader import SheetData, WorkbookData
from pipeline.outputs.workbook import write_return
from pipeline.registry import unit_by_code
from pipeline.samples.messy import EDITS, mess_up
from pipeline.samples.sample import sample_year_data
from pipeline.warehouse.connect import make_engine
from pipeline.warehouse.load import load_month
from pipeline.warehouse.schema import FACT_TABLES, ensure_schema, submission

PERIOD = "2020-12"
#: A unit with rows in several register forms, one with a nil 行政检查, a street, the justice bureau.
UNITS = ("SCJG", "YJJ", "TJJ", "HHC", "SFJ")
LINEAGE = {"submission_id", "sheet", "excel_row"}


@pytest.fixture(scope="module")
def clean_books(tmp_path_factory) -> dict[str, bytes]:
    data = sample_year_data(2020)
    folder = tmp_path_factory.mktemp("clean")
    books = {}
    for code in UNITS:
        path = folder / f"{code}.xlsx"
        write_return(path, unit_by_code(code).name, PERIOD, data[(code, PERIOD)])
        books[code] = path.read_bytes()
    return books


def _messy(clean: bytes, seed: int, edits) -> bytes:
    from openpyxl import load_workbook

    out = io.BytesIO()
    mess_up(load_workbook(io.BytesIO(clean)), random.Random(seed), edits).save(out)
    return out.getvalue()


def warehouse_rows(data: bytes, name: str = "return.xlsx") -> tuple[dict, list]:
    """Load one workbook into a fresh warehouse (no suite run); its rows without lineage, and its problems."""
    sha = hashlib.sha256(data).hexdigest()
    info = InboxFile(Path(name), name, sha, len(data), dt.datetime(2021, 1, 5, 9), Path(sha))
    results = read_and_parse(PERIOD, [(info, data)])
    loads, _ = build_loads(PERIOD, results)
    engine = make_engine("sqlite://")
    ensure_schema(engine)
    load_month(engine, PERIOD, loads)
    rows: dict[str, object] = {}
    with engine.connect() as conn:
        for code, table in FACT_TABLES.items():
            cols = [c for c in table.c if c.name not in LINEAGE]
            rows[code] = sorted((tuple(r) for r in conn.execute(sa.select(*cols)).all()), key=repr)
        rows["submission"] = sorted(conn.execute(sa.select(
            submission.c.unit_code, submission.c.form_code, submission.c.status, submission.c.is_nil,
            submission.c.row_count, submission.c.error_count)).all())
    engine.dispose()
    problems = [p for _, _, probs in results for p in probs]
    problems += [p for _, wb, _ in results if wb for s in wb.sheets for p in s.problems]
    return rows, problems


@pytest.fixture(scope="module")
def clean_rows(clean_books) -> dict[str, dict]:
    out = {}
    for code, data in clean_books.items():
        rows, problems = warehouse_rows(data)
        assert problems == [], (code, problems)
        assert rows["submission"] and all(s[2] == "loaded" for s in rows["submission"])
        out[code] = rows
    return out


def _errors(problems) -> list[tuple[str, str | None, str]]:
    return [(p.rule, p.cell, p.message_zh) for p in problems if p.severity == "error"]



@pytest.mark.unit
def test_the_clean_books_have_rows_to_lose(clean_rows):
    """The comparison means something: rows in several forms, and a nil return among them."""
    assert len(clean_rows["SCJG"]["inspection"]) >= 2 and len(clean_rows["SCJG"]["transfer"]) >= 2
    assert ("TJJ", "inspection", "loaded", True, 0, 0) in clean_rows["TJJ"]["submission"]
    assert clean_rows["HHC"]["training"]


@pytest.mark.unit
@pytest.mark.parametrize("edit", EDITS)
@pytest.mark.parametrize("unit", ["SCJG", "TJJ"])
def test_each_edit_alone_keeps_the_rows(edit, unit, clean_books, clean_rows):
    rows, problems = warehouse_rows(_messy(clean_books[unit], 7, [edit]))
    assert _errors(problems) == []
    assert rows == clean_rows[unit]


@pytest.mark.unit
def test_all_edits_at_once_keep_the_rows_and_warn_about_extra_columns(clean_books, clean_rows):
    for unit in UNITS:
        for seed in range(3):
            rows, problems = warehouse_rows(_messy(clean_books[unit], seed, EDITS))
            assert _errors(problems) == [], (unit, seed)
            assert rows == clean_rows[unit], (unit, seed)
            # Only warnings a clerk can ignore: columns and sheets the form does not have.
            assert {p.rule for p in problems} <= {"extra_column", "unknown_sheet"}


@pytest.mark.unit
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    unit=st.sampled_from(UNITS),
    edits=st.sets(st.sampled_from(EDITS), min_size=2),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_any_combination_of_edits_keeps_the_rows(unit, edits, seed, clean_books, clean_rows):
    rows, problems = warehouse_rows(_messy(clean_books[unit], seed, sorted(edits)))
    assert _errors(problems) == []
    assert rows == clean_rows[unit]


# --- the parser on small inline sheets ------------------------------------------------------------------

HEADER = tuple(c.label for c in FORMS["inspection"].columns)
ROW = ("T-1", "食品检查", "双随机", 12, "否", None, dt.datetime(2020, 12, 3), 1)
ROW2 = ("T-2", "消防检查", "日常检查", 8, "否", None, dt.datetime(2020, 12, 4), 0)


def sheet(*rows, block=(("填报单位：区市场监管局", None, None, None, "报告期：2020年12月"),)):
    return SheetData("行政检查", [("行政检查情况月报表",), *block, (), HEADER, *rows])


@pytest.mark.unit
def test_total_row_with_numbers_typed_as_text_and_label_in_any_column():
    total = (None, "合 计：", None, "20", None, None, None, "1")
    parsed = parse_sheet(FORMS["inspection"], sheet(ROW, ROW2, total))
    assert [r.excel_row for r in parsed.rows] == [5, 6] and parsed.problems == []
    wrong = parse_sheet(FORMS["inspection"], sheet(ROW, ROW2, (None, "合计", None, 21)))
    assert [(p.rule, p.cell, p.value) for p in wrong.problems] == [("total_mismatch", "D7", "21")]


@pytest.mark.unit
@pytest.mark.parametrize("marker", ["本月无", "无", " 本月无。", "本月无检查任务", "＊本月无"])
def test_nil_markers(marker):
    parsed = parse_sheet(FORMS["inspection"], sheet((None, marker)))
    assert parsed.is_nil and parsed.rows == [] and parsed.problems == []


@pytest.mark.unit
def test_nil_marker_with_data_below_is_an_error_not_a_silent_drop():
    parsed = parse_sheet(FORMS["inspection"], sheet(("本月无",), ROW))
    assert [r.excel_row for r in parsed.rows] == [6]
    assert [(p.rule, p.cell) for p in parsed.problems] == [("nil_with_rows", "A5")]


@pytest.mark.unit
def test_header_block_label_followed_by_the_next_label_has_no_value():
    parsed = parse_workbook(WorkbookData({"行政检查": sheet(ROW, block=(("填报单位：", "报告期：", "2020年12月"),))}),
                            PERIOD).sheets[0]
    assert [p.rule for p in parsed.problems] == ["unit_missing"]
    assert parsed.period == PERIOD


@pytest.mark.unit
@pytest.mark.parametrize("cell", ["填报单位（盖章）：区市场监管局", "填报单位：区市场监管局（盖章）",
                                  "填报单位:  市场监管局"])
def test_unit_with_a_note_in_brackets(cell):
    wb = parse_workbook(WorkbookData({"行政检查": sheet(ROW, block=((cell, None, None, None, "报告期：2020-12"),))}),
                        PERIOD)
    assert wb.sheets[0].unit.code == "SCJG" and wb.sheets[0].problems == []


@pytest.mark.unit
def test_our_own_formula_quote_is_undone():
    row = ("'-T-1", "'=食品检查", "双随机", "'+12", "否", None, "2020-12-03", 1)
    parsed = parse_sheet(FORMS["inspection"], sheet(row))
    assert parsed.rows[0].values["task_id"] == "-T-1"
    assert parsed.rows[0].values["task_name"] == "=食品检查"
    assert parsed.rows[0].values["entities_sampled"] == 12


@pytest.mark.unit
def test_a_quote_that_is_not_ours_is_kept():
    parsed = parse_sheet(FORMS["inspection"], sheet(("'T-1'", *ROW[1:])))
    assert parsed.rows[0].values["task_id"] == "'T-1'"


@pytest.mark.unit
def test_uncached_formula_cells_are_reported_where_they_are():
    data = sheet(ROW, (None, "合计", None, None))
    data.uncached_formulas = [(5, 4), (6, 4), (40, 1)]  # row 40: below the table, ignored
    parsed = parse_sheet(FORMS["inspection"], data)
    assert [(p.rule, p.cell, p.column_label) for p in parsed.problems] == [
        ("formula_uncached", "D5", "抽取检查对象户数"), ("formula_uncached", "D6", "抽取检查对象户数")]
    assert "保存" in parsed.problems[0].message_zh
    assert (5, "entities_sampled") in parsed.bad_cells


@pytest.mark.unit
def test_two_units_in_one_workbook_is_refused():
    other = SheetData("执法培训", [("填报单位：区卫健局",), ("报告期：2020年12月",),
                                  tuple(c.label for c in FORMS["training"].columns), (10, 0, 0, 0, 0)])
    wb = parse_workbook(WorkbookData({"行政检查": sheet(ROW), "执法培训": other}), PERIOD)
    assert {p.rule for s in wb.sheets for p in s.problems} == {"unit_conflict"}


# --- the messy sample month ------------------------------------------------------------------------------


def _in_force_rows(url: str, period: str) -> dict[str, list]:
    engine = make_engine(url)
    out = {}
    with engine.connect() as conn:
        loaded = sa.select(submission.c.submission_id).where(submission.c.status == "loaded",
                                                              submission.c.period == period)
        for code, table in FACT_TABLES.items():
            cols = [c for c in table.c if c.name not in LINEAGE]
            query = sa.select(*cols).where(table.c.submission_id.in_(loaded))
            out[code] = sorted((tuple(r) for r in conn.execute(query).all()), key=repr)
    engine.dispose()
    return out


@pytest.mark.integration
def test_messy_month_loads_the_same_rows_and_refuses_one_workbook(sample_inbox_2020, tmp_path, monkeypatch):
    import shutil

    from pipeline.config import settings as make
    from pipeline.ingest import run_month
    from pipeline.operations.problems_report import month_problems_text
    from pipeline.outputs.feedback import write_month_feedback
    from pipeline.samples.messy import BROKEN_UNIT, write_messy_month

    results = {}
    for kind in ("clean", "messy"):
        inbox = tmp_path / kind / "inbox"
        shutil.copytree(sample_inbox_2020 / PERIOD, inbox / PERIOD, copy_function=shutil.copy2)
        before = {p.name for p in (inbox / PERIOD).iterdir()}
        if kind == "messy":
            written = write_messy_month(2020, inbox)
            assert all(p.parent == inbox / PERIOD for p in written)
            assert len(before - {p.name for p in (inbox / PERIOD).iterdir()}) == 6  # clean ones replaced
        monkeypatch.setenv("DISTRICT_DATA", str(tmp_path / kind / "data"))
        monkeypatch.setenv("DISTRICT_INBOX", str(inbox))
        url = f"sqlite:///{tmp_path / kind / 'w.sqlite'}"
        settings = make(url)
        report = run_month(PERIOD, settings)
        results[kind] = (report, _in_force_rows(url, PERIOD), write_month_feedback(PERIOD, settings), url)
    clean_report, clean_rows, clean_feedback, _ = results["clean"]
    report, rows, feedback, url = results["messy"]
    assert clean_report.refused_files == [] and clean_feedback == []
    assert rows == clean_rows
    broken = unit_by_code(BROKEN_UNIT).name
    [(name, messages)] = report.refused_files
    assert name.startswith(broken)
    assert len(messages) == 3 and any("日期不存在" in m for m in messages) and any("合计行" in m for m in messages)
    assert {p.parent.name for p in feedback} == {broken}
    assert sorted(p.suffix for p in feedback) == [".docx", ".xlsx"]
    text = month_problems_text(make_engine(url), PERIOD)
    assert name in text and "[区卫生健康局]" in text
