"""The report's figures for a year, consolidated in SQL from the submissions in force.

Every figure is defined once, in ``FIGURE_DEFS``, by the fact rows that contribute to it: a SQL
select giving, per contributing cell, its lineage (unit, submission, sheet, Excel row, column), what
the row adds to its unit's contribution (``reported``) and what it adds to the figure (``counted``).
``evaluate`` aggregates those rows in SQL; ``pipeline.figures.provenance`` lists the same rows with their
workbook and cell address; the monthly trend groups them by month. Consolidation computes the same
sums with one pass over each form's rows (``_consolidate_form``); tests hold the two equal.

Each figure comes with what every unit contributes to it, plus a district-level adjustment row
(unit ``*``) where a figure counts once something several units report, so that the contributions
always add up to the figure.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.config import FIGURE_CATALOGUE
from pipeline.forms import CLOSED, YES
from pipeline.warehouse.connect import reading
from pipeline.warehouse.load import bulk_insert
from pipeline.warehouse.schema import FACT_TABLES, figure, figure_contribution, period_year, submission

ADJUSTMENT = "*"


@dataclass(frozen=True)
class FigureSpec:
    code: str
    section: str
    phrase: str
    unit: str
    approx: bool
    source: str
    rule: str


@lru_cache(maxsize=1)
def _catalogue_rows() -> list[dict[str, str]]:
    """The figure catalogue (``figures/catalogue.csv``): one row per figure, in report order."""
    with FIGURE_CATALOGUE.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def figure_specs() -> dict[str, FigureSpec]:
    """The report's figures in report order, from the figure catalogue."""
    return {
        r["code"]: FigureSpec(
            code=r["code"], section=r["section"], phrase=r["report_phrase"], unit=r["unit"],
            approx=r["approx"] == "yes", source=r["return"], rule=r["rule"],
        )
        for r in _catalogue_rows()
    }


#: Figure code → its Chinese label, from the catalogue.
LABELS_ZH = {r["code"]: r["label_zh"] for r in _catalogue_rows()}


@dataclass
class FigureResult:
    code: str
    value: float
    contributions: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def display(value: float, unit: str, approx: bool) -> str:
    """The report's way of writing a figure: ``1976户``; approximate ``150余名``, ``90%以上``."""
    if approx:
        if unit == "%":
            return f"{math.floor(value / 10) * 10}%以上"
        step = 100 if value >= 1000 else 10
        return f"{math.floor(value / step) * step}余{unit}"
    shown = int(value) if float(value).is_integer() else round(value, 2)
    return f"{shown}{unit}"


# --- contributing rows ------------------------------------------------------------------------

#: A figure's contributing rows: one select, or a UNION ALL of selects (one per column it adds up).
RowsQuery = sa.Select | sa.CompoundSelect

#: flow: summed over the year's months; stock: each unit's last month of the year; distinct: units
#: counted once; rate: 100 × Σcounted / Σbase; rate3: the lowest yearly rate of the last three years.
Measure = Literal["flow", "stock", "distinct", "rate", "rate3"]


@dataclass(frozen=True)
class FigureDef:
    """A figure, by the fact rows that contribute to it (see the module docstring)."""

    code: str
    form: str
    measure: Measure
    #: year → the contributing rows, with the columns ``ROW_COLUMNS`` names.
    rows: Callable[[int], RowsQuery]
    #: Multiplies counted and reported values (yuan → 万元).
    scale: float = 1.0
    #: Why the figure differs from the sum of what units report, when it does.
    adjustment_note: str | None = None


#: What every ``FigureDef.rows`` select yields, in this order.
ROW_COLUMNS = (
    "unit_code", "submission_id", "sheet", "excel_row", "period", "column_code", "cell_value",
    "reported", "counted", "base", "activity_on", "year_of", "note",
)


def _first_last(year: int, years_back: int = 0) -> tuple[str, str]:
    return f"{year - years_back:04d}-01", f"{year:04d}-12"


def _facts(form: str, year: int, *, years_back: int = 0,
           where: sa.ColumnElement | None = None, extra: tuple = ()) -> sa.Subquery:
    """Fact rows of submissions in force in the months of ``year`` (and ``years_back`` before), with receipt time."""
    t = FACT_TABLES[form]
    first, last = _first_last(year, years_back)
    period = t.c.period.between(first, last)
    # The submission conditions repeat the fact's month and form so that a large warehouse reads
    # only the year's submissions through ix_submission_period_form.
    sub_period = submission.c.period.between(first, last)
    query = (
        sa.select(t, submission.c.received_at_utc, *extra)
        .select_from(t)
        .join(submission, sa.and_(
            submission.c.submission_id == t.c.submission_id, submission.c.status == "loaded",
            submission.c.form_code == form, sub_period,
        ))
        .where(period)
    )
    if where is not None:
        query = query.where(where)
    return query.subquery()


def _latest(form: str, key: str, year: int) -> sa.Subquery:
    """Registers: each case's latest report (by reporting month) of the months of ``year``.

    Every register figure counts cases by a date in the year (filed, accepted, closed, heard), and
    such a date is never after the end of the month that reports it (the suites' date rules). So a
    case whose latest report up to December dates an event in the year was reported in the year,
    and that latest report is also its latest report among the year's months: reading the year's
    months alone gives exactly the same cases, without scanning every earlier year.
    """
    t = FACT_TABLES[form]
    rn = sa.func.row_number().over(
        partition_by=(t.c.unit_code, t.c[key]),
        order_by=(t.c.period.desc(), submission.c.received_at_utc.desc(), t.c.excel_row.desc()),
    ).label("rn")
    ranked = _facts(form, year, extra=(rn,))
    return sa.select(ranked).where(ranked.c.rn == 1).subquery()


