"""The report's figures for a year, consolidated in SQL from the submissions in force.

Each figure comes with what every unit contributes to it (plus a district-level adjustment row,
unit ``*``, where a figure counts something once that several units report), so that the
contributions always add up to the figure.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.config import FIGURES_CSV
from pipeline.forms import YES
from pipeline.warehouse import FACT_TABLES, figure, figure_contribution, submission

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
def figure_specs() -> dict[str, FigureSpec]:
    """The report's figures in report order, from the bureau's figure list."""
    with FIGURES_CSV.open(encoding="utf-8") as fh:
        return {
            r["code"]: FigureSpec(
                code=r["code"], section=r["section"], phrase=r["report_phrase"], unit=r["unit"],
                approx=r["approx"] == "yes", source=r["return"], rule=r["rule"],
            )
            for r in csv.DictReader(fh)
        }


LABELS_ZH = {
    "inspection_units": "制定检查任务的部门数",
    "inspection_tasks": "检查任务数",
    "inspection_entities": "抽取检查对象户数",
    "joint_inspections": "联合抽查次数",
    "transfers_filed": "移送公安机关立案数",
    "exam_takers": "参加执法资格考试人数",
    "trained_officers": "参加公共法律知识专题培训人数",
}


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


def _year_bounds(year: int) -> tuple[str, str]:
    return f"{year:04d}-01", f"{year:04d}-12"


def _in_force(table: sa.Table, year: int, *, through_year_end: bool = False) -> list[sa.ColumnElement]:
    """Join conditions: rows of submissions in force in ``year`` (or in any month up to its end)."""
    first, last = _year_bounds(year)
    period = table.c.period <= last if through_year_end else table.c.period.between(first, last)
    return [
        submission.c.submission_id == table.c.submission_id,
        submission.c.status == "loaded",
        period,
    ]


def _inspection(conn: Connection, year: int) -> list[FigureResult]:
    t = FACT_TABLES["inspection"]
    joint = t.c.joint == YES
    per_unit = conn.execute(
        sa.select(
            t.c.unit_code,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(t.c.entities_sampled), 0),
            sa.func.coalesce(sa.func.sum(sa.case((joint, t.c.entities_sampled), else_=0)), 0),
            sa.func.count(sa.case((joint, 1))),
        )
        .select_from(t).join(submission, sa.and_(*_in_force(t, year)))
        .group_by(t.c.unit_code)
    ).all()
    per_joint = conn.execute(
        sa.select(t.c.joint_id, sa.func.max(t.c.entities_sampled))
        .select_from(t).join(submission, sa.and_(*_in_force(t, year)))
        .where(joint)
        .group_by(t.c.joint_id)
    ).all()
    units = FigureResult("inspection_units", len(per_unit), {u: 1 for u, *_ in per_unit})
    tasks = FigureResult("inspection_tasks", sum(r[1] for r in per_unit), {u: n for u, n, *_ in per_unit})
    reported_joint = sum(r[3] for r in per_unit)
    counted_joint = sum(m or 0 for _, m in per_joint)
    entities = FigureResult(
        "inspection_entities",
        sum(r[2] for r in per_unit) - reported_joint + counted_joint,
        {u: e for u, _, e, *_ in per_unit},
    )
    joints = FigureResult("joint_inspections", len(per_joint), {u: j for u, *_, j in per_unit if j})
    if reported_joint != counted_joint:
        entities.contributions[ADJUSTMENT] = counted_joint - reported_joint
        entities.notes[ADJUSTMENT] = "联合抽查各参与单位重复填报的检查对象只计一次（取最大户数）"
    extra_rows = sum(joints.contributions.values()) - len(per_joint)
    if extra_rows:
        joints.contributions[ADJUSTMENT] = -extra_rows
        joints.notes[ADJUSTMENT] = "同一联合抽查编号由多个单位填报，只计一次"
    return [units, tasks, entities, joints]


def _transfers(conn: Connection, year: int) -> list[FigureResult]:
    t = FACT_TABLES["transfer"]
    ranked = (
        sa.select(
            t.c.unit_code, t.c.police_decision, t.c.filed_on,
            sa.func.row_number().over(
                partition_by=(t.c.unit_code, t.c.transfer_id),
                order_by=(t.c.period.desc(), submission.c.received_at_utc.desc(), t.c.excel_row.desc()),
            ).label("rn"),
        )
        .select_from(t).join(submission, sa.and_(*_in_force(t, year, through_year_end=True)))
        .subquery()
    )
    rows = conn.execute(
        sa.select(ranked.c.unit_code, sa.func.count())
        .where(
            ranked.c.rn == 1,
            ranked.c.police_decision == "已立案",
            ranked.c.filed_on.between(dt.date(year, 1, 1), dt.date(year, 12, 31)),
        )
        .group_by(ranked.c.unit_code)
    ).all()
    return [FigureResult("transfers_filed", sum(n for _, n in rows), dict(rows))]


def _training(conn: Connection, year: int) -> list[FigureResult]:
    t = FACT_TABLES["training"]
    rows = conn.execute(
        sa.select(
            t.c.unit_code,
            sa.func.coalesce(sa.func.sum(t.c.exam_takers), 0),
            sa.func.coalesce(sa.func.sum(t.c.trained_officers), 0),
        )
        .select_from(t).join(submission, sa.and_(*_in_force(t, year)))
        .group_by(t.c.unit_code)
    ).all()
    return [
        FigureResult("exam_takers", sum(r[1] for r in rows), {u: e for u, e, _ in rows if e}),
        FigureResult("trained_officers", sum(r[2] for r in rows), {u: n for u, _, n in rows if n}),
    ]


#: Form code → the function that consolidates its figures.
CONSOLIDATORS: dict[str, Callable[[Connection, int], list[FigureResult]]] = {
    "inspection": _inspection,
    "transfer": _transfers,
    "training": _training,
}
SOURCE_FORM = {"行政检查": "inspection", "案件移送": "transfer", "执法培训": "training"}


def _form_stats(conn: Connection, form_code: str, year: int) -> tuple[int, dt.datetime | None]:
    first, last = _year_bounds(year)
    count, as_of = conn.execute(
        sa.select(sa.func.count(), sa.func.max(submission.c.received_at_utc)).where(
            submission.c.form_code == form_code,
            submission.c.status == "loaded",
            submission.c.period.between(first, last),
        )
    ).one()
    return count, as_of


def consolidate(engine: Engine, year: int) -> list[dict]:
    """Compute the year's figures, store them (replacing the year's previous ones) and return them."""
    specs = figure_specs()
    rows: list[dict] = []
    contributions: list[dict] = []
    with engine.begin() as conn:
        for form_code, fn in CONSOLIDATORS.items():
            count, as_of = _form_stats(conn, form_code, year)
            for result in fn(conn, year):
                spec = specs[result.code]
                rows.append({
                    "year": year, "code": result.code, "section": spec.section,
                    "label_zh": LABELS_ZH[result.code], "value": float(result.value), "unit_zh": spec.unit,
                    "approx": spec.approx, "display_zh": display(result.value, spec.unit, spec.approx),
                    "as_of_utc": as_of, "contributing_submissions": count,
                })
                contributions.extend(
                    {"year": year, "code": result.code, "unit_code": unit, "value": float(value),
                     "note_zh": result.notes.get(unit)}
                    for unit, value in sorted(result.contributions.items())
                )
        order = list(specs)
        rows.sort(key=lambda r: order.index(r["code"]))
        conn.execute(figure_contribution.delete().where(figure_contribution.c.year == year))
        conn.execute(figure.delete().where(figure.c.year == year))
        conn.execute(figure.insert(), rows)
        if contributions:
            conn.execute(figure_contribution.insert(), contributions)
    return rows


def stored_figures(engine: Engine, year: int) -> list[dict]:
    """The figures last consolidated for ``year``, in report order."""
    order = list(figure_specs())
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(figure).where(figure.c.year == year))]
    return sorted(rows, key=lambda r: order.index(r["code"]) if r["code"] in order else len(order))


def stored_contributions(engine: Engine, year: int) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(figure_contribution).where(figure_contribution.c.year == year)
            .order_by(figure_contribution.c.code, figure_contribution.c.unit_code)
        )]
