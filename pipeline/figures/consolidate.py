"""The report's figures for a year, consolidated in SQL from the submissions in force, stored and read back.

``evaluate`` aggregates a figure's contributing rows (``pipeline.figures.definitions.FIGURE_DEFS``)
in SQL; the monthly trend groups them by month. Consolidation computes the same sums with one pass
over each form's rows (``_consolidate_form``); tests hold the two equal.

Each figure comes with what every unit contributes to it, plus a district-level adjustment row
(unit ``*``) where a figure counts once something several units report, so that the contributions
always add up to the figure.

Why one pass per form: ``evaluate`` reads a figure's contributing rows, one statement per figure,
some ranking the whole year's rows with window functions: a city's year would be read dozens of
times over. Consolidation computes the same sums per unit, for all the figures of a form together,
reading the form's year once, in the order of its consolidation index
(``pipeline.warehouse.schema._consolidation_indexes``) and without joining every row to its
submission. That rests on what a load guarantees:

- a fact row belongs to a submission of its form and month, and carries its unit (``build_loads``);
- of one unit's submissions of a form and month, one at most is in force (``settle_supersession``);
- the suites refuse an aggregate form with more than one row, a register repeating a case key,
  and a joint inspection without its joint number.

So every case of a register has at most one report a month in force, and its latest report is its
report of its latest month. tests/test_figures_definitions.py checks that both ways give the same figures.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.figures.definitions import (
    FIGURE_DEFS,
    LABELS_ZH,
    YEARS_BACK,
    Cases,
    FigureDef,
    Flow,
    Share,
    Stock,
    display,
    figure_specs,
    first_last,
    inspection_entities,
    inspection_tasks,
    inspection_units,
    joint_inspections,
)
from pipeline.forms import YES
from pipeline.warehouse.connect import reading
from pipeline.warehouse.load import bulk_insert
from pipeline.warehouse.schema import FACT_TABLES, figure, figure_contribution, period_year, submission

#: The unit code of a figure's district-level adjustment row.
ADJUSTMENT = "*"


@dataclass
class FigureResult:
    code: str
    value: float
    contributions: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


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


def _not_in_force(form: str, year: int) -> sa.Select:
    """The form's submissions of the year's months that are not in force (superseded, refused): few."""
    first, last = first_last(year)
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
    months = period_year(t.c.period) == f"{year:04d}" if by_year else t.c.period.between(*first_last(year))
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
_INSPECTION = {"inspection_units": inspection_units, "inspection_tasks": inspection_tasks,
               "inspection_entities": inspection_entities, "joint_inspections": joint_inspections}


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


def _form_stats(conn: Connection, year: int) -> dict[str, tuple[int, dt.datetime | None]]:
    """Form code → the submissions in force its figures read: how many, and the latest receipt."""
    def per_form(*where: sa.ColumnElement) -> sa.Select:
        return (sa.select(submission.c.form_code, sa.func.count(), sa.func.max(submission.c.received_at_utc))
                .where(submission.c.status == "loaded", *where).group_by(submission.c.form_code))

    # The year, then the earlier years a form looks back to: separately, each an index range.
    reads = [per_form(submission.c.period.between(*first_last(year)))]
    reads += [per_form(submission.c.form_code == form, submission.c.period.between(*first_last(year - 1, back - 1)))
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