def _year_end(form: str, column: str, year: int) -> sa.Subquery:
    """Stocks: each unit's row of the last month of ``year`` it reported the column in."""
    t = FACT_TABLES[form]
    rn = sa.func.row_number().over(
        partition_by=t.c.unit_code, order_by=(t.c.period.desc(), t.c.excel_row.desc()),
    ).label("rn")
    ranked = _facts(form, year, where=t.c[column].isnot(None), extra=(rn,))
    return sa.select(ranked).where(ranked.c.rn == 1).subquery()


def _text(value: str | None) -> sa.ColumnElement:
    return sa.cast(sa.literal(value), sa.Text) if value is not None else sa.cast(sa.null(), sa.Text)


def _cells(
    src: sa.Subquery, column: str, *, reported: sa.ColumnElement | int | None = None,
    counted: sa.ColumnElement | int | None = None, base: sa.ColumnElement | int | None = None,
    activity_on: sa.ColumnElement | None = None, year_of: sa.ColumnElement | None = None,
    note: sa.ColumnElement | None = None, where: sa.ColumnElement | None = None,
) -> sa.Select:
    """One contributing cell per row of ``src``: the ``column`` cell; by default its value counts."""
    value = src.c[column]
    reported = value if reported is None else reported
    counted = reported if counted is None else counted

    def number(x: sa.ColumnElement | int | None) -> sa.ColumnElement:
        if x is None:
            return sa.cast(sa.null(), sa.BigInteger)
        return sa.cast(sa.literal(x), sa.BigInteger) if isinstance(x, int) else sa.cast(x, sa.BigInteger)

    query = sa.select(
        src.c.unit_code, src.c.submission_id, src.c.sheet, src.c.excel_row, src.c.period,
        _text(column).label("column_code"),
        sa.cast(value, sa.Text).label("cell_value"),
        number(reported).label("reported"),
        number(counted).label("counted"),
        number(base).label("base"),
        (activity_on if activity_on is not None else sa.cast(sa.null(), sa.Date)).label("activity_on"),
        (year_of if year_of is not None else sa.cast(sa.null(), sa.Text)).label("year_of"),
        (note if note is not None else _text(None)).label("note"),
    ).select_from(src)
    return query.where(where) if where is not None else query


# The kinds of figure below are classes rather than closures so that consolidation can see what a
# figure adds up (``_consolidate_form``); calling one gives its contributing rows.


@dataclass(frozen=True)
class Flow:
    """A monthly flow: every month's cell that is not zero; several columns add up into one figure."""

    form: str
    columns: tuple[str, ...]

    def __call__(self, year: int) -> RowsQuery:
        def one(column: str) -> sa.Select:
            src = _facts(self.form, year)
            return _cells(src, column, where=src.c[column] > 0)
        if len(self.columns) == 1:
            return one(self.columns[0])
        return sa.union_all(*(one(column) for column in self.columns))


def _flow(form: str, *columns: str) -> Flow:
    return Flow(form, columns)


@dataclass(frozen=True)
class Stock:
    """A stock: each unit's value in the last month of the year it reported."""

    form: str
    column: str

    def __call__(self, year: int) -> sa.Select:
        src = _year_end(self.form, self.column, year)
        return _cells(src, self.column, where=src.c[self.column] > 0, note=_text("年末数（本单位本年最后一次填报）"))


@dataclass(frozen=True)
class Share:
    """A rate: 100 × Σ ``part`` / Σ ``whole``, over the months whose ``whole`` is not zero."""

    form: str
    part: str
    whole: str
    part_note: str
    whole_note: str

    def __call__(self, year: int) -> RowsQuery:
        src = _facts(self.form, year)
        counted = src.c[self.whole] > 0
        part = _cells(src, self.part, base=0, where=counted, note=_text(self.part_note))
        whole = _cells(src, self.whole, reported=0, base=src.c[self.whole], where=counted, note=_text(self.whole_note))
        return sa.union_all(part, whole)


#: An expression over the columns ``c`` of a register report, for ``year``.
OnReport = Callable[[sa.ColumnCollection, int], sa.ColumnElement]


@dataclass(frozen=True)
class Cases:
    """Registers: the cases whose latest report of the year meets ``condition``.

    Each such case counts 1, or with ``adds_value`` the value of ``column`` in that report.
    """

    form: str
    key: str
    column: str
    date_column: str
    condition: OnReport
    note: OnReport
    adds_value: bool = False

    def __call__(self, year: int) -> sa.Select:
        src = _latest(self.form, self.key, year)
        return _cells(
            src, self.column, reported=None if self.adds_value else 1, activity_on=src.c[self.date_column],
            where=self.condition(src.c, year), note=self.note(src.c, year),
        )


