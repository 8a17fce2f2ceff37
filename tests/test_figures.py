"""All 32 figures from the sample returns, their provenance down to the cell, the report text, the
check of a draft, and figures.xlsx for report authors, on SQLite and PostgreSQL.

The 2018–2020 sample (2018 and 2019: 行政应诉 only) is loaded once per engine for the module: a
year takes a minute to ingest, so the per-test ``warehouse_url`` fixture would cost too much here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import math
import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import REPO, assert_matches_report, fresh_pg_database, report_figures_2020
from openpyxl import load_workbook

from pipeline.annual import consolidate_year
from pipeline.archive import archive_path
from pipeline.config import settings as make_settings_
from pipeline.figures import (
    CONSOLIDATORS,
    FIGURE_DEFS,
    LABELS_ZH,
    consolidate,
    evaluate,
    monthly_trends,
    monthly_values,
    stored_contributions,
    stored_figures,
)
from pipeline.forms import CLOSED, FORMS, NO, PENDING, YES
from pipeline.ingest import run_month
from pipeline.periods import months_of
from pipeline.provenance import all_provenance, provenance
from pipeline.registry import units
from pipeline.sample import LOOKBACK_FORMS, sample_year_data, write_sample_year
from pipeline.warehouse import (
    FACT_TABLES,
    ensure_schema,
    make_engine,
    return_file,
    settle_supersession,
    submission,
)

pytestmark = pytest.mark.integration
REPORT = REPO / "tests" / "data" / "zhonglou-2020-rule-of-law-report.txt"
YEARS = (2018, 2019, 2020)


@pytest.fixture(scope="module")
def sample_inbox(sample_inbox_2020: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    inbox = tmp_path_factory.mktemp("inbox-2018-2020") / "inbox"
    shutil.copytree(sample_inbox_2020, inbox, copy_function=shutil.copy2)
    for year in YEARS[:-1]:
        write_sample_year(year, inbox, forms=LOOKBACK_FORMS)
    return inbox


def _load(url: str, inbox: Path, data: Path):
    s = dataclasses.replace(make_settings_(url), inbox=inbox, data=data)
    engine = make_engine(url)
    for year in YEARS:
        for period in months_of(year):
            run_month(period, s, engine=engine)
    for year in YEARS[1:]:
        consolidate_year(year, s)
    return s, engine


@pytest.fixture(scope="module")
def sqlite_loaded(sample_inbox: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("sqlite-warehouse")
    return _load(f"sqlite:///{folder / 'warehouse.sqlite'}", sample_inbox, folder / "data")


@pytest.fixture(scope="module")
def pg_loaded(sample_inbox: Path, tmp_path_factory: pytest.TempPathFactory):
    with fresh_pg_database() as url:
        s, engine = _load(url, sample_inbox, tmp_path_factory.mktemp("pg-warehouse") / "data")
        yield s, engine
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], scope="module")
def loaded(request):
    """(settings, engine) of the loaded warehouse, on both engines."""
    return request.getfixturevalue("sqlite_loaded" if request.param == "sqlite" else "pg_loaded")


def _figures(engine, year: int = 2020) -> dict[str, dict]:
    return {f["code"]: f for f in stored_figures(engine, year)}


# --- figures ---------------------------------------------------------------------------------


def test_all_32_figures_equal_the_report(loaded) -> None:
    _, engine = loaded
    with engine.connect() as conn:
        statuses = dict(conn.execute(
            sa.select(submission.c.status, sa.func.count()).group_by(submission.c.status)).all())
    # Every sample return passes its suite: 79 a month in 2020, 行政应诉 only in 2018 and 2019.
    assert statuses == {"loaded": 12 * sum(len(u.forms) for u in units()) + 2 * 12}
    figures = {code: f["value"] for code, f in _figures(engine).items()}
    assert list(figures) == list(report_figures_2020())
    assert_matches_report(figures, list(figures))


def test_contributions_add_up_to_each_figure(loaded) -> None:
    _, engine = loaded
    by_code: dict[str, float] = {}
    for c in stored_contributions(engine, 2020):
        by_code[c["code"]] = by_code.get(c["code"], 0.0) + c["value"]
    for code, f in _figures(engine).items():
        assert math.isclose(by_code.get(code, 0.0), f["value"], abs_tol=1e-9), code
    contributions = {(c["code"], c["unit_code"]): c for c in stored_contributions(engine, 2020)}
    # Joint inspections are reported by every participant and counted once: a negative adjustment.
    assert contributions[("inspection_entities", "*")]["value"] < 0
    assert contributions[("joint_inspections", "*")]["value"] < 0
    assert "2018年" in contributions[("head_appearance_rate", "*")]["note_zh"]


def test_every_figure_is_the_sum_of_its_source_cells(loaded) -> None:
    """Consolidation and provenance read the same rows: the cells add up to the stored figure."""
    _, engine = loaded
    figures = _figures(engine)
    with engine.connect() as conn:
        for code, fdef in FIGURE_DEFS.items():
            cells = provenance(conn, code, 2020)
            assert cells, code
            assert all(c.cell and re.fullmatch(r"[A-Z]+\d+", c.cell) for c in cells), code
            counted = sum(c.counted for c in cells)
            if fdef.measure == "rate":
                value = 100 * counted / sum(c.base for c in cells)
            elif fdef.measure == "rate3":
                years = {c.period[:4] for c in cells}
                assert years == {"2018", "2019", "2020"}
                value = min(100 * sum(c.counted for c in cells if c.period[:4] == y)
                            / sum(c.base for c in cells if c.period[:4] == y) for y in years)
            else:
                value = counted * fdef.scale
            assert math.isclose(value, figures[code]["value"]), code


def test_source_cells_are_the_archived_workbooks_cells(sqlite_loaded) -> None:
    settings, engine = sqlite_loaded
    opened: dict[str, object] = {}
    with engine.connect() as conn:
        for code in ("inspection_entities", "legal_review_items", "head_appearance_rate", "transfers_filed",
                     "e_registration_rate", "grids_covered", "litigation_closed"):
            for c in provenance(conn, code, 2020):
                if c.sha256 not in opened:
                    data = archive_path(settings.archive, c.sha256).read_bytes()
                    opened[c.sha256] = load_workbook(io.BytesIO(data))
                value = opened[c.sha256][c.sheet][c.cell].value
                shown = value.date().isoformat() if hasattr(value, "date") else str(value)
                assert shown == c.value, (code, c.file_name, c.cell)
    with engine.connect() as conn:
        entities = {c.note for c in provenance(conn, "inspection_entities", 2020) if c.note}
    assert "联合抽查：其他参与单位重复填报，不重复计" in entities


def test_monthly_trend_adds_up_to_each_flow_figure(sqlite_loaded) -> None:
    _, engine = sqlite_loaded
    figures = _figures(engine)
    with engine.connect() as conn:
        for code, fdef in FIGURE_DEFS.items():
            if fdef.measure == "flow":
                months = monthly_values(conn, code, 2020)
                assert list(months) == months_of(2020)
                assert math.isclose(sum(months.values()), figures[code]["value"]), code


def test_explain_prints_cells_with_addresses_and_hashes(sqlite_loaded, capsys) -> None:
    from pipeline.cli import main

    settings, engine = sqlite_loaded
    assert main(["explain", "joint_inspections", "--year", "2020", "--warehouse", settings.warehouse_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2020年 联合抽查次数（joint_inspections）：14次")
    with engine.connect() as conn:
        cells = provenance(conn, "joint_inspections", 2020)
    first = cells[0]
    line = next(line for line in out.splitlines() if first.sha256 in line and f"{first.sheet}!{first.cell}" in line)
    assert first.unit_name in line and first.value in line
    assert first.submission_id in out
    assert main(["explain", "no_such_figure", "--year", "2020", "--warehouse", settings.warehouse_url]) == 2


# --- consolidation computes what the figure definitions define -------------------------------------


def _by_definition(conn, form: str, year: int) -> list:
    return [evaluate(conn, code, year) for code, d in FIGURE_DEFS.items() if d.form == form]


def test_consolidation_equals_the_definitions_on_the_sample(loaded) -> None:
    """CONSOLIDATORS (one pass per form) give exactly what evaluate() reads from each figure's rows."""
    _, engine = loaded
    with engine.connect() as conn:
        for year in YEARS:
            for form, consolidate_form in CONSOLIDATORS.items():
                assert consolidate_form(conn, year) == _by_definition(conn, form, year), (form, year)


