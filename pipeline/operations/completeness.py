"""Who has reported: every unit × month × form the registry expects, and whether it came on time.

Rules (docs/operator-guide.md, "Reading completeness", says the same to the operator):

- Expected: every form a unit owes in ``units.csv`` (``forms``), every month.
- A return is received when a valid (not quarantined) workbook for it arrived; its receipt time is
  the file's (``submission.received_at_utc``). Timeliness is judged by the *first* valid workbook:
  a correction sent after the deadline does not make an on-time return late, and a valid resend
  after the deadline of a return refused earlier is late.
- ``on_time``: first valid workbook by the deadline (8th of M+1, 06:00 DISTRICT_TZ, Asia/Shanghai by default);
  ``late``: after it (also for a 本月无 return); ``nil``: on time and the return in force is 本月无;
  ``refused``: only refused (quarantined) workbooks, none in force; ``missing``: nothing received and
  the deadline has passed; ``pending``: nothing received yet, the month was run before its deadline.
- Rows exist for the months that have been run: ``run_month`` refreshes its month, so a month run
  with no inbox folder at all is all ``missing``. A month never run is "not processed" (``—``),
  whatever its deadline; a month with loaded workbooks but no rows (loaded before this table
  existed) is computed on the fly, and a stored ``pending`` whose deadline has passed reads as ``missing``.
"""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline import config
from pipeline.config import Settings
from pipeline.forms import FORMS
from pipeline.periods import deadline, months_of, utc_now, validate_period
from pipeline.registry import units
from pipeline.warehouse.connect import reading, writing, xact_lock
from pipeline.warehouse.load import insert_rows
from pipeline.warehouse.schema import completeness, return_file, submission

log = logging.getLogger(__name__)

#: Best to worst (on_time and nil are equally good; see ``combine``).
STATUSES = ("on_time", "nil", "pending", "late", "refused", "missing")
NOT_RUN = "not_run"
SYMBOLS = {
    "on_time": "✓", "late": "迟", "nil": "无", "missing": "✗", "refused": "退", "pending": "待", NOT_RUN: "—",
}
STATUS_LABELS_ZH = {
    "on_time": "按时报送",
    "late": "逾期报送（首次有效报送晚于截止时间）",
    "nil": "按时报送，本月无数据（本月无）",
    "missing": "未报送",
    "refused": "已报送但未通过校验，尚未重报",
    "pending": "尚未报送，未到截止时间",
    NOT_RUN: "该月尚未汇入",
}
COMBINED_ZH = "全部报表：每格显示该单位当月各报表中最差的问题；没有问题时显示✓（各报表均为本月无时显示“无”）"
#: Cell fills of the 报送情况 sheet (RGB).
FILLS = {
    "on_time": "C6EFCE", "nil": "DDEBF7", "pending": "EDEDED", "late": "FFEB9C", "refused": "F8CBAD",
    "missing": "FF9999", NOT_RUN: "FFFFFF",
}


def deadline_rule(settings: Settings | None = None) -> tuple[int, int, str]:
    """(day of M+1, hour, time zone) of the deadline, from the settings (``config.settings()`` if none)."""
    settings = settings or config.settings()
    return settings.deadline_day, settings.deadline_hour, settings.timezone


def combine(statuses: list[str]) -> str | None:
    """A unit's status over its forms: the worst problem if any, else ``nil`` when every form is nil, else on time."""
    if not statuses:
        return None
    worst = max(statuses, key=STATUSES.index)
    if worst == "nil" and "on_time" in statuses:
        return "on_time"
    return worst


def due_utc(period: str, settings: Settings | None = None) -> dt.datetime:
    """Deadline of ``period`` as naive UTC, comparable with ``received_at_utc``."""
    day, hour, tz = deadline_rule(settings)
    return deadline(period, day=day, hour=hour, tz=tz).astimezone(dt.UTC).replace(tzinfo=None)