def _inspection_units(year: int) -> sa.Select:
    src = _facts("inspection", year)
    first = sa.func.row_number().over(
        partition_by=src.c.unit_code, order_by=(src.c.period, src.c.excel_row)) == 1
    ranked = sa.select(src, sa.case((first, 1), else_=0).label("first_row")).subquery()
    return _cells(
        ranked, "task_id", reported=ranked.c.first_row, activity_on=ranked.c.completed_on,
        note=sa.case((ranked.c.first_row == 1, _text("本部门本年第一项检查任务：计1个部门")),
                     else_=_text("本部门的其他检查任务：部门不重复计")),
    )


def _inspection_tasks(year: int) -> sa.Select:
    src = _facts("inspection", year)
    return _cells(src, "task_id", reported=1, activity_on=src.c.completed_on)


def _inspection_entities(year: int) -> sa.Select:
    src = _facts("inspection", year)
    joint = src.c.joint == YES
    # Of the rows of one joint inspection, the one with the most entities counts them all.
    rank = sa.func.row_number().over(
        partition_by=src.c.joint_id,
        order_by=(src.c.entities_sampled.desc(), src.c.unit_code, src.c.period, src.c.excel_row),
    )
    ranked = sa.select(src, sa.case((joint, rank), else_=1).label("joint_rank")).subquery()
    counted_row = sa.or_(ranked.c.joint != YES, ranked.c.joint_rank == 1)
    return _cells(
        ranked, "entities_sampled",
        counted=sa.case((counted_row, ranked.c.entities_sampled), else_=0),
        activity_on=ranked.c.completed_on,
        note=sa.case(
            (ranked.c.joint != YES, _text(None)),
            (ranked.c.joint_rank == 1, _text("联合抽查：各参与单位中户数最多的一行，计入一次")),
            else_=_text("联合抽查：其他参与单位重复填报，不重复计"),
        ),
    )


def _joint_inspections(year: int) -> sa.Select:
    src = _facts("inspection", year, where=FACT_TABLES["inspection"].c.joint == YES)
    first = sa.func.row_number().over(
        partition_by=src.c.joint_id, order_by=(src.c.unit_code, src.c.period, src.c.excel_row)) == 1
    ranked = sa.select(src, sa.case((first, 1), else_=0).label("first_row")).subquery()
    return _cells(
        ranked, "joint_id", reported=1, counted=ranked.c.first_row, activity_on=ranked.c.completed_on,
        note=sa.case((ranked.c.first_row == 1, _text("同一联合抽查编号计一次")),
                     else_=_text("同一联合抽查编号的其他参与单位，不重复计")),
    )


def _in_year(column: sa.ColumnElement, year: int) -> sa.ColumnElement:
    return column.between(dt.date(year, 1, 1), dt.date(year, 12, 31))


_transfers_filed = Cases(
    "transfer", "transfer_id", "police_decision", "filed_on",
    condition=lambda c, year: sa.and_(c.police_decision == "已立案", _in_year(c.filed_on, year)),
    note=lambda c, year: _text("该案最近一次填报为已立案，立案日期在本年"),
)


def _register_count(form: str, key: str, column: str, date_column: str, *, closed: bool,
                    note: str, carried_note: str | None = None, opened_column: str | None = None) -> Cases:
    """Registers: cases whose latest report dates ``date_column`` in the year (and, if asked, closed)."""
    def condition(c: sa.ColumnCollection, year: int) -> sa.ColumnElement:
        in_year = _in_year(c[date_column], year)
        return sa.and_(c.status == CLOSED, in_year) if closed else in_year

    def text(c: sa.ColumnCollection, year: int) -> sa.ColumnElement:
        if carried_note and opened_column:
            return sa.case((c[opened_column] < dt.date(year, 1, 1), _text(carried_note)), else_=_text(note))
        return _text(note)
    return Cases(form, key, column, date_column, condition, text)


def _letters(column: str) -> Cases:
    """Letters issued with the decisions of the cases closed in the year."""
    return Cases(
        "reconsideration", "case_id", column, "closed_on",
        condition=lambda c, year: sa.and_(c.status == CLOSED, _in_year(c.closed_on, year), c[column] > 0),
        note=lambda c, year: _text("随本年结案制发"), adds_value=True,
    )


def _head_appearance(year: int) -> sa.Select:
    t = FACT_TABLES["litigation"]
    src = _facts("litigation", year, years_back=2, where=t.c.hearing_held == YES)
    appeared = src.c.head_appeared == YES
    return _cells(
        src, "head_appeared", reported=sa.case((appeared, 1), else_=0), base=1,
        activity_on=src.c.hearing_on, year_of=sa.func.substr(src.c.period, 1, 4),
        note=sa.case((appeared, _text("开庭，负责人出庭")), else_=_text("开庭，负责人未出庭")),
    )


_e_registration = Share("general", "registrations_online", "registrations_total",
                        part_note="分子：全程电子化登记数", whole_note="分母：企业登记总数")


_JOINT_ENTITIES = "联合抽查各参与单位重复填报的检查对象只计一次（取最大户数）"
_JOINT_ONCE = "同一联合抽查编号由多个单位填报，只计一次"

