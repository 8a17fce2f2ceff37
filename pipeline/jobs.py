"""The two jobs of the pipeline, written once: a reporting month, and a year's consolidation.

The monthly DAG's task, the annual DAG's task, ``python -m pipeline run`` (through the DAGs or
``--direct``), ``ingest`` and ``consolidate`` all call :func:`process_month` and :func:`consolidate_year`
and nothing else, so they cannot drift apart.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from pipeline.config import Settings

log = logging.getLogger(__name__)


@dataclass
class MonthResult:
    """What a month's load did and what is left for the operator to chase."""

    period: str
    files: int
    loaded: int
    nil_returns: int
    quarantined: int
    refused_files: list[str]
    #: Workbooks whose errors no later return has fixed: file name → unit name.
    open_files: dict[str, str]
    #: Unit name → form sheet names still missing.
    missing: dict[str, list[str]]
    feedback: list[str]
    #: Verification hits (核实性审核) of the month no note has confirmed yet.
    unconfirmed_hits: int = 0
    data_docs: str = ""
    report_lines: list[str] = field(default_factory=list)
    summary_zh: str = ""

    @property
    def needs_attention(self) -> bool:
        """Refused returns to send back, units that have not reported, or values still 待核实."""
        return bool(self.open_files or self.missing or self.unconfirmed_hits)

    def attention_zh(self) -> str:
        """One line saying what to chase (empty for a clean month)."""
        parts = []
        if self.open_files:
            parts.append(f"{len(self.open_files)} 个工作簿被退回待改正")
        if self.missing:
            parts.append(f"{len(self.missing)} 个单位尚未报送")
        if self.unconfirmed_hits:
            parts.append(f"{self.unconfirmed_hits} 处数值待核实")
        return f"{self.period}：" + "，".join(parts) if parts else ""

    def as_dict(self) -> dict:
        return {
            "period": self.period, "year": int(self.period[:4]), "files": self.files, "loaded": self.loaded,
            "nil_returns": self.nil_returns, "quarantined": self.quarantined,
            "refused_files": self.refused_files, "open_files": self.open_files, "missing": self.missing,
            "unconfirmed_hits": self.unconfirmed_hits, "feedback": self.feedback,
            "needs_attention": self.needs_attention, "attention_zh": self.attention_zh(),
        }


def process_month(period: str, settings: Settings) -> MonthResult:
    """Load ``period`` (archive, validate, one transaction), render Data Docs, write the clerks' feedback,
    then log the closing summary in Chinese: refusals and missing units as warnings."""
    from pipeline.forms import FORMS
    from pipeline.ingest import rejudged_zh, run_month
    from pipeline.operations.completeness import still_missing
    from pipeline.operations.problems_report import open_problems, resent_returns
    from pipeline.outputs.feedback import write_month_feedback
    from pipeline.outputs.verification_report import write_hint_files
    from pipeline.periods import validate_period
    from pipeline.registry import units
    from pipeline.sanitise import one_line
    from pipeline.validation.validate import build_data_docs
    from pipeline.validation.verification import format_hits, stored_hits
    from pipeline.warehouse.connect import make_engine

    validate_period(period)
    engine = make_engine(settings.warehouse_url)
    report = run_month(period, settings, engine=engine)
    data_docs = build_data_docs(settings.data_docs)
    feedback = [str(p) for p in write_month_feedback(period, settings)]
    # This month's values are the history of the months re-judged: their 核实提示 follow the new verdicts.
    for other in report.rejudged:
        if other != period:
            feedback += [str(p) for p in write_hint_files(other, settings.feedback, engine)]
    names = {u.code: u.name for u in units()}
    opened = open_problems(engine, period)
    missing = {names.get(code, code): [FORMS[f].sheet if f in FORMS else f for f in forms]
               for code, forms in still_missing(engine, period).items()}
    resent = resent_returns(engine, period)
    with engine.connect() as conn:
        hits = stored_hits(conn, period=period)
    engine.dispose()

    lines = [f"{period} 报告期汇入完成：收到 {report.files} 个文件，载入 {report.loaded} 份报表"
             f"（其中零报表 {report.nil_returns} 份），退回 {report.quarantined} 份。"]
    log.info("%s", lines[0])
    for f in opened:
        unit = names.get(f.unit_code or "", "未识别单位")
        line = f"退回：{f.file_name}［{unit}］（{f.status}，SHA-256 {f.sha256[:12]}）"
        lines.append(line)
        log.warning("%s", one_line(line))
        for p in f.problems:
            detail = f"    {'错误' if p.severity == 'error' else '提示'}：{p.describe_zh()}"
            lines.append(detail)
            (log.warning if p.severity == "error" else log.info)("%s", one_line(detail))
    for name, reason in report.gone:
        line = f"未处理：“{name}”列出后已无法读取（{reason}）；文件放回收件箱后重新运行本月即可"
        lines.append(line)
        log.warning("%s", one_line(line))
    if report.withdrawn:
        line = ("已不在收件箱中的退回文件，其问题已关闭（不再列入问题清单和退回通知）："
                + "、".join(f"“{n}”" for n in report.withdrawn))
        lines.append(line)
        log.warning("%s", one_line(line))
    for r in resent:
        line = f"重复报送［{names.get(r.unit_code or '', '未识别单位')}］{r.describe_zh()}"
        lines.append(line)
        log.info("%s", one_line(line))
    if missing:
        line = f"尚未报送：{len(missing)} 个单位：" + "；".join(f"{u}（{'、'.join(fs)}）" for u, fs in missing.items())
        log.warning("%s", line)
    else:
        line = "所有单位均已报送。"
        log.info("%s", line)
    lines.append(line)
    if hits:
        for line in format_hits(period, hits, names).split("\n"):
            lines.append(line)
            log.warning("%s", one_line(line))
    if report.rejudged:
        lines.append(rejudged_zh(report.rejudged))
        log.warning("%s", lines[-1])
    for path in feedback:
        lines.append(f"已写出退回材料：{path}")
        log.info("%s", lines[-1])
    return MonthResult(
        period=period, files=report.files, loaded=report.loaded, nil_returns=report.nil_returns,
        quarantined=report.quarantined, refused_files=[n for n, _ in report.refused_files],
        open_files={f.file_name: names.get(f.unit_code or "", "未识别单位") for f in opened},
        missing=missing, feedback=feedback, unconfirmed_hits=sum(not h.confirmed for h in hits),
        data_docs=str(data_docs), report_lines=report.lines(),
        # File names and cell values are the clerks': shown, never obeyed by the terminal.
        summary_zh="\n".join(one_line(line) for line in lines),
    )


