"""The report's figures: the catalogue, and each figure's definition by the fact rows that contribute to it.

Every figure is defined once, in ``FIGURE_DEFS``, by the fact rows that contribute to it: a SQL
select giving, per contributing cell, its lineage (unit, submission, sheet, Excel row, column), what
the row adds to its unit's contribution (``reported``) and what it adds to the figure (``counted``).
``pipeline.figures.consolidate`` aggregates those rows for a year; ``pipeline.figures.provenance``
lists the same rows with their workbook and cell address.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import sqlalchemy as sa

from pipeline.config import FIGURE_CATALOGUE
from pipeline.forms import CLOSED, YES
from pipeline.warehouse.schema import FACT_TABLES, submission


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


def first_last(year: int, years_back: int = 0) -> tuple[str, str]:
    """The first and last month (``YYYY-MM``) of ``year``, the first ``years_back`` years earlier."""
    return f"{year - years_back:04d}-01", f"{year:04d}-12"


def _facts(form: str, year: int, *, years_back: int = 0,
           where: sa.ColumnElement | None = None, extra: tuple = ()) -> sa.Subquery:
    """Fact rows of submissions in force in the months of ``year`` (and ``years_back`` before), with receipt time."""
    t = FACT_TABLES[form]
    first, last = first_last(year, years_back)
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
# figure adds up (``pipeline.figures.consolidate._consolidate_form``); calling one gives its contributing rows.


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


def inspection_units(year: int) -> sa.Select:
    src = _facts("inspection", year)
    first = sa.func.row_number().over(
        partition_by=src.c.unit_code, order_by=(src.c.period, src.c.excel_row)) == 1
    ranked = sa.select(src, sa.case((first, 1), else_=0).label("first_row")).subquery()
    return _cells(
        ranked, "task_id", reported=ranked.c.first_row, activity_on=ranked.c.completed_on,
        note=sa.case((ranked.c.first_row == 1, _text("本部门本年第一项检查任务：计1个部门")),
                     else_=_text("本部门的其他检查任务：部门不重复计")),
    )


def inspection_tasks(year: int) -> sa.Select:
    src = _facts("inspection", year)
    return _cells(src, "task_id", reported=1, activity_on=src.c.completed_on)


def inspection_entities(year: int) -> sa.Select:
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


def joint_inspections(year: int) -> sa.Select:
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
    FigureDef("inspection_units", "inspection", "distinct", inspection_units),
    FigureDef("inspection_tasks", "inspection", "flow", inspection_tasks),
    FigureDef("inspection_entities", "inspection", "flow", inspection_entities, adjustment_note=_JOINT_ENTITIES),
    FigureDef("joint_inspections", "inspection", "flow", joint_inspections, adjustment_note=_JOINT_ONCE),
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
#: The figure list's ``return`` column → form code.
SOURCE_FORM = {
    "行政检查": "inspection", "案件移送": "transfer", "执法培训": "training", "合法性审查": "legality_review",
    "学法": "general", "营商环境": "general", "综合执法改革": "general", "法律顾问": "legal_adviser",
    "调解与法律服务": "mediation", "行政复议": "reconsideration", "行政应诉": "litigation",
    "法律援助": "legal_aid", "信访": "petition",
}


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
