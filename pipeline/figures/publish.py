"""Published versions of a year's figures, and what later corrections would change in them.

``publish`` freezes the ``figure`` rows of a year as version N, with who, when, and every
submission in force that feeds them. A correction loaded afterwards changes the warehouse and, at
the next consolidation, the ``figure`` table, never a published version. ``compare`` lists the
published figures the returns in force now would change (old, new) and, for each, the units'
returns behind it: the submissions added or superseded since publication, of the forms feeding it.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline import sanitise
from pipeline.figures.consolidate import CONSOLIDATORS
from pipeline.figures.definitions import FIGURE_DEFS, LABELS_ZH, SOURCE_FORM, YEARS_BACK, display, figure_specs
from pipeline.forms import FORMS
from pipeline.periods import local_time, utc_now
from pipeline.registry import units
from pipeline.validation.verification import OpenHit, stored_hits
from pipeline.warehouse.connect import reading
from pipeline.warehouse.schema import figure, publication, publication_submission, published_figure, submission

log = logging.getLogger(__name__)

_SUB_COLUMNS = ("submission_id", "unit_code", "form_code", "period", "sha256", "file_name", "received_at_utc")


class PublishError(RuntimeError):
    """Publishing refused; the message (Chinese) tells the operator what to do."""


@dataclass(frozen=True)
class Publication:
    year: int
    version: int
    published_by: str
    published_at_utc: dt.datetime
    note: str | None
    same_as_version: int | None
    figures: int
    submissions: int


def feeding_submissions(conn: Connection, year: int) -> list[dict]:
    """The submissions in force that ``year``'s figures are consolidated from.

    The year's months and, for forms whose figures look back (``figures.YEARS_BACK``), the earlier
    years they read.
    """
    first, last = f"{year:04d}-01", f"{year:04d}-12"
    reads = [submission.c.period.between(first, last)]
    reads += [sa.and_(submission.c.form_code == form, submission.c.period.between(f"{year - back:04d}-01", last))
              for form, back in sorted(YEARS_BACK.items())]
    rows = conn.execute(
        sa.select(*(submission.c[c] for c in _SUB_COLUMNS))
        .where(submission.c.status == "loaded", sa.or_(*reads))
        .order_by(submission.c.submission_id)
    )
    return [dict(r._mapping) for r in rows]


def current_figures(conn: Connection, year: int) -> list[dict]:
    """What consolidating ``year`` now would give (code, label, value, unit, display); stores nothing."""
    specs = figure_specs()
    out = []
    for fn in CONSOLIDATORS.values():
        for result in fn(conn, year):
            spec = specs[result.code]
            out.append({
                "code": result.code, "label_zh": LABELS_ZH[result.code], "value": float(result.value),
                "unit_zh": spec.unit, "display_zh": display(result.value, spec.unit, spec.approx),
            })
    return out


def default_publisher() -> str:
    """The operating-system user, for ``publish --by``'s default."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - containers may run as a uid with no passwd entry
        return "unknown"



def _begin(engine: Engine):
    conn = engine.connect()
    conn.execution_options(sqlite_immediate=True)  # SQLite: the write lock from the start (``warehouse.writing``)
    if engine.dialect.name == "postgresql":
        # One snapshot: the figures checked and the submissions recorded are the same state.
        conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