def compute_month(conn: Connection, period: str, due: dt.datetime, now: dt.datetime) -> list[dict]:
    """The completeness rows of ``period`` from its submissions (read only)."""
    received: dict[tuple[str, str], list] = defaultdict(list)
    for s in conn.execute(
        sa.select(submission.c.submission_id, submission.c.unit_code, submission.c.form_code,
                  submission.c.status, submission.c.is_nil, submission.c.received_at_utc, submission.c.file_name)
        .where(submission.c.period == period, submission.c.unit_code.is_not(None),
               # A refused workbook taken out of the inbox (withdrawn) no longer counts as received.
               submission.c.file_id.not_in(sa.select(return_file.c.file_id).where(
                   return_file.c.period == period, return_file.c.status == "withdrawn")))
        .order_by(submission.c.received_at_utc, submission.c.file_name, submission.c.submission_id)
    ):
        received[(s.unit_code, s.form_code)].append(s)
    rows = []
    for unit in units():
        for form_code in unit.forms:
            got = received.get((unit.code, form_code), [])
            valid = [s for s in got if s.status != "quarantined"]
            loaded = [s for s in valid if s.status == "loaded"]
            in_force = loaded[-1] if loaded else (valid[-1] if valid else None)
            if in_force is not None:
                status = "late" if valid[0].received_at_utc > due else ("nil" if in_force.is_nil else "on_time")
                shown = in_force
            elif got:
                status, shown = "refused", got[-1]
            else:
                status, shown = ("pending" if now <= due else "missing"), None
            rows.append({
                "period": period, "unit_code": unit.code, "form_code": form_code, "status": status,
                "due_utc": due,
                "first_received_utc": got[0].received_at_utc if got else None,
                "first_valid_utc": valid[0].received_at_utc if valid else None,
                "in_force_received_utc": in_force.received_at_utc if in_force is not None else None,
                "submission_id": in_force.submission_id if in_force is not None else None,
                "file_name": shown.file_name if shown is not None else None,
                "is_nil": bool(in_force.is_nil) if in_force is not None else None,
                "workbooks": len(got),
            })
    return rows


def refresh_completeness(
    engine: Engine, period: str, settings: Settings | None = None, *, now: dt.datetime | None = None
) -> list[dict]:
    """Recompute and store ``period``'s rows (replacing them); idempotent. ``now``: naive UTC."""
    validate_period(period)
    due = due_utc(period, settings)
    with writing(engine) as conn:
        xact_lock(conn, f"district-month-{period}")
        rows = compute_month(conn, period, due, now or utc_now())
        conn.execute(completeness.delete().where(completeness.c.period == period))
        insert_rows(conn, completeness, rows)
    counts = defaultdict(int)
    for r in rows:
        counts[r["status"]] += 1
    log.info("completeness %s: %s", period, ", ".join(f"{s} {counts[s]}" for s in STATUSES if counts[s]))
    return rows


@dataclass
class YearCompleteness:
    """Every expected return of a year, by unit × month × form; months not run have no rows."""

    year: int
    rows: list[dict]
    processed: list[str]
    #: The deadline in words, e.g. 报告期次月8日06:00（Asia/Shanghai）.
    deadline_zh: str = ""
    _index: dict[tuple[str, str, str], dict] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {(r["unit_code"], r["period"], r["form_code"]): r for r in self.rows}

    @property
    def months(self) -> list[str]:
        return months_of(self.year)

    def status(self, unit_code: str, period: str, form_code: str | None = None) -> str | None:
        """A form's status, or the worst over the unit's forms; ``not_run`` for months not run.

        None when the unit does not owe ``form_code``.
        """
        if period not in self.processed:
            owes = form_code is None or form_code in _owed(unit_code)
            return NOT_RUN if owes else None
        if form_code is not None:
            row = self._index.get((unit_code, period, form_code))
            return row["status"] if row else None
        found = [self._index[k]["status"] for f in _owed(unit_code) if (k := (unit_code, period, f)) in self._index]
        return combine(found)

    def row(self, unit_code: str, period: str, form_code: str) -> dict | None:
        return self._index.get((unit_code, period, form_code))


def _owed(unit_code: str) -> tuple[str, ...]:
    return next((u.forms for u in units() if u.code == unit_code), ())


def year_completeness(
    engine: Engine | Connection, year: int, settings: Settings | None = None, *, now: dt.datetime | None = None
) -> YearCompleteness:
    """Stored rows of ``year``'s months; months with workbooks but no rows are computed, not stored."""
    months = months_of(year)
    with reading(engine) as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            sa.select(completeness).where(completeness.c.period.between(months[0], months[-1]))
        )]
        # A month run before its deadline and not since: what was pending then is missing now.
        current = now or utc_now()
        for r in rows:
            if r["status"] == "pending" and current > r["due_utc"]:
                r["status"] = "missing"
        stored = {r["period"] for r in rows}
        with_files = set(conn.execute(
            sa.select(return_file.c.period).distinct().where(return_file.c.period.between(months[0], months[-1]))
        ).scalars())
        for period in sorted(with_files - stored):
            rows.extend(compute_month(conn, period, due_utc(period, settings), current))
    day, hour, tz = deadline_rule(settings)
    return YearCompleteness(year=year, rows=rows, processed=sorted(stored | with_files),
                            deadline_zh=f"报告期次月{day}日{hour:02d}:00（{tz}）")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int, *, right: bool = False) -> str:
    space = " " * max(0, width - _width(text))
    return space + text if right else text + space


def legend_zh(statuses: tuple[str, ...] = (*STATUSES, NOT_RUN)) -> str:
    return "  ".join(f"{SYMBOLS[s]} {STATUS_LABELS_ZH[s]}" for s in statuses)