FIGURE_DEFS: dict[str, FigureDef] = {d.code: d for d in (
    FigureDef("legal_review_items", "legality_review", "flow",
              _flow("legality_review", "documents_reviewed", "contracts_reviewed")),
    FigureDef("study_sessions", "general", "flow", _flow("general", "study_sessions")),
    FigureDef("legislative_research_meetings", "legality_review", "flow",
              _flow("legality_review", "research_meetings")),
    FigureDef("adviser_matters", "legal_adviser", "flow", _flow("legal_adviser", "matters_handled")),
    FigureDef("adviser_opinions", "legal_adviser", "flow", _flow("legal_adviser", "opinions_issued")),
    FigureDef("adviser_contracts", "legal_adviser", "flow", _flow("legal_adviser", "contracts_reviewed")),
    FigureDef("adviser_meetings", "legal_adviser", "flow", _flow("legal_adviser", "meetings_attended")),
    FigureDef("surveyed_enterprises", "mediation", "stock", Stock("mediation", "surveyed_enterprises")),
    FigureDef("enterprise_mediation_orgs", "mediation", "stock", Stock("mediation", "enterprise_mediation_orgs")),
    FigureDef("enterprise_health_checks", "mediation", "flow", _flow("mediation", "health_check_reports")),
    FigureDef("e_registration_rate", "general", "rate", _e_registration),
    FigureDef("inspection_units", "inspection", "distinct", _inspection_units),
    FigureDef("inspection_tasks", "inspection", "flow", _inspection_tasks),
    FigureDef("inspection_entities", "inspection", "flow", _inspection_entities, adjustment_note=_JOINT_ENTITIES),
    FigureDef("joint_inspections", "inspection", "flow", _joint_inspections, adjustment_note=_JOINT_ONCE),
    FigureDef("devolved_powers", "general", "stock", Stock("general", "devolved_powers")),
    FigureDef("transfers_filed", "transfer", "flow", _transfers_filed),
    FigureDef("exam_takers", "training", "flow", _flow("training", "exam_takers")),
    FigureDef("trained_officers", "training", "flow", _flow("training", "trained_officers")),
    FigureDef("reconsideration_accepted", "reconsideration", "flow", _register_count(
        "reconsideration", "case_id", "accepted_on", "accepted_on", closed=False, note="受理日期在本年")),
    FigureDef("reconsideration_closed", "reconsideration", "flow", _register_count(
        "reconsideration", "case_id", "closed_on", "closed_on", closed=True,
        note="最近一次填报为已结案，结案日期在本年", carried_note="上年受理、本年结案", opened_column="accepted_on")),
    FigureDef("reconsideration_suggestions", "reconsideration", "flow", _letters("suggestion_letters")),
    FigureDef("reconsideration_opinions", "reconsideration", "flow", _letters("opinion_letters")),
    FigureDef("litigation_received", "litigation", "flow", _register_count(
        "litigation", "case_id", "received_on", "received_on", closed=False, note="收案日期在本年")),
    FigureDef("litigation_closed", "litigation", "flow", _register_count(
        "litigation", "case_id", "closed_on", "closed_on", closed=True,
        note="最近一次填报为已结案，结案日期在本年", carried_note="上年结转、本年结案", opened_column="received_on")),
    FigureDef("head_appearance_rate", "litigation", "rate3", _head_appearance),
    FigureDef("family_mediation_studios", "mediation", "flow", _flow("mediation", "family_studios_new")),
    FigureDef("legal_service_teams", "mediation", "stock", Stock("mediation", "service_teams")),
    FigureDef("grids_covered", "mediation", "stock", Stock("mediation", "grids_covered")),
    FigureDef("legal_aid_workers", "legal_aid", "flow", _flow("legal_aid", "workers_helped")),
    FigureDef("legal_aid_wages_10k_yuan", "legal_aid", "flow", _flow("legal_aid", "wages_recovered_yuan"),
              scale=1 / 10000),
    FigureDef("petition_risks", "petition", "flow", _flow("petition", "risks_resolved")),
)}

#: How many years back a form's figures look (the three-year appearance rate); every other figure
#: reads the year's months only (registers too: see ``_latest``).
YEARS_BACK = {"litigation": 2}


def _num(value: object) -> float:
    return float(value or 0)


def _rate3(code: str, per_unit_year: list[tuple[str, str, float, float]], year: int) -> FigureResult:
    """The lowest yearly rate of ``year`` and the two years before; contributions from that year."""
    by_year: dict[int, tuple[float, float]] = {}
    for _, y, counted, base in per_unit_year:
        c, b = by_year.get(int(y), (0.0, 0.0))
        by_year[int(y)] = (c + counted, b + base)
    years = range(year - 2, year + 1)
    rates = {y: 100 * by_year[y][0] / by_year[y][1] for y in years if by_year.get(y, (0, 0))[1]}
    parts = [
        f"{y}年：开庭{int(by_year[y][1])}次，负责人出庭{int(by_year[y][0])}次（{rates[y]:.4g}%）" if y in rates
        else f"{y}年：无开庭记录" for y in years
    ]
    if not rates:
        return FigureResult(code, 0.0, {ADJUSTMENT: 0.0}, {ADJUSTMENT: "；".join(parts) + "；无法计算"})
    lowest = min(rates.values())
    at = max(y for y, r in rates.items() if r == lowest)
    result = FigureResult(code, lowest)
    for unit, y, counted, _ in per_unit_year:
        if int(y) == at and counted:
            result.contributions[unit] = result.contributions.get(unit, 0.0) + 100 * counted / by_year[at][1]
    result.contributions[ADJUSTMENT] = 0.0
    suffix = "；取三年中最低的一年" if len(rates) == 3 else "；不足三年，取有记录年份中最低的一年"
    result.notes[ADJUSTMENT] = "；".join(parts) + suffix + f"（{at}年）"
    return result