def publish(
    engine: Engine, year: int, *, by: str | None = None, note: str | None = None, now: dt.datetime | None = None,
    accept_unconfirmed: bool = False,
) -> Publication:
    """Freeze ``year``'s stored figures as the next version; refuses when they are not current, or while
    values are still 待核实 unless ``accept_unconfirmed`` (with a ``note``)."""
    with _begin(engine) as conn, conn.begin():
        unconfirmed = open_hits_for_publish(conn, year)
        if unconfirmed and not (accept_unconfirmed and (note or "").strip()):
            raise PublishError(publish_refusal(unconfirmed, year))
        stored = [dict(r._mapping) for r in conn.execute(sa.select(figure).where(figure.c.year == year))]
        if not stored:
            raise PublishError(f"{year}年还没有汇总指标：请先运行 python -m pipeline consolidate --year {year}")
        fresh = {f["code"]: f["value"] for f in current_figures(conn, year)}
        stale = [f for f in stored if fresh.get(f["code"]) != f["value"]]
        if stale or set(fresh) != {f["code"] for f in stored}:
            shown = "；".join(f"{f['code']} 已存 {_number(f['value'])}，按现行报表为 {_number(fresh.get(f['code']))}"
                            for f in stale)
            raise PublishError(
                f"{year}年已存的指标不是按现行报表汇总的结果（{shown or '指标项目不一致'}）："
                f"请先运行 python -m pipeline consolidate --year {year}，核对变化后再发布"
            )
        subs = feeding_submissions(conn, year)
        previous = conn.execute(
            sa.select(sa.func.max(publication.c.version)).where(publication.c.year == year)
        ).scalar()
        version = (previous or 0) + 1
        same_as = None
        if previous:
            old_values = dict(conn.execute(
                sa.select(published_figure.c.code, published_figure.c.value)
                .where(published_figure.c.year == year, published_figure.c.version == previous)
            ).all())
            old_subs = set(conn.execute(
                sa.select(publication_submission.c.submission_id)
                .where(publication_submission.c.year == year, publication_submission.c.version == previous)
            ).scalars())
            if old_values == {f["code"]: f["value"] for f in stored} and old_subs == {s["submission_id"] for s in subs}:
                same_as = previous
        pub = Publication(
            year=year, version=version, published_by=by or default_publisher(),
            published_at_utc=now or utc_now(), note=note, same_as_version=same_as,
            figures=len(stored), submissions=len(subs),
        )
        try:
            conn.execute(publication.insert().values(
                year=year, version=version, published_by=pub.published_by,
                published_at_utc=pub.published_at_utc, note=note, same_as_version=same_as,
            ))
        except sa.exc.IntegrityError as exc:
            raise PublishError(f"{year}年第{version}版刚由另一次发布写入，请重新运行发布") from exc
        conn.execute(published_figure.insert(), [{**f, "version": version} for f in stored])
        if subs:
            conn.execute(publication_submission.insert(), [{"year": year, "version": version, **s} for s in subs])
    log.info("published %s version %s by %s: %s figures, %s submissions%s", year, version, pub.published_by,
             pub.figures, pub.submissions, f" (same as version {same_as})" if same_as else "")
    return pub


def publications(engine: Engine, year: int) -> list[dict]:
    """Every published version of ``year``, oldest first."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(publication).where(publication.c.year == year).order_by(publication.c.version)
        )]


def published_figures(engine: Engine, year: int, version: int) -> list[dict]:
    """The figures of a published version, in report order (the same keys as ``figure`` plus version)."""
    order = list(figure_specs())
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            sa.select(published_figure).where(published_figure.c.year == year, published_figure.c.version == version)
        )]
    return sorted(rows, key=lambda r: order.index(r["code"]) if r["code"] in order else len(order))


@dataclass
class SubmissionChange:
    """What changed since publication in one unit's returns of one form."""

    unit_code: str | None
    form_code: str
    #: Submissions in force now that were not at publication (corrections, late returns).
    added: list[dict] = field(default_factory=list)
    #: Submissions in force at publication that are not any more.
    superseded: list[dict] = field(default_factory=list)

    @property
    def unit_name(self) -> str:
        names = {u.code: u.name for u in units()}
        return names.get(self.unit_code or "", self.unit_code or "未识别单位")

    @property
    def periods(self) -> list[str]:
        return sorted({s["period"] for s in (*self.added, *self.superseded)})

    def describe_zh(self) -> str:
        """``区人力资源和社会保障局 · 执法培训 · 2020-12：“新.xlsx”取代“旧.xlsx”``, one clause per month."""
        parts = []
        for period in self.periods:
            new = [f"“{s['file_name']}”" for s in self.added if s["period"] == period]
            old = [f"“{s['file_name']}”" for s in self.superseded if s["period"] == period]
            if new and old:
                parts.append(f"{period}：{'、'.join(new)}取代{'、'.join(old)}")
            elif new:
                parts.append(f"{period}：新增{'、'.join(new)}")
            else:
                parts.append(f"{period}：{'、'.join(old)}不再有效")
        return f"{self.unit_name} · {FORMS[self.form_code].sheet if self.form_code in FORMS else self.form_code} · " \
            + "；".join(parts)

    def describe(self) -> str:
        """The same for a log line: unit code and name, form code, files."""
        parts = []
        for period in self.periods:
            new = ", ".join(s["file_name"] for s in self.added if s["period"] == period) or "-"
            old = ", ".join(s["file_name"] for s in self.superseded if s["period"] == period) or "-"
            parts.append(f"{period}: {new} replaces {old}")
        return f"{self.unit_code} {self.unit_name} {self.form_code} " + "; ".join(parts)