def _assert_cells_and_trends_equal_the_definitions(engine, years) -> None:
    """What figures.xlsx lists (all_provenance, monthly_trends) is, for every figure, exactly its own rows
    (``FIGURE_DEFS[code].rows``, read alone) and those rows' sums by month."""
    for year in years:
        cells, trends = all_provenance(engine, year), monthly_trends(engine, year)
        assert list(cells) == list(FIGURE_DEFS)
        assert list(trends) == [code for code, d in FIGURE_DEFS.items() if d.measure == "flow"]
        with engine.connect() as conn:
            for code, fdef in FIGURE_DEFS.items():
                rows = conn.execute(fdef.rows(year)).all()
                labels = FORMS[fdef.form].labels
                assert sorted(((c.unit_code, c.submission_id, c.period, c.sheet, c.excel_row, c.column_label,
                                c.value, c.counted, c.base, c.note) for c in cells[code]), key=repr) == sorted(
                    ((r.unit_code, r.submission_id, r.period, r.sheet, r.excel_row,
                      labels.get(r.column_code, r.column_code), r.cell_value, float(r.counted or 0),
                      None if r.base is None else float(r.base), r.note) for r in rows), key=repr), (code, year)
                if fdef.measure == "flow":
                    by_month = dict.fromkeys(months_of(year), 0.0)
                    for r in rows:
                        month = r.activity_on.strftime("%Y-%m") if r.activity_on else r.period
                        if month in by_month:
                            by_month[month] += float(r.counted or 0) * fdef.scale
                    assert trends[code] == pytest.approx(by_month, abs=1e-9), (code, year)


