"""What the operator has to act on: open problems of a month, read back from the warehouse."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.forms import FORMS
from pipeline.periods import validate_period
from pipeline.problems import Problem
from pipeline.registry import units
from pipeline.sanitise import one_line
from pipeline.warehouse.load import FileLoad
from pipeline.warehouse.schema import problem, return_file, submission


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
            sa.select(return_file)
            .where(return_file.c.period == period, return_file.c.status.not_in(("accepted", "withdrawn")))
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
        return f"{period}：没有待处理的问题"
    lines = [f"{period}：{len(files)}个文件被退回或部分退回"]
    for f in files:
        unit = names.get(f.unit_code or "", "未识别单位")
        status = "整个文件退回" if f.status == "refused" else "部分工作表退回"
        lines.append(f"- {f.file_name} [{unit}]（{status}，SHA-256 {f.sha256[:12]}）")
        lines.extend(f"    {'提示' if p.severity == 'warning' else '错误'}：{p.describe_zh()}" for p in f.problems)
    return "\n".join(lines)


@dataclass
class Resent:
    """A unit that sent more than one valid workbook in a month: the latest received is in force."""

    unit_code: str | None
    in_force: str
    superseded: list[str]
    forms: list[str]

    def describe_zh(self) -> str:
        forms = "、".join(FORMS[f].sheet if f in FORMS else f for f in self.forms)
        older = "”“".join(self.superseded)
        return f"本月收到该单位多份工作簿（{forms}）：以最后收到的“{self.in_force}”为准，“{older}”已被取代"


def _resent(rows: list[tuple[str | None, str, str, str]]) -> list[Resent]:
    """From (unit, form, submission id, file name) in supersession order (receipt, file name, id)."""
    by_key: dict[tuple[str | None, str], list[str]] = {}
    for unit, form, _, name in rows:
        names = by_key.setdefault((unit, form), [])
        if name in names:
            names.remove(name)
        names.append(name)
    merged: dict[tuple[str | None, str, tuple[str, ...]], list[str]] = {}
    for (unit, form), names in by_key.items():
        if len(names) > 1:
            merged.setdefault((unit, names[-1], tuple(names[:-1])), []).append(form)
    order = list(FORMS)
    return [Resent(unit, latest, list(older), sorted(forms, key=lambda f: order.index(f) if f in order else len(order)))
            for (unit, latest, older), forms in merged.items()]


def resent_warnings(loads: list[FileLoad]) -> list[tuple[str, list[str]]]:
    """For the month report: (in-force file, message) for every unit that sent several valid workbooks."""
    subs = sorted(
        (s.row for f in loads for s in f.submissions if s.row["status"] != "quarantined"),
        key=lambda r: (r["received_at_utc"], r["file_name"], r["submission_id"]),
    )
    found = _resent([(r["unit_code"], r["form_code"], r["submission_id"], r["file_name"]) for r in subs])
    return [(r.in_force, [r.describe_zh()]) for r in found]


def resent_returns(engine: Engine, period: str) -> list[Resent]:
    """Units of ``period`` with more than one valid workbook, read back from the warehouse."""
    validate_period(period)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(submission.c.unit_code, submission.c.form_code, submission.c.submission_id,
                      submission.c.file_name)
            .where(submission.c.period == period, submission.c.status != "quarantined")
            .order_by(submission.c.received_at_utc, submission.c.file_name, submission.c.submission_id)
        ).all()
    return _resent([tuple(r) for r in rows])


def month_problems_text(engine: Engine, period: str) -> str:
    """What ``python -m pipeline problems`` prints."""
    text = format_open_problems(period, open_problems(engine, period))
    resent = resent_returns(engine, period)
    if resent:
        names = {u.code: u.name for u in units()}
        lines = [f"{period}：{len(resent)}个单位报送了多份有效工作簿（以最后收到的为准）"]
        lines.extend(f"- [{names.get(r.unit_code or '', '未识别单位')}] {r.describe_zh()}" for r in resent)
        text += "\n" + "\n".join(lines)
    from pipeline.validation.verification import month_hits_text

    text += "\n" + month_hits_text(engine, period)
    # File names and cell values are the clerks': shown, never obeyed by the terminal.
    return "\n".join(one_line(line) for line in text.split("\n"))