@dataclass
class FigureChange:
    code: str
    label_zh: str
    unit_zh: str
    old_value: float | None
    old_display: str | None
    new_value: float | None
    new_display: str | None
    causes: list[SubmissionChange]

    @property
    def delta(self) -> float | None:
        if self.old_value is None or self.new_value is None:
            return None
        return self.new_value - self.old_value


@dataclass
class Comparison:
    """Published version ``version`` of ``year`` against the figures the returns in force give now."""

    year: int
    version: int
    published_at_utc: dt.datetime
    published_by: str
    note: str | None
    figure_changes: list[FigureChange]
    #: Every unit × form whose returns in force differ from those at publication.
    submission_changes: list[SubmissionChange]

    @property
    def unexplained(self) -> list[SubmissionChange]:
        """Returns that changed without changing any published figure."""
        used = {id(c) for f in self.figure_changes for c in f.causes}
        return [c for c in self.submission_changes if id(c) not in used]


def _feeding_forms(code: str) -> set[str]:
    """The form a figure is consolidated from; every form when unknown (a figure no longer defined)."""
    if code in FIGURE_DEFS:
        return {FIGURE_DEFS[code].form}
    spec = figure_specs().get(code)
    form = SOURCE_FORM.get(spec.source) if spec else None
    return {form} if form else set(FORMS)


def compare(
    engine: Engine | Connection, year: int, *, figures: list[dict] | None = None, version: int | None = None
) -> Comparison | None:
    """Compare a published version (default the latest) with ``figures`` (default: consolidated now).

    None when ``year`` has no published version.
    """
    with reading(engine) as conn:
        query = sa.select(publication).where(publication.c.year == year)
        query = query.where(publication.c.version == version) if version else query.order_by(
            publication.c.version.desc()).limit(1)
        pub = conn.execute(query).first()
        if pub is None:
            return None
        published = {r.code: r for r in conn.execute(
            sa.select(published_figure).where(published_figure.c.year == year,
                                              published_figure.c.version == pub.version)
        )}
        then = {r.submission_id: dict(r._mapping) for r in conn.execute(
            sa.select(*(publication_submission.c[c] for c in _SUB_COLUMNS))
            .where(publication_submission.c.year == year, publication_submission.c.version == pub.version)
        )}
        now = {s["submission_id"]: s for s in feeding_submissions(conn, year)}
        current = {f["code"]: f for f in (figures if figures is not None else current_figures(conn, year))}
    grouped: dict[tuple[str | None, str], SubmissionChange] = {}
    for sid in sorted(set(now) ^ set(then)):
        s = now.get(sid) or then[sid]
        change = grouped.setdefault((s["unit_code"], s["form_code"]), SubmissionChange(s["unit_code"], s["form_code"]))
        (change.added if sid in now else change.superseded).append(s)
    unit_order = {u.code: i for i, u in enumerate(units())}
    sub_changes = sorted(grouped.values(), key=lambda c: (unit_order.get(c.unit_code or "", 999), c.form_code))
    order = list(figure_specs())
    changes = []
    for code in sorted(set(published) | set(current), key=lambda c: order.index(c) if c in order else len(order)):
        old, new = published.get(code), current.get(code)
        if old is not None and new is not None and float(old.value) == float(new["value"]):
            continue
        feeding = _feeding_forms(code)
        changes.append(FigureChange(
            code=code, label_zh=(new or {}).get("label_zh") or old.label_zh,
            unit_zh=(new or {}).get("unit_zh") or old.unit_zh,
            old_value=float(old.value) if old is not None else None,
            old_display=old.display_zh if old is not None else None,
            new_value=float(new["value"]) if new is not None else None,
            new_display=new["display_zh"] if new is not None else None,
            causes=[c for c in sub_changes if c.form_code in feeding],
        ))
    return Comparison(
        year=year, version=pub.version, published_at_utc=pub.published_at_utc, published_by=pub.published_by,
        note=pub.note, figure_changes=changes, submission_changes=sub_changes,
    )


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{int(value)}" if float(value).is_integer() else f"{value:g}"


def _signed(delta: float | None) -> str:
    if delta is None:
        return ""
    return ("+" if delta > 0 else "") + _number(delta)


def heading_zh(c: Comparison) -> str:
    note = f"，备注：{c.note}" if c.note else ""
    when = local_time(c.published_at_utc)
    return f"{c.year}年指标与已发布第{c.version}版（{when}，发布人 {c.published_by}{note}）比较"


