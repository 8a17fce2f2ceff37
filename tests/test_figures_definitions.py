"""All 32 figures from the sample returns equal the 2020 report's, and consolidation computes exactly what
the figure definitions define, on the sample and on hand-made returns that exercise every rule, on SQLite
and PostgreSQL.

The 2018–2020 sample warehouse is conftest's session fixture ``sample_warehouse``: the tests only read it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re

import pytest
import sqlalchemy as sa
from helpers import SAMPLE_YEARS, assert_matches_report, figures_by_code, report_figures_2020

from pipeline.figures.consolidate import CONSOLIDATORS, consolidate, evaluate, monthly_trends, stored_contributions
from pipeline.figures.definitions import FIGURE_DEFS
from pipeline.figures.provenance import all_provenance
from pipeline.forms import CLOSED, FORMS, NO, PENDING, YES
from pipeline.periods import months_of
from pipeline.registry import units
from pipeline.warehouse.connect import make_engine
from pipeline.warehouse.load import settle_supersession
from pipeline.warehouse.schema import FACT_TABLES, ensure_schema, return_file, submission

pytestmark = pytest.mark.integration


def test_all_32_figures_equal_the_report(sample_warehouse) -> None:
    _, engine = sample_warehouse
    with engine.connect() as conn:
        statuses = dict(conn.execute(
            sa.select(submission.c.status, sa.func.count()).group_by(submission.c.status)).all())
    # Every sample return passes its suite: 79 a month in 2020, 行政应诉 only in 2018 and 2019.
    assert statuses == {"loaded": 12 * sum(len(u.forms) for u in units()) + 2 * 12}
    figures = {code: f["value"] for code, f in figures_by_code(engine).items()}
    assert list(figures) == list(report_figures_2020())
    assert_matches_report(figures, list(figures))


def test_contributions_add_up_to_each_figure(sample_warehouse) -> None:
    _, engine = sample_warehouse
    by_code: dict[str, float] = {}
    for c in stored_contributions(engine, 2020):
        by_code[c["code"]] = by_code.get(c["code"], 0.0) + c["value"]
    for code, f in figures_by_code(engine).items():
        assert math.isclose(by_code.get(code, 0.0), f["value"], abs_tol=1e-9), code
    contributions = {(c["code"], c["unit_code"]): c for c in stored_contributions(engine, 2020)}
    # Joint inspections are reported by every participant and counted once: a negative adjustment.
    assert contributions[("inspection_entities", "*")]["value"] < 0
    assert contributions[("joint_inspections", "*")]["value"] < 0
    assert "2018年" in contributions[("head_appearance_rate", "*")]["note_zh"]


def _by_definition(conn, form: str, year: int) -> list:
    return [evaluate(conn, code, year) for code, d in FIGURE_DEFS.items() if d.form == form]


def test_consolidation_equals_the_definitions_on_the_sample(sample_warehouse) -> None:
    """CONSOLIDATORS (one pass per form) give exactly what evaluate() reads from each figure's rows."""
    _, engine = sample_warehouse
    with engine.connect() as conn:
        for year in SAMPLE_YEARS:
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


def test_cells_and_trends_equal_the_definitions_on_the_sample(sample_warehouse) -> None:
    _assert_cells_and_trends_equal_the_definitions(sample_warehouse[1], SAMPLE_YEARS)


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
