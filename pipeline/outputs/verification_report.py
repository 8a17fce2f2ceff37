"""Verification hits (核实性审核) where people read them: the clerk's 核实提示, the authors' figures, publish.

The hits themselves are found and stored by ``pipeline.validation.verification``; this module only reads them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline import atomic, sanitise
from pipeline.figures.definitions import LABELS_ZH
from pipeline.figures.provenance import all_provenance
from pipeline.forms import VERIFY_NOTE_LABEL
from pipeline.registry import units
from pipeline.validation.verification import OpenHit, stored_hits
from pipeline.warehouse.connect import reading
from pipeline.warehouse.schema import figure

HINT_NAME = "核实提示.xlsx"
#: A figure whose value changed by more than this share against last year is listed on the cover.
YOY_THRESHOLD = 0.3


def _unit_names() -> dict[str, str]:

    return {u.code: u.name for u in units()}


def write_hint_files(period: str, feedback_root: Path, engine: Engine) -> list[Path]:
    """``feedback/<period>/<unit>/核实提示.xlsx`` for every unit with open hits; stale ones removed."""
    from openpyxl import Workbook
    from openpyxl.styles import Font


    root = (feedback_root / period).resolve()
    if root.is_dir():
        for old in root.glob(f"*/{HINT_NAME}"):
            if old.is_file() and not old.is_symlink():
                old.unlink()
    with reading(engine) as conn:
        hits = [h for h in stored_hits(conn, period=period) if not h.confirmed]
    names = _unit_names()
    by_unit: dict[str, list[OpenHit]] = {}
    for h in hits:
        by_unit.setdefault(names.get(h.unit_code, h.unit_code), []).append(h)
    written = []
    for unit_name, unit_hits in sorted(by_unit.items()):
        target = (root / sanitise.file_component(unit_name, sanitise.UNIT_NAME_BYTES) / HINT_NAME).resolve()
        if not target.is_relative_to(root):
            raise ValueError(f"feedback path {target} escapes {root}")
        wb = Workbook()
        ws = wb.active
        ws.title = "核实提示"
        ws.append([sanitise.cell(
            f"{unit_name}：以下数据已计入统计，但与本单位以往数据或其他单位差异较大，请核实。数据有误的，请修改后重新报送；"
            f"数据无误的，请在该行“{VERIFY_NOTE_LABEL}”栏写明原因后重新报送。")])
        ws["A1"].font = Font(bold=True)
        ws.append(["文件", "工作表", "单元格", "列名", "本月填报", "提示"])
        for cell in ws[2]:
            cell.font = Font(bold=True)
        for h in unit_hits:
            ws.append([sanitise.cell(v) for v in (h.file_name, h.sheet, h.cell or f"第{h.excel_row}行", h.column_label,
                                               _plain(h.value), h.message_zh)])
        for col, width in zip("ABCDEF", (30, 14, 10, 20, 12, 90), strict=True):
            ws.column_dimensions[col].width = width
        atomic.save(target, wb.save)
        written.append(target)
    return written


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


# --- figures ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FigureFlag:
    """A figure that counts values still 待核实."""

    code: str
    hits: list[OpenHit]


def unconfirmed_by_figure(engine: Engine, year: int, provenance: dict | None = None) -> dict[str, list[OpenHit]]:
    """Figure code → the open hits among the cells it counts (matched by submission, row and column)."""

    with reading(engine) as conn:
        open_hits = [h for h in stored_hits(conn, year=year) if not h.confirmed]
    if not open_hits:
        return {}
    provenance = provenance if provenance is not None else all_provenance(engine, year)
    by_cell = {}
    for h in open_hits:
        by_cell.setdefault((h.submission_id, h.excel_row, h.column_label), []).append(h)
    out: dict[str, list[OpenHit]] = {}
    for code, cells in provenance.items():
        found = [h for c in cells if c.counted for h in by_cell.get((c.submission_id, c.excel_row, c.column_label), [])]
        if found:
            out[code] = list(dict.fromkeys(found))
    return out


def unconfirmed_text(flags: dict[str, list[OpenHit]]) -> str:
    """What ``figures`` and ``explain`` print under the figures: which include values still 待核实."""

    if not flags:
        return ""
    names = _unit_names()
    lines = [f"含待核实数据的指标 {len(flags)} 项（核实或确认前请勿引用，或在报告中说明）："]
    for code, hits in flags.items():
        lines.append(f"* {LABELS_ZH.get(code, code)}（{code}）：")
        lines.extend(f"    {names.get(h.unit_code, h.unit_code)} {h.period} {h.sheet}!{h.cell or h.excel_row}："
                     f"{h.message_zh}" for h in hits)
    return "\n".join(lines)


def year_on_year(conn: Connection, year: int, figures: Sequence[dict], threshold: float = YOY_THRESHOLD
                 ) -> list[tuple[str, float, float, float]]:
    """(code, last year, this year, change) of each figure that moved by more than ``threshold`` against the
    figure stored for the year before; figures without last year's value are left out."""

    last = dict(conn.execute(sa.select(figure.c.code, figure.c.value).where(figure.c.year == year - 1)).all())
    out = []
    for f in figures:
        before = last.get(f["code"])
        if before is None or not before:
            continue
        change = (f["value"] - before) / abs(before)
        if abs(change) > threshold:
            out.append((f["code"], before, f["value"], change))
    return out


def write_cover_checks(ws, engine: Engine, year: int, figures: Sequence[dict], provenance: dict | None) -> None:
    """Below the cover: figures including values still 待核实, and year-on-year changes to explain."""
    from openpyxl.styles import Alignment, Font


    flags = unconfirmed_by_figure(engine, year, provenance)
    with reading(engine) as conn:
        yoy = year_on_year(conn, year, figures)
    row = ws.max_row + 2
    ws.cell(row, 1, "待核实数据").font = Font(bold=True)
    if not flags:
        ws.cell(row, 2, "没有指标含待核实数据")
    for code, hits in flags.items():
        units = "、".join(sorted({f"{h.unit_code} {h.period} {h.sheet}!{h.cell or h.excel_row}" for h in hits}))
        text = f"{LABELS_ZH.get(code, code)}：含 {len(hits)} 处待核实数据（{units}）"
        ws.cell(row, 2, sanitise.cell(text)).alignment = Alignment(wrap_text=True, vertical="top")
        row += 1
    row += 1
    ws.cell(row, 1, "同比变化较大").font = Font(bold=True)
    if not yoy:
        ws.cell(row, 2, f"没有指标与上年相比变化超过{YOY_THRESHOLD:.0%}（或没有上年汇总指标）")
    for code, before, now, change in yoy:
        ws.cell(row, 2, sanitise.cell(
            f"{LABELS_ZH.get(code, code)}：上年 {_plain(before)}，本年 {_plain(now)}，{'增' if change > 0 else '减'}"
            f"{abs(change):.0%}，请在报告中说明原因")).alignment = Alignment(wrap_text=True, vertical="top")
        row += 1