def format_comparison(c: Comparison) -> str:
    """The comparison for the operator's terminal (Chinese)."""
    lines = [heading_zh(c) + "："]
    if not c.figure_changes:
        lines.append(f"  已发布的指标没有变化（与第{c.version}版相同）。")
    else:
        lines.append(f"  有 {len(c.figure_changes)} 项已发布指标将改变：")
        for f in c.figure_changes:
            lines.append(f"  - {f.label_zh}（{f.code}）：已发布 {f.old_display or '—'}（{_number(f.old_value)}）"
                         f" → 现为 {f.new_display or '—'}（{_number(f.new_value)}）"
                         + (f"，变化 {_signed(f.delta)}" if f.delta is not None else ""))
            if f.causes:
                lines.extend(f"      原因：{cause.describe_zh()}" for cause in f.causes)
            else:
                lines.append("      原因：报送的报表没有变化（汇总口径或单位名录变化）")
    if c.unexplained:
        lines.append("  其他报表变化（不影响已发布指标）：")
        lines.extend(f"  - {cause.describe_zh()}" for cause in c.unexplained)
    if c.figure_changes:
        lines.append(f"  已发布的第{c.version}版保持不变；如需对外使用新数值，请运行 "
                     f"python -m pipeline publish --year {c.year} 发布新版本。")
    return "\n".join(lines)


def log_comparison(c: Comparison) -> None:
    """Log the comparison: one warning per published figure that would change, with its causes."""
    if not c.figure_changes:
        log.info("%s: figures match published version %s", c.year, c.version)
    for f in c.figure_changes:
        causes = " | ".join(cause.describe() for cause in f.causes) or "no return changed (rules or registry)"
        log.warning("%s %s: published version %s has %s, now %s; caused by %s",
                    c.year, f.code, c.version, _number(f.old_value), _number(f.new_value), causes)
    for cause in c.unexplained:
        log.info("%s: changed since version %s without changing a figure: %s", c.year, c.version, cause.describe())


def write_changes_sheet(wb, c: Comparison, title: str = "与已发布版本比较", index: int | None = 1) -> None:
    """Add the comparison as a sheet: one row per published figure that would change."""
    from openpyxl.styles import Alignment, Font, PatternFill

    ws = wb.create_sheet(title, index)
    ws.append([heading_zh(c)])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["指标代码", "指标", "已发布数值", "已发布表述", "现值", "现表述", "变化",
               "原因（单位 · 报表 · 报告期：文件）"])
    for cell in ws[2]:
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    changed = PatternFill("solid", fgColor="FFEB9C")
    wrap = Alignment(wrap_text=True, vertical="top")
    if not c.figure_changes:
        ws.append([f"已发布的指标没有变化（与第{c.version}版相同）"])
    for f in c.figure_changes:
        causes = "\n".join(cause.describe_zh() for cause in f.causes) or "报送的报表没有变化（汇总口径或单位名录变化）"
        ws.append([f.code, f.label_zh, f.old_value, f.old_display, f.new_value, f.new_display,
                   f.delta, sanitise.cell(causes)])
        for cell in ws[ws.max_row]:
            cell.alignment = wrap
        ws.cell(ws.max_row, 5).fill = changed
    if c.unexplained:
        ws.append([])
        ws.append(["其他报表变化（不影响已发布指标）"])
        ws.cell(ws.max_row, 1).font = Font(bold=True)
        for cause in c.unexplained:
            ws.append([sanitise.cell(cause.describe_zh())])
    ws.append([])
    ws.append([f"已发布的第{c.version}版保持不变；"
               f"新数值需经 python -m pipeline publish --year {c.year} 发布为新版本。"])
    for col, width in zip("ABCDEFGH", (22, 28, 10, 14, 10, 14, 8, 80), strict=True):
        ws.column_dimensions[col].width = width


def open_hits_for_publish(conn: Connection, year: int) -> list[OpenHit]:
    return [h for h in stored_hits(conn, year=year) if not h.confirmed]


def publish_refusal(hits: Sequence[OpenHit], year: int) -> str:
    names = {u.code: u.name for u in units()}
    shown = "；".join(f"{names.get(h.unit_code, h.unit_code)} {h.period} {h.sheet}!{h.cell or h.excel_row}"
                     for h in hits[:10])
    more = f"等 {len(hits)} 处" if len(hits) > 10 else f"共 {len(hits)} 处"
    return (f"{year}年还有待核实数据（{shown}{more}）：请先核实确认（python -m pipeline confirm …），"
            f"或加 --accept-unconfirmed --note 说明 发布")