@dataclass
class Sums:
    """What a figure's contributing rows add up to: ``reported`` per unit, ``counted`` and ``base`` in all."""

    reported: dict[str, float]
    counted: float
    base: float = 0.0


def _result(fdef: FigureDef, sums: Sums) -> FigureResult:
    """The figure and each unit's contribution, with the district-level adjustment where needed."""
    code = fdef.code
    if fdef.measure == "rate":
        if not sums.base:
            return FigureResult(code, 0.0)
        return FigureResult(code, 100 * sums.counted / sums.base,
                            {u: 100 * r / sums.base for u, r in sums.reported.items() if r})
    reported = sum(sums.reported.values())
    result = FigureResult(code, sums.counted * fdef.scale,
                          {u: r * fdef.scale for u, r in sums.reported.items() if r})
    if sums.counted != reported:
        result.contributions[ADJUSTMENT] = (sums.counted - reported) * fdef.scale
        result.notes[ADJUSTMENT] = fdef.adjustment_note or "同一事项由多个单位填报，只计一次"
    return result


def evaluate(conn: Connection, code: str, year: int) -> FigureResult:
    """One figure for ``year``: SQL aggregates over its contributing rows (the definition itself)."""
    fdef = FIGURE_DEFS[code]
    rows = fdef.rows(year).subquery()
    if fdef.measure == "rate3":
        grouped = conn.execute(
            sa.select(rows.c.unit_code, rows.c.year_of, sa.func.sum(rows.c.counted), sa.func.sum(rows.c.base))
            .group_by(rows.c.unit_code, rows.c.year_of)
            .order_by(rows.c.unit_code, rows.c.year_of)
        ).all()
        return _rate3(code, [(u, y, _num(c), _num(b)) for u, y, c, b in grouped], year)
    per_unit = conn.execute(
        sa.select(rows.c.unit_code, sa.func.sum(rows.c.reported), sa.func.sum(rows.c.counted),
                  sa.func.sum(rows.c.base))
        .group_by(rows.c.unit_code).order_by(rows.c.unit_code)
    ).all()
    return _result(fdef, Sums(
        {u: _num(r) for u, r, _, _ in per_unit},
        sum(_num(c) for _, _, c, _ in per_unit), sum(_num(b) for *_, b in per_unit),
    ))


def monthly_values(conn: Connection, code: str, year: int) -> dict[str, float]:
    """``YYYY-MM`` → what the figure's contributing rows of that month add up to (flows)."""
    rows = FIGURE_DEFS[code].rows(year).subquery()
    out: dict[str, float] = {f"{year:04d}-{m:02d}": 0.0 for m in range(1, 13)}
    for period, day, counted in conn.execute(
        sa.select(rows.c.period, rows.c.activity_on, sa.func.sum(rows.c.counted))
        .group_by(rows.c.period, rows.c.activity_on)
    ).all():
        month = f"{day.year:04d}-{day.month:02d}" if day is not None else period
        if month in out:
            out[month] += _num(counted) * FIGURE_DEFS[code].scale
    return out


# --- consolidation: every figure of a form from one pass over its rows ----------------------------
#
# ``evaluate`` reads a figure's contributing rows, one statement per figure, some ranking the whole
# year's rows with window functions: a city's year would be read dozens of times over. Consolidation
# computes the same sums per unit, for all the figures of a form together, reading the form's year
# once, in the order of its consolidation index (``pipeline.warehouse.schema._consolidation_indexes``) and
# without joining every row to its submission. That rests on what a load guarantees:
#   - a fact row belongs to a submission of its form and month, and carries its unit (``build_loads``);
#   - of one unit's submissions of a form and month, one at most is in force (``settle_supersession``);
#   - the suites refuse an aggregate form with more than one row, a register repeating a case key,
#     and a joint inspection without its joint number.
# So every case of a register has at most one report a month in force, and its latest report is its
# report of its latest month. tests/test_figures.py checks that both ways give the same figures.


def _not_in_force(form: str, year: int) -> sa.Select:
    """The form's submissions of the year's months that are not in force (superseded, refused): few."""
    first, last = _first_last(year)
    return sa.select(submission.c.submission_id).where(
        submission.c.status != "loaded", submission.c.form_code == form, submission.c.period.between(first, last),
    )


def _in_force(form: str, year: int, *, by_year: bool = False) -> sa.ColumnElement:
    """The form's fact rows of the months of ``year`` whose submission is in force.

    A fact row's submission is of its form and month, so it is in force unless it is one of the few
    ``_not_in_force``: PostgreSQL checks each row against a hash of those, and skips the check when
    there are none, where a join would look every row's submission up. ``by_year`` selects the
    months as the register indexes are keyed (periods are ``YYYY-MM``: ``validate_period``).
    """
    t = FACT_TABLES[form]
    months = period_year(t.c.period) == f"{year:04d}" if by_year else t.c.period.between(*_first_last(year))
    return sa.and_(months, t.c.submission_id.not_in(_not_in_force(form, year)))


