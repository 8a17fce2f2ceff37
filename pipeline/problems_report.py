"""What the operator has to act on: open problems of a month, read back from the warehouse."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.completeness import missing_line
from pipeline.config import Settings
from pipeline.periods import validate_period
from pipeline.problems import Problem
from pipeline.registry import units
from pipeline.warehouse import ensure_schema, make_engine, problem, return_file, submission

log = logging.getLogger(__name__)


@dataclass
class OpenFile:
    """A refused or partly refused workbook whose problems nobody has fixed by resending."""

    file_id: str
    file_name: str
    sha256: str
    unit_code: str | None
    status: str
    problems: list[Problem]


def open_problems(engine: Engine, period: str) -> list[OpenFile]:
    """Files of ``period`` with errors whose returns no later valid submission has replaced."""
    validate_period(period)
    with engine.connect() as conn:
        subs = conn.execute(
            sa.select(submission.c.submission_id, submission.c.unit_code, submission.c.form_code,
                      submission.c.status, submission.c.received_at_utc, submission.c.file_id)
            .where(submission.c.period == period)
        ).all()
        files = conn.execute(
            sa.select(return_file).where(return_file.c.period == period, return_file.c.status != "accepted")
            .order_by(return_file.c.received_at_utc, return_file.c.file_name)
        ).all()
        probs = conn.execute(
            sa.select(problem).where(problem.c.file_id.in_([f.file_id for f in files]))
            .order_by(problem.c.file_id, problem.c.seq)
        ).all()
    fixed: set[str] = set()
    for sub_id, unit, form, status, received, _ in subs:
        if status != "quarantined":
            continue
        later = [s for s in subs if s[1] == unit and s[2] == form and s[3] != "quarantined" and s[4] > received]
        if later:
            fixed.add(sub_id)
    by_file: dict[str, list[Problem]] = {}
    for p in probs:
        if p.submission_id in fixed:
            continue
        by_file.setdefault(p.file_id, []).append(Problem(
            p.message_zh, rule=p.rule, severity=p.severity, sheet=p.sheet, cell=p.cell,
            excel_row=p.excel_row, column_label=p.column_label, value=p.value,
        ))
    return [
        OpenFile(f.file_id, f.file_name, f.sha256, f.unit_code, f.status, by_file[f.file_id])
        for f in files
        if any(p.severity == "error" for p in by_file.get(f.file_id, []))
    ]


def format_open_problems(period: str, files: list[OpenFile]) -> str:
    names = {u.code: u.name for u in units()}
    if not files:
        return f"{period}: no open problems"
    lines = [f"{period}: {len(files)} file(s) refused or partly refused"]
    for f in files:
        unit = names.get(f.unit_code or "", "未识别单位")
        lines.append(f"- {f.file_name} [{unit}] ({f.status}, sha256 {f.sha256[:12]})")
        lines.extend(f"    {p.severity}: {p.describe_zh()}" for p in f.problems)
    return "\n".join(lines)


def log_month_summary(period: str, settings: Settings, summary: dict, feedback: list[str]) -> str:
    """Log the month's totals, its open problems, the units still missing and the feedback files written."""
    engine = make_engine(settings.warehouse_url)
    ensure_schema(engine)
    text = format_open_problems(period, open_problems(engine, period))
    log.info(
        "%s: %s files, %s returns loaded (%s nil), %s quarantined",
        period, summary.get("files"), summary.get("loaded"), summary.get("nil_returns"), summary.get("quarantined"),
    )
    for line in text.splitlines():
        log.info("%s", line)
    log.info("%s", missing_line(engine, period))
    for path in feedback:
        log.info("feedback written: %s", path)
    return text