def test_cells_and_trends_equal_the_definitions_on_the_sample(loaded) -> None:
    _assert_cells_and_trends_equal_the_definitions(loaded[1], YEARS)


def _put(conn, period: str, unit: str, form: str, rows: list[dict], *, day: int, version: int = 1,
         quarantined: bool = False) -> None:
    """One workbook's sheet of ``form`` as a load writes it, received on ``day`` of the next month."""
    file_id = f"{period}:{unit}:{form}:{version}"
    sub_id = f"{file_id}:{form}"
    sha = hashlib.sha256(file_id.encode()).hexdigest()
    year, month = (int(x) for x in period.split("-"))
    received = dt.datetime(year + month // 12, month % 12 + 1, day, 9)
    conn.execute(return_file.insert(), {
        "file_id": file_id, "period": period, "sha256": sha, "file_name": f"{unit}-{version}.xlsx", "size_bytes": 1,
        "received_at_utc": received, "unit_code": unit, "status": "refused" if quarantined else "accepted",
    })
    conn.execute(submission.insert(), {
        "submission_id": sub_id, "file_id": file_id, "period": period, "unit_code": unit, "form_code": form,
        "sheet": FORMS[form].sheet, "sha256": sha, "file_name": f"{unit}-{version}.xlsx", "received_at_utc": received,
        "status": "quarantined" if quarantined else "loaded", "is_nil": not rows, "row_count": len(rows),
        "error_count": int(quarantined), "warning_count": 0,
    })
    if rows and not quarantined:
        conn.execute(FACT_TABLES[form].insert(), [
            {"submission_id": sub_id, "excel_row": 4 + i, "sheet": FORMS[form].sheet, "unit_code": unit,
             "period": period, **row} for i, row in enumerate(rows)
        ])


def _task(task: str, entities: int, on: dt.date, joint_id: str | None = None) -> dict:
    return {"task_id": task, "task_name": "检查", "method": "双随机", "entities_sampled": entities,
            "joint": YES if joint_id else NO, "joint_id": joint_id, "completed_on": on, "issues_found": 0}


def _transfer(case: str, decision: str, filed: dt.date | None = None) -> dict:
    return {"transfer_id": case, "offence": "拒不支付劳动报酬", "domain": "劳动保障",
            "transferred_on": dt.date(2019, 10, 1), "receiver": "公安分局", "police_decision": decision,
            "filed_on": filed}


def _review(case: str, accepted: dt.date, closed: dt.date | None = None, letters: tuple[int, int] = (0, 0)) -> dict:
    return {"case_id": case, "category": "行政处罚", "respondent": "区某局", "accepted_on": accepted,
            "status": CLOSED if closed else PENDING, "closed_on": closed, "outcome": "维持" if closed else None,
            "suggestion_letters": letters[0] if closed else None, "opinion_letters": letters[1] if closed else None}


def _suit(case: str, received: dt.date, heard: dt.date | None = None, appeared: bool = False,
          closed: dt.date | None = None) -> dict:
    return {"case_id": case, "cause": "行政处罚", "defendant": "区某局", "received_on": received,
            "hearing_held": YES if heard else NO, "hearing_on": heard,
            "head_appeared": (YES if appeared else NO) if heard else None,
            "status": CLOSED if closed else PENDING, "closed_on": closed, "outcome": "驳回诉讼请求" if closed else None}


def _general(study: int | None, devolved: int | None, total: int | None, online: int | None) -> dict:
    return {"study_sessions": study, "devolved_powers": devolved, "registrations_total": total,
            "registrations_online": online}


def _mediation(surveyed: int, orgs: int, checks: int, studios: int, teams: int, grids: int) -> dict:
    return {"surveyed_enterprises": surveyed, "enterprise_mediation_orgs": orgs, "health_check_reports": checks,
            "family_studios_new": studios, "service_teams": teams, "grids_covered": grids}


def _tricky_returns(conn) -> None:
    """Returns that exercise every rule consolidation relies on (expected figures in the test below)."""
    d = dt.date
    put = _put
    # Inspections. A resends March: the first version (T1 with 10 entities) is superseded. J1 is one
    # joint inspection reported by A (30), B (40) and C (40); J2 by A twice (5 in March, 8 in November).
    put(conn, "2020-03", "A", "inspection", [_task("T1", 10, d(2020, 3, 2)), _task("T2", 30, d(2020, 3, 3), "J1")],
        day=2)
    put(conn, "2020-03", "A", "inspection", [_task("T1", 12, d(2020, 3, 2)), _task("T2", 30, d(2020, 3, 3), "J1"),
                                             _task("T3", 5, d(2020, 3, 9), "J2")], day=5, version=2)
    put(conn, "2020-03", "B", "inspection", [_task("T1", 40, d(2020, 3, 3), "J1"), _task("T2", 0, d(2020, 3, 4))],
        day=3)
    put(conn, "2020-04", "B", "inspection", [_task("T5", 99, d(2020, 4, 1))], day=3, quarantined=True)
    put(conn, "2020-05", "C", "inspection", [_task("C1", 40, d(2020, 5, 6), "J1")], day=1)
    put(conn, "2020-11", "A", "inspection", [_task("T9", 8, d(2020, 11, 9), "J2")], day=1)
    put(conn, "2019-12", "A", "inspection", [_task("T0", 100, d(2019, 12, 9), "J1")], day=1)
    # D's July return is replaced by a nil return: D inspected nothing in force.
    put(conn, "2020-07", "D", "inspection", [_task("D1", 7, d(2020, 7, 1))], day=1)
    put(conn, "2020-07", "D", "inspection", [], day=4, version=2)
    # Transfers: X1 filed in April (counts for A); X2 filed, then not (does not); X3 filed in 2019 (does
    # not); B's X1 is another case (counts); B's X4 is filed in July and a later report of it sits in a
    # superseded August return (counts).
    put(conn, "2020-02", "A", "transfer", [_transfer("X1", "待定")], day=1)
    put(conn, "2020-04", "A", "transfer", [_transfer("X1", "已立案", d(2020, 4, 10))], day=1)
    put(conn, "2020-03", "A", "transfer", [_transfer("X2", "已立案", d(2020, 3, 5))], day=1)
    put(conn, "2020-06", "A", "transfer", [_transfer("X2", "不予立案")], day=1)
    put(conn, "2019-11", "A", "transfer", [_transfer("X3", "已立案", d(2019, 11, 20))], day=1)
    put(conn, "2020-01", "A", "transfer", [_transfer("X3", "已立案", d(2019, 11, 20))], day=1)
    put(conn, "2020-05", "B", "transfer", [_transfer("X1", "已立案", d(2020, 5, 2))], day=1)
    put(conn, "2020-07", "B", "transfer", [_transfer("X4", "已立案", d(2020, 7, 1))], day=1)
    put(conn, "2020-08", "B", "transfer", [_transfer("X4", "不予立案")], day=1)
    put(conn, "2020-08", "B", "transfer", [], day=6, version=2)
    # Reconsideration: R1 accepted in 2019, closed in 2020; R2 closed in May, its letters corrected in
    # June's report; R3 still pending.
    put(conn, "2019-12", "A", "reconsideration", [_review("R1", d(2019, 12, 10))], day=1)
    put(conn, "2020-02", "A", "reconsideration", [_review("R1", d(2019, 12, 10), d(2020, 2, 20), (1, 0))], day=1)
    put(conn, "2020-03", "A", "reconsideration", [_review("R2", d(2020, 3, 1))], day=1)
    put(conn, "2020-05", "A", "reconsideration", [_review("R2", d(2020, 3, 1), d(2020, 5, 10), (2, 1))], day=1)
    put(conn, "2020-06", "A", "reconsideration", [_review("R2", d(2020, 3, 1), d(2020, 5, 10), (3, 1)),
                                                  _review("R3", d(2020, 6, 1))], day=1)
    # Litigation: heard in 2018 and 2019 with the head appearing, in 2020 without; L1 received in 2019.
    put(conn, "2018-06", "A", "litigation", [_suit("L0", d(2018, 6, 1), d(2018, 6, 10), True, d(2018, 6, 30))],
        day=1)
    put(conn, "2019-05", "A", "litigation", [_suit("L1", d(2019, 5, 1), d(2019, 5, 20), True)], day=1)
    put(conn, "2020-03", "A", "litigation", [_suit("L1", d(2019, 5, 1), closed=d(2020, 3, 15))], day=1)
    put(conn, "2020-02", "A", "litigation", [_suit("L2", d(2020, 2, 1))], day=1)
    put(conn, "2020-04", "A", "litigation", [_suit("L2", d(2020, 2, 1), d(2020, 4, 10))], day=1)
    # Aggregate forms: A leaves 下放事项 blank in December (its stock is June's); B's December return is
    # corrected (60, not 50); a month with no registrations is no part of the rate.
    put(conn, "2020-01", "A", "general", [_general(1, 100, 10, 9)], day=1)
    put(conn, "2020-06", "A", "general", [_general(0, 120, 0, 0)], day=1)
    put(conn, "2020-12", "A", "general", [_general(2, None, 5, 5)], day=1)
    put(conn, "2020-12", "B", "general", [_general(1, 50, None, None)], day=1)
    put(conn, "2020-12", "B", "general", [_general(None, 60, None, None)], day=3, version=2)
    put(conn, "2020-05", "A", "mediation", [_mediation(10, 5, 1, 0, 2, 3)], day=1)
    put(conn, "2020-09", "A", "mediation", [_mediation(12, 6, 2, 1, 0, 4)], day=1)
    periods = conn.execute(sa.select(submission.c.period).distinct()).scalars().all()
    for period in periods:
        settle_supersession(conn, period)


def test_consolidation_equals_the_definitions_on_tricky_returns(warehouse_url) -> None:
    engine = make_engine(warehouse_url)
    ensure_schema(engine)
    with engine.begin() as conn:
        _tricky_returns(conn)
    with engine.connect() as conn:
        for year in (2019, 2020):
            for form, consolidate_form in CONSOLIDATORS.items():
                assert consolidate_form(conn, year) == _by_definition(conn, form, year), (form, year)
    _assert_cells_and_trends_equal_the_definitions(engine, (2019, 2020))
    figures = {f["code"]: f["value"] for f in consolidate(engine, 2020)}
    # Worked out by hand from the returns above.
    assert {code: figures[code] for code in (
        "inspection_units", "inspection_tasks", "inspection_entities", "joint_inspections", "transfers_filed",
        "reconsideration_accepted", "reconsideration_closed", "reconsideration_suggestions",
        "reconsideration_opinions", "litigation_received", "litigation_closed", "head_appearance_rate",
        "study_sessions", "devolved_powers", "surveyed_enterprises", "legal_service_teams", "grids_covered",
        "enterprise_health_checks", "petition_risks",
    )} == {
        "inspection_units": 3, "inspection_tasks": 7, "inspection_entities": 12 + 0 + 40 + 8,
        "joint_inspections": 2, "transfers_filed": 3, "reconsideration_accepted": 2, "reconsideration_closed": 2,
        "reconsideration_suggestions": 1 + 3, "reconsideration_opinions": 1, "litigation_received": 1,
        "litigation_closed": 1, "head_appearance_rate": 0, "study_sessions": 3, "devolved_powers": 120 + 60,
        "surveyed_enterprises": 12, "legal_service_teams": 0, "grids_covered": 4, "enterprise_health_checks": 3,
        "petition_risks": 0,
    }
    assert math.isclose(figures["e_registration_rate"], 100 * (9 + 5) / (10 + 5))
    by_unit: dict[str, dict[str, float]] = {}
    for c in stored_contributions(engine, 2020):
        by_unit.setdefault(c["code"], {})[c["unit_code"]] = c["value"]
    assert by_unit["inspection_units"] == {"A": 1, "B": 1, "C": 1}
    assert by_unit["inspection_entities"] == {"A": 12 + 30 + 5 + 8, "B": 40, "C": 40, "*": 60 - 135}
    assert by_unit["joint_inspections"] == {"A": 3, "B": 1, "C": 1, "*": 2 - 5}
    assert by_unit["transfers_filed"] == {"A": 1, "B": 2}
    assert by_unit["devolved_powers"] == {"A": 120, "B": 60}
    engine.dispose()


def test_an_existing_warehouse_gets_the_consolidation_indexes(warehouse_url) -> None:
    engine = make_engine(warehouse_url)
    ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_fact_transfer_case"))
        conn.execute(sa.text("DROP INDEX ix_submission_not_in_force"))
    ensure_schema(engine)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            indexes = dict(conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes")).all())
            assert "INCLUDE (submission_id, police_decision, filed_on)" in indexes["ix_fact_transfer_case"]
        else:
            indexes = dict(conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")).all())
    assert re.search(r"\(substr\(\(?period\)?(::text)?, 1, 4\), unit_code, transfer_id, period\)",
                     indexes["ix_fact_transfer_case"])
    assert re.search(r"status\)?(::text)? <> 'loaded'", indexes["ix_submission_not_in_force"])
    engine.dispose()


# --- report text and the check of a draft --------------------------------------------------------


def test_report_sentences_with_year_on_year(sqlite_loaded, tmp_path: Path) -> None:
    from docx import Document

    from pipeline.cli import main

    settings, _ = sqlite_loaded
    assert main(["report", "--year", "2020", "--out", str(tmp_path), "--warehouse", settings.warehouse_url]) == 0
    markdown = (tmp_path / "report-figures.md").read_text(encoding="utf-8")
    sentence = "全区共有17个部门制定检查任务104项，抽取检查对象1976户，实施联合抽查14次"
    assert sentence in markdown
    assert "## 五、加强行政复议，全面提升复议应诉水平" in markdown
    assert "区司法局审核区级文件、合同80余项" in markdown and "全程电子化比例达90%以上" in markdown
    assert "【缺数" not in markdown
    # 2019 is in the warehouse for 行政应诉 only: year-on-year for those figures, and only those.
    received_2019 = len({row["case_id"] for (_, _), sheets in sample_year_data(2019).items()
                         for row in sheets.get("litigation") or [] if row["received_on"].year == 2019})
    assert f"收到行政诉讼案件数 8件（2019年：{received_2019}件" in markdown
    assert "检查任务数 104项（2019年" not in markdown
    paragraphs = [p.text for p in Document(str(tmp_path / "report-figures.docx")).paragraphs]
    assert any(sentence in p for p in paragraphs)
    assert "六、创新服务模式，助推提升基层治理能力" in paragraphs


def test_check_report_confirms_the_real_2020_report(sqlite_loaded, capsys) -> None:
    from pipeline.cli import main

    settings, _ = sqlite_loaded
    code = main(["check-report", str(REPORT), "--year", "2020", "--warehouse", settings.warehouse_url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[0].startswith("2020年报告核对：一致 32 处，不一致 0 处，无数据支撑 0 处")


def test_check_report_flags_a_changed_number_in_a_docx(sqlite_loaded, tmp_path: Path, capsys) -> None:
    from docx import Document

    from pipeline.cli import main

    settings, _ = sqlite_loaded
    doc = Document()
    text = REPORT.read_text(encoding="utf-8").replace("共受理行政复议案件27件", "共受理行政复议案件29件")
    for line in text.splitlines():
        doc.add_paragraph(line)
    draft = tmp_path / "初稿.docx"
    doc.save(draft)
    code = main(["check-report", str(draft), "--year", "2020", "--warehouse", settings.warehouse_url, "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert "不一致 1 处" in out.splitlines()[0]
    assert "不一致：报告写“29件”，数据为“27件”（受理行政复议案件数）" in out


# --- figures.xlsx -----------------------------------------------------------------------------


def test_figures_xlsx_for_report_authors(sqlite_loaded) -> None:
    settings, _ = sqlite_loaded
    path = settings.out / "2020" / "figures.xlsx"
    wb = load_workbook(path)
    assert wb.sheetnames[:2] == ["封面", "指标"]
    assert {"报送情况", "月度趋势"} <= set(wb.sheetnames)
    cover = {r[0]: r[1] for r in wb["封面"].iter_rows(values_only=True) if r[0]}
    assert cover["年度"] == "2020年" and "北京时间" in cover["数据截至"]
    assert cover["已发布版本"].startswith("尚未发布")
    assert cover["报送完整性"].startswith("已汇入12个月")
    table = [r for r in wb["指标"].iter_rows(min_row=3, values_only=True)]
    headings = [r[0] for r in table if r[1] is None]
    assert [h[:2] for h in headings] == ["一、", "二、", "三、", "四、", "五、", "六、"]
    assert [r[0] for r in table if r[1] is not None] == list(report_figures_2020())
    flows = [code for code, d in FIGURE_DEFS.items() if d.measure == "flow"]
    assert len(wb["月度趋势"]._charts) == len(flows)
    entities = wb[LABELS_ZH["inspection_entities"]]
    assert entities["I1"].value == "指标代码：inspection_entities"
    for ws in (wb["指标"], wb["月度趋势"], entities, wb["封面"]):
        assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
        assert "&P" in ws.oddFooter.center.text
    assert wb["指标"].print_title_rows == "$1:$2"
    sheet = entities
    rows = list(sheet.iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if r[:4] == ("单位", "报告期", "单元格", "栏目"))
    sources = [r for r in rows[header + 1:] if r[0]]
    assert len(sources) == 104
    # Count charts tick in whole numbers from 0.
    for chart in wb["月度趋势"]._charts:
        if "（%）" not in chart.title.tx.rich.p[0].r[0].t:
            assert chart.y_axis.majorUnit >= 1 and float(chart.y_axis.majorUnit).is_integer()
            assert chart.y_axis.scaling.min == 0
    assert {f.name for f in wb._fonts} == {"等线"}
    assert all(re.fullmatch(r"行政检查!D\d+", r[2]) and re.fullmatch(r"[0-9a-f]{12}", r[7])
               and re.fullmatch(r"[0-9a-f]{64}", r[10]) and r[10].startswith(r[7]) for r in sources)


@pytest.mark.slow
def test_figures_xlsx_prints_readably_in_libreoffice(sqlite_loaded, tmp_path: Path) -> None:
    """Rendered to PDF: the figure sheets print at a readable scale, nothing is cut, one header per table."""
    from rendering import render

    settings, engine = sqlite_loaded
    out = render(settings.out / "2020" / "figures.xlsx", tmp_path)
    figures = stored_figures(engine, 2020)
    # Cover, 指标, 报送情况, 月度趋势 and a sheet per figure (57 pages in LibreOffice 7.4; 49 before,
    # when the 64-character SHA-256 column shrank every figure sheet to half size).
    assert 2 + len(FIGURE_DEFS) <= len(out.pages) <= 60
    figure_pages = [n for n, page in enumerate(out.pages, start=1) if "指标代码：" in page]
    assert len(figure_pages) >= len(FIGURE_DEFS)
    # Readable: the median word on a figure sheet's page is at least 6.5 pt high (it was 4.8 pt).
    assert min(out.word_heights[n] for n in figure_pages) >= 6.5, out.word_heights
    # The contributions header is printed once per figure sheet, not above the source cells on later pages.
    assert sum(page.count("贡献数值") for page in out.pages) == len(FIGURE_DEFS)
    text = out.squeezed()
    # Nothing cut: every unit name, every figure's title, the provenance headers, the cover's 说明 in full.
    contributing = {c["unit_code"] for c in stored_contributions(engine, 2020)}
    for unit in units():
        if unit.code in contributing:
            assert unit.name in text, unit.name
    for f in figures:
        assert f"{f['label_zh']}：{f['display_zh']}（按单位）" in text
        assert f"指标代码：{f['code']}" in text
    assert "SHA-256（前12位）" in text and "SHA-256（完整）" not in text
    # The hidden columns (submission id, full hash) are not printed.
    assert not any("报送编号" in out.pages[n - 1] for n in figure_pages)
    for f in figures:  # file names printed whole
        for name in {c.file_name for c in all_provenance(engine, 2020)[f["code"]]}:
            assert "".join(name.split()) in text, name
    assert "时间均为北京时间。" in text and "（其中“本月无”" in text
    assert "按时报送，本月无数据" not in "".join(out.pages[0].split())  # the cover (the legend may say it)
    assert "数据截至（北京时间）" in text and "UTC" not in text


def test_explain_and_figures_take_a_chinese_label_or_a_unique_part(sqlite_loaded, capsys) -> None:
    from pipeline.cli import main

    settings, _ = sqlite_loaded
    url = ["--warehouse", settings.warehouse_url]
    assert main(["explain", "出庭", "--year", "2020", *url]) == 0
    assert capsys.readouterr().out.startswith(f"2020年 {LABELS_ZH['head_appearance_rate']}（head_appearance_rate）")
    assert main(["explain", LABELS_ZH["inspection_entities"], "--year", "2020", *url]) == 0
    assert "（inspection_entities）" in capsys.readouterr().out
    # A part several labels share names them all; an unknown one says how to list the figures.
    assert main(["explain", "行政复议", "--year", "2020", *url]) == 2
    err = capsys.readouterr().err
    assert "“行政复议”对应多项指标，请写得更具体" in err and "reconsideration_accepted" in err
    assert main(["explain", "不存在的指标", "--year", "2020", *url]) == 2
    assert "没有指标“不存在的指标”" in capsys.readouterr().err
    assert main(["figures", "抽取检查对象", "--year", "2020", *url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("inspection_entities")
    assert main(["figures", "--year", "1999", *url]) == 1
    assert capsys.readouterr().err.strip() == ("1999年尚无汇总指标：请先运行年度汇总"
                                               "（python -m pipeline consolidate --year 1999）")