def _inspection_sums(conn: Connection, year: int) -> dict[str, Sums]:
    """The inspection figures (``_INSPECTION``): each unit's tasks and entities, then the joint rows apart."""
    t = FACT_TABLES["inspection"]
    rows = _in_force("inspection", year)
    # By month and unit first, as ix_fact_inspection_year is ordered: added up as it is scanned,
    # which costs PostgreSQL less than hashing every row's unit.
    monthly = (
        sa.select(t.c.unit_code, sa.func.count().label("tasks"), sa.func.sum(t.c.entities_sampled).label("entities"))
        .where(rows).group_by(t.c.period, t.c.unit_code).subquery()
    )
    units = conn.execute(
        sa.select(monthly.c.unit_code, sa.func.sum(monthly.c.tasks), sa.func.sum(monthly.c.entities))
        .group_by(monthly.c.unit_code)
    ).all()
    # The joint rows, from their own (partial) index: what each unit reported, and each joint
    # inspection once, with the largest number of entities any participant reported.
    joint = sa.and_(rows, t.c.joint == YES)
    joint_units = conn.execute(
        sa.select(t.c.unit_code, sa.func.count(), sa.func.sum(t.c.entities_sampled))
        .where(joint).group_by(t.c.unit_code)
    ).all()
    largest = (
        sa.select(sa.func.max(t.c.entities_sampled).label("entities"))
        .where(joint).group_by(t.c.joint_id).subquery()
    )
    joint_count, joint_entities = conn.execute(
        sa.select(sa.func.count(), sa.func.sum(largest.c.entities)).select_from(largest)
    ).one()
    tasks = {u: _num(n) for u, n, _ in units}
    entities = {u: _num(e) for u, _, e in units}
    reported_joint_entities = sum(_num(e) for _, _, e in joint_units)
    return {
        # Every unit with a task in the year counts once.
        "inspection_units": Sums(dict.fromkeys(tasks, 1.0), float(len(tasks))),
        "inspection_tasks": Sums(tasks, sum(tasks.values())),
        "inspection_entities": Sums(
            entities, sum(entities.values()) - reported_joint_entities + _num(joint_entities)),
        "joint_inspections": Sums({u: _num(n) for u, n, _ in joint_units}, float(joint_count)),
    }


#: The definitions ``_inspection_sums`` computes, by figure code.
_INSPECTION = {"inspection_units": _inspection_units, "inspection_tasks": _inspection_tasks,
               "inspection_entities": _inspection_entities, "joint_inspections": _joint_inspections}


def _cases_sums(conn: Connection, form: str, year: int, figures: dict[str, Cases]) -> dict[str, Sums]:
    """Register figures from each case's latest month of the year (see the section comment)."""
    t = FACT_TABLES[form]
    (key,) = {d.key for d in figures.values()}
    # As ix_<table>_case is keyed: the scan yields each case's months together, and is aggregated as it goes.
    rows = _in_force(form, year, by_year=True)
    counts = {code: d for code, d in figures.items() if not d.adds_value}
    values = {code: d for code, d in figures.items() if d.adds_value}
    # Periods are ASCII, so byte order is their order: PostgreSQL compares bytes (COLLATE "C") faster
    # than by the database's locale.
    month = t.c.period.collate("C") if conn.dialect.name == "postgresql" else t.c.period
    out: dict[str, Sums] = {}
    if counts:
        # The latest report meets a condition exactly when the latest month of the reports meeting
        # it is the case's latest month: one pass, no ranking.
        cases = (
            sa.select(t.c.unit_code, sa.func.max(month).label("latest"),
                      *(sa.func.max(sa.case((d.condition(t.c, year), month))).label(code)
                        for code, d in counts.items()))
            .where(rows).group_by(t.c.unit_code, t.c[key]).subquery()
        )
        per_unit = conn.execute(
            sa.select(cases.c.unit_code, *(sa.func.sum(sa.case((cases.c[code] == cases.c.latest, 1), else_=0))
                                           for code in counts))
            .group_by(cases.c.unit_code)
        ).all()
        for i, code in enumerate(counts, start=1):
            reported = {r[0]: _num(r[i]) for r in per_unit}
            out[code] = Sums(reported, sum(reported.values()))
    if values:
        # Values (letters) come from the latest report itself: each case's latest month, joined back.
        latest = (
            sa.select(t.c.unit_code, t.c[key], sa.func.max(t.c.period).label("period"))
            .where(rows).group_by(t.c.unit_code, t.c[key]).subquery()
        )
        conditions = {code: d.condition(t.c, year) for code, d in values.items()}
        per_unit = conn.execute(
            sa.select(t.c.unit_code, *(sa.func.sum(sa.case((conditions[code], t.c[d.column])))
                                       for code, d in values.items()))
            .select_from(t.join(latest, sa.and_(
                latest.c.unit_code == t.c.unit_code, latest.c[key] == t.c[key], latest.c.period == t.c.period)))
            .where(rows, sa.or_(*conditions.values())).group_by(t.c.unit_code)
        ).all()
        for i, code in enumerate(values, start=1):
            reported = {r[0]: _num(r[i]) for r in per_unit}
            out[code] = Sums(reported, sum(reported.values()))
    return out