def format_matrix(yc: YearCompleteness, form_code: str | None = None) -> str:
    """The unit × month matrix for a terminal: one symbol per cell, Chinese unit names, a legend."""
    what = f"报表“{FORMS[form_code].sheet}”" if form_code else "全部报表"
    owing = [u for u in units() if form_code is None or form_code in u.forms]
    name_w = max(_width(u.name) for u in owing) + 2
    cell_w = 5
    lines = [f"{yc.year}年各单位月报报送情况（{what}）", ""]
    lines.append(_pad("单位", name_w) + "".join(_pad(f"{int(p[5:])}月", cell_w, right=True) for p in yc.months))
    for unit in owing:
        cells = [SYMBOLS.get(yc.status(unit.code, p, form_code) or "", "") for p in yc.months]
        lines.append(_pad(unit.name, name_w) + "".join(_pad(c, cell_w, right=True) for c in cells))
    missing = []
    for p in yc.months:
        n = sum(1 for u in owing if yc.status(u.code, p, form_code) == "missing")
        missing.append(str(n) if p in yc.processed else "")
    lines.append(_pad("未报单位数", name_w) + "".join(_pad(c, cell_w, right=True) for c in missing))
    if yc.deadline_zh:
        lines.append(f"截止时间：{yc.deadline_zh}")
    if form_code is None:
        lines.append(COMBINED_ZH)
    lines += ["", "图例：" + legend_zh()]
    return "\n".join(line.rstrip() for line in lines)


def still_missing(engine: Engine, period: str) -> dict[str, list[str]]:
    """Unit code → forms with status ``missing`` in ``period``'s stored rows, in registry order."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(completeness.c.unit_code, completeness.c.form_code)
            .where(completeness.c.period == period, completeness.c.status == "missing")
        ).all()
    got = {(unit, form) for unit, form in rows}
    missing: dict[str, list[str]] = {}
    for unit in units():
        forms = [f for f in unit.forms if (unit.code, f) in got]
        if forms:
            missing[unit.code] = forms
    return missing



def write_sheet(wb, yc: YearCompleteness, title: str = "报送情况", index: int | None = 1) -> None:
    """Add the colour-coded unit × month matrix (all forms, then one block per form) to a workbook."""
    from copy import copy

    from openpyxl.cell.cell import Cell
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    center = Alignment(horizontal="center", vertical="center")
    fills = {s: PatternFill("solid", fgColor=c) for s, c in FILLS.items()}
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    ws = wb.create_sheet(title, index)
    ws.append([f"{yc.year}年各单位月报报送情况"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([f"截止时间：{yc.deadline_zh}。截止前收到首份有效报表为按时。{COMBINED_ZH}；下方按报表分列。"])
    ws.append(["图例"])
    ws.cell(ws.max_row, 1).font = Font(bold=True)
    for status in (*STATUSES, NOT_RUN):
        ws.append([SYMBOLS[status], STATUS_LABELS_ZH[status]])
        cell = ws.cell(ws.max_row, 1)
        cell.fill, cell.alignment, cell.border = fills[status], center, border

    # openpyxl hashes every style object assigned to a cell: for a city (300 units, 12 blocks) that was
    # most of this sheet's time. Each cell style is built once, on a cell outside the sheet, and copied.
    def style(**attributes: object) -> object:
        model = Cell(ws)
        for name, value in attributes.items():
            setattr(model, name, value)
        return model._style

    name_style = style(border=border)
    month_styles = {s: style(alignment=center, border=border, **({"fill": fills[s]} if s else {}))
                    for s in (None, *STATUSES, NOT_RUN)}

    def block(heading: str, form_code: str | None) -> None:
        ws.append([])
        ws.append([heading])
        # ws.max_row looks at every cell: read once, then counted.
        r = ws.max_row
        ws.cell(r, 1).font = Font(bold=True)
        ws.append(["单位代码", "单位名称", *(f"{int(p[5:])}月" for p in yc.months)])
        r += 1
        for cell in ws[r]:
            cell.font, cell.fill, cell.border, cell.alignment = Font(bold=True), head_fill, border, center
        for unit in units():
            if form_code is not None and form_code not in unit.forms:
                continue
            statuses = [yc.status(unit.code, period, form_code) for period in yc.months]
            ws.append([unit.code, unit.name, *(SYMBOLS[s] if s else "" for s in statuses)])
            r += 1
            for c in (1, 2):
                ws.cell(r, c)._style = copy(name_style)
            for j, status in enumerate(statuses):
                ws.cell(r, 3 + j)._style = copy(month_styles[status])

    block("全部报表", None)
    for form in FORMS.values():
        block(f"报表：{form.sheet}", form.code)
    ws.column_dimensions["A"].width = 10
    ws.column_dimensions["B"].width = 34
    for j in range(len(yc.months)):
        ws.column_dimensions[get_column_letter(3 + j)].width = 6
    ws.freeze_panes = "C1"