class EmptierFigures(RuntimeError):
    """A consolidation would replace a year's figures with emptier ones; nothing was replaced."""


def _accepted_returns(engine: sa.Engine, year: int) -> int:
    from pipeline.warehouse.schema import submission

    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(submission)
            .where(submission.c.period.between(f"{year:04d}-01", f"{year:04d}-12"),
                   submission.c.status != "quarantined")
        ).scalar_one()


def _file_figures(path: Path) -> dict[str, float]:
    """Figure code → value from a ``figures.csv`` the report authors already have (empty if none)."""
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8-sig") as fh:
        out = {}
        for row in csv.DictReader(fh):
            try:
                out[row.get("code", "")] = float(row.get("value") or 0)
            except ValueError:
                continue
        return out


def emptier_reasons(year: int, before: dict[str, float], before_units: set[str],
                    figures: list[dict], contributions: list[dict]) -> list[str]:
    """Why the new figures of ``year`` are emptier than those they would replace (empty: they are not)."""
    reasons = []
    after = {f["code"]: float(f["value"]) for f in figures}
    if any(before.values()) and not any(after.values()):
        reasons.append(f"{year}年原有 {sum(1 for v in before.values() if v)} 项非零指标，本次汇总全部为零")
    after_units = {c["unit_code"] for c in contributions if c["unit_code"] != "*" and c["value"]}
    lost = sorted(before_units - after_units)
    if lost:
        from pipeline.registry import units

        names = {u.code: u.name for u in units()}
        listed = "、".join(names.get(u, u) for u in lost)
        reasons.append(f"{year}年上次汇总计入的 {len(lost)} 个单位本次未计入：{listed}")
    return reasons


SOURCE_FILE = ".warehouse"


def warehouse_label(url: str) -> str:
    """The warehouse a figures folder was written from, without its password."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def consolidate_year(year: int, settings: Settings, *, unless_unchanged: bool = False,
                     accept_fewer: bool = False) -> dict:
    """Consolidate ``year`` (pipeline.annual), never silently replacing figures with emptier ones.

    A year nobody has an accepted return for is not consolidated (no folder ``out/<year>`` appears).
    Files written from another warehouse (``out/<year>/.warehouse`` names it) are not replaced.
    A consolidation that would drop the figures to zero, or lose units counted last time, raises
    EmptierFigures and leaves the warehouse's figures and the files as they were, unless
    ``accept_fewer`` (the operator knows, e.g. a unit's returns were withdrawn).
    """
    from pipeline import annual
    from pipeline.figures.consolidate import stored_contributions, stored_figures
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema

    folder = settings.out / str(year)
    source = folder / SOURCE_FILE
    here = warehouse_label(settings.warehouse_url)
    if source.is_file() and source.read_text(encoding="utf-8").strip() != here and not accept_fewer:
        raise EmptierFigures(
            f"{folder} 中的指标文件由另一个数据仓库（{source.read_text(encoding='utf-8').strip()}）汇总生成，"
            f"本次数据仓库为 {here}：拒绝覆盖。请检查 DISTRICT_DATA 与数据仓库设置；"
            "确属应当时，以 accept_fewer 重新汇总。")
    engine = make_engine(settings.warehouse_url)
    ensure_schema(engine)
    files = _file_figures(settings.out / str(year) / "figures.csv")
    stored = {f["code"]: float(f["value"]) for f in stored_figures(engine, year)}
    before = files or stored
    before_units = {c["unit_code"] for c in stored_contributions(engine, year) if c["unit_code"] != "*" and c["value"]}
    if not _accepted_returns(engine, year):
        engine.dispose()
        if any(before.values()) and not accept_fewer:
            raise EmptierFigures(
                f"{year}年在数据仓库 {settings.warehouse_url} 中没有任何已接收的报表，但已有非零指标"
                f"（{settings.out / str(year)}）：拒绝以空数据覆盖。请确认数据仓库是否正确。")
        log.warning("%s年没有任何已接收的报表：不汇总，不生成 %s", year, settings.out / str(year))
        return {"year": year, "skipped": "no accepted returns", "out": None}

    def guard(figures: list[dict], contributions: list[dict]) -> None:
        reasons = emptier_reasons(year, before, before_units, figures, contributions)
        if not reasons:
            return
        if accept_fewer:
            for reason in reasons:
                log.warning("%s（已按 accept_fewer 接受）", reason)
            return
        raise EmptierFigures("；".join(reasons) + "。拒绝替换原有指标和文件；确属应当时，以 accept_fewer 重新汇总。")

    try:
        result = annual.consolidate_year(year, settings, unless_unchanged=unless_unchanged, guard=guard)
    finally:
        engine.dispose()
    tmp = source.with_name(SOURCE_FILE + ".tmp")
    tmp.write_text(here + "\n", encoding="utf-8")
    tmp.replace(source)
    return result