def _aggregate_sums(conn: Connection, form: str, year: int, figures: dict[str, Flow | Stock | Share]
                    ) -> dict[str, Sums]:
    """Flows, stocks and rates of an aggregate form (one row a month per unit): one statement."""
    t = FACT_TABLES[form]
    rows = _in_force(form, year)
    source: sa.FromClause = t
    year_end: dict[str, sa.ColumnElement] = {}
    stocks = {code: d for code, d in figures.items() if isinstance(d, Stock)}
    if stocks:
        # A stock's year-end row is the unit's row of the last month that reported it.
        last = (
            sa.select(t.c.unit_code, *(sa.func.max(sa.case((t.c[d.column].isnot(None), t.c.period))).label(code)
                                       for code, d in stocks.items()))
            .where(rows).group_by(t.c.unit_code).subquery()
        )
        source = t.join(last, last.c.unit_code == t.c.unit_code)
        year_end = {code: last.c[code] for code in stocks}

    def positive(column: str, where: sa.ColumnElement | None = None) -> sa.ColumnElement:
        counted = t.c[column] > 0 if where is None else sa.and_(where, t.c[column] > 0)
        return sa.func.sum(sa.case((counted, t.c[column])))

    parts: dict[str, list[sa.ColumnElement]] = {}
    for code, d in figures.items():
        if isinstance(d, Flow):
            parts[code] = [positive(column) for column in d.columns]
        elif isinstance(d, Stock):
            parts[code] = [positive(d.column, where=t.c.period == year_end[code])]
        else:
            counted = t.c[d.whole] > 0
            parts[code] = [sa.func.sum(sa.case((counted, t.c[d.part]))), sa.func.sum(sa.case((counted, t.c[d.whole])))]
    per_unit = conn.execute(
        sa.select(t.c.unit_code, *(e for exprs in parts.values() for e in exprs))
        .select_from(source).where(rows).group_by(t.c.unit_code)
    ).all()
    out: dict[str, Sums] = {}
    i = 1
    for code, exprs in parts.items():
        if isinstance(figures[code], Share):
            reported = {r[0]: _num(r[i]) for r in per_unit}
            out[code] = Sums(reported, sum(reported.values()), sum(_num(r[i + 1]) for r in per_unit))
        else:
            reported = {r[0]: sum(_num(v) for v in r[i:i + len(exprs)]) for r in per_unit}
            out[code] = Sums(reported, sum(reported.values()))
        i += len(exprs)
    return out


def _consolidate_form(form: str, conn: Connection, year: int) -> list[FigureResult]:
    """The form's figures, in ``FIGURE_DEFS`` order: one pass per kind; ``evaluate`` for the rest."""
    defs = {code: d for code, d in FIGURE_DEFS.items() if d.form == form}
    sums: dict[str, Sums] = {}
    if any(d.rows is _INSPECTION.get(code) for code, d in defs.items()):
        sums = {code: s for code, s in _inspection_sums(conn, year).items()
                if code in defs and defs[code].rows is _INSPECTION[code]}
    cases = {code: d.rows for code, d in defs.items() if isinstance(d.rows, Cases)}
    if cases:
        sums.update(_cases_sums(conn, form, year, cases))
    aggregates = {code: d.rows for code, d in defs.items() if isinstance(d.rows, Flow | Stock | Share)}
    if aggregates:
        sums.update(_aggregate_sums(conn, form, year, aggregates))
    return [_result(d, sums[code]) if code in sums else evaluate(conn, code, year) for code, d in defs.items()]


#: Form code → the function that consolidates its figures.
CONSOLIDATORS: dict[str, Callable[[Connection, int], list[FigureResult]]] = {
    form: partial(_consolidate_form, form) for form in dict.fromkeys(d.form for d in FIGURE_DEFS.values())
}
#: The figure list's ``return`` column → form code.
SOURCE_FORM = {
    "行政检查": "inspection", "案件移送": "transfer", "执法培训": "training", "合法性审查": "legality_review",
    "学法": "general", "营商环境": "general", "综合执法改革": "general", "法律顾问": "legal_adviser",
    "调解与法律服务": "mediation", "行政复议": "reconsideration", "行政应诉": "litigation",
    "法律援助": "legal_aid", "信访": "petition",
}


def _form_stats(conn: Connection, year: int) -> dict[str, tuple[int, dt.datetime | None]]:
    """Form code → the submissions in force its figures read: how many, and the latest receipt."""
    def per_form(*where: sa.ColumnElement) -> sa.Select:
        return (sa.select(submission.c.form_code, sa.func.count(), sa.func.max(submission.c.received_at_utc))
                .where(submission.c.status == "loaded", *where).group_by(submission.c.form_code))

    # The year, then the earlier years a form looks back to: separately, each an index range.
    reads = [per_form(submission.c.period.between(*_first_last(year)))]
    reads += [per_form(submission.c.form_code == form, submission.c.period.between(*_first_last(year - 1, back - 1)))
              for form, back in sorted(YEARS_BACK.items())]
    out: dict[str, tuple[int, dt.datetime | None]] = {}
    for form, count, as_of in conn.execute(sa.union_all(*reads)).all():
        before, latest = out.get(form, (0, None))
        out[form] = (before + count, max((t for t in (latest, as_of) if t is not None), default=None))
    return out


#: Connections consolidation reads the forms on, side by side (PostgreSQL).
READERS = 2


def _no_jit(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # Consolidation's statements cost enough for PostgreSQL to JIT-compile them, which takes
        # longer (about 70 ms each on the benchmark machine) than it saves.
        conn.exec_driver_sql("SET LOCAL jit = off")


def _all_forms(engine: Engine, conn: Connection, year: int) -> dict[str, list[FigureResult]]:
    """Every form's figures: on PostgreSQL side by side on ``READERS`` connections; else on ``conn``.

    PostgreSQL gives a statement one core (its parallel workers do not pay off for aggregates taken
    as the index is scanned) and the forms are independent. Each statement sees what was committed
    when it began, as the statements of one READ COMMITTED transaction do.
    """
    if conn.dialect.name != "postgresql":
        return {form: fn(conn, year) for form, fn in CONSOLIDATORS.items()}
    # Inside a REPEATABLE READ transaction (``warehouse.connect.snapshot``) the readers share its snapshot.
    shared = None
    if conn.in_transaction() and conn.get_isolation_level() == "REPEATABLE READ":
        shared = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        if not re.fullmatch(r"[0-9A-Fa-f-]+", shared):
            raise ValueError(f"unexpected snapshot id {shared!r}")

    def read(form: str) -> list[FigureResult]:
        with engine.connect() as own:
            if shared:
                own.execution_options(isolation_level="REPEATABLE READ")
            with own.begin():
                if shared:
                    own.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{shared}'")
                _no_jit(own)
                return CONSOLIDATORS[form](own, year)

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        futures = {form: pool.submit(read, form) for form in CONSOLIDATORS}
        return {form: future.result() for form, future in futures.items()}


def consolidate(bind: Engine | Connection, year: int) -> list[dict]:
    """Compute the year's figures, store them (replacing the year's previous ones) and return them.

    Given a connection, in its transaction (``warehouse.connect.snapshot``: one state for everything read).
    """
    specs = figure_specs()
    rows: list[dict] = []
    contributions: dict[str, list] = {c.name: [] for c in figure_contribution.columns}
    own = contextlib.nullcontext(bind) if isinstance(bind, Connection) else bind.begin()
    with own as conn:
        _no_jit(conn)
        stats = _form_stats(conn, year)
        for form_code, results in _all_forms(conn.engine, conn, year).items():
            count, as_of = stats.get(form_code, (0, None))
            for result in results:
                spec = specs[result.code]
                rows.append({
                    "year": year, "code": result.code, "section": spec.section,
                    "label_zh": LABELS_ZH[result.code], "value": float(result.value), "unit_zh": spec.unit,
                    "approx": spec.approx, "display_zh": display(result.value, spec.unit, spec.approx),
                    "as_of_utc": as_of, "contributing_submissions": count,
                })
                for unit, value in sorted(result.contributions.items()):
                    for column, v in (("year", year), ("code", result.code), ("unit_code", unit),
                                      ("value", float(value)), ("note_zh", result.notes.get(unit))):
                        contributions[column].append(v)
        order = list(specs)
        rows.sort(key=lambda r: order.index(r["code"]))
        conn.execute(figure_contribution.delete().where(figure_contribution.c.year == year))
        conn.execute(figure.delete().where(figure.c.year == year))
        conn.execute(figure.insert(), rows)
        if contributions["code"]:
            # A city's year has tens of thousands of contributions: COPY on PostgreSQL.
            bulk_insert(conn, figure_contribution, [contributions])
    return rows


def stored_figures(engine: Engine | Connection, year: int) -> list[dict]:
    """The figures last consolidated for ``year``, in report order."""
    order = list(figure_specs())
    with reading(engine) as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(figure).where(figure.c.year == year))]
    return sorted(rows, key=lambda r: order.index(r["code"]) if r["code"] in order else len(order))


def stored_contributions(engine: Engine | Connection, year: int) -> list[dict]:
    with reading(engine) as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(figure_contribution).where(figure_contribution.c.year == year)
            .order_by(figure_contribution.c.code, figure_contribution.c.unit_code)
        )]


def monthly_trends(engine: Engine | Connection, year: int) -> dict[str, dict[str, float]]:
    """Figure code → month → value, for every flow figure of ``year``."""
    with reading(engine) as conn:
        return {code: monthly_values(conn, code, year) for code, d in FIGURE_DEFS.items() if d.measure == "flow"}


def by_section(codes: list[str]) -> dict[str, list[str]]:
    """Report section (一 … 六) → its figure codes, in report order."""
    specs = figure_specs()
    out: dict[str, list[str]] = defaultdict(list)
    for code in codes:
        out[specs[code].section].append(code)
    return dict(out)


def find_figure(text: str) -> str:
    """The figure code ``text`` names: a code, a Chinese label, or a part of one label only.

    Raises LookupError with the matching codes (none, or several) when ``text`` names no single figure.
    """
    import unicodedata

    wanted = unicodedata.normalize("NFKC", text).strip()
    if wanted in FIGURE_DEFS:
        return wanted
    exact = [c for c, label in LABELS_ZH.items() if c in FIGURE_DEFS and label == wanted]
    if exact:
        return exact[0]
    folded = wanted.replace(" ", "").lower()
    found = [c for c, label in LABELS_ZH.items()
             if c in FIGURE_DEFS and folded and (folded in unicodedata.normalize("NFKC", label) or folded in c)]
    if len(found) == 1:
        return found[0]
    raise LookupError(found)
