"""Where a published figure comes from: every contributing cell, down to the workbook and address.

The rows are the ones ``pipeline.figures.definitions.FIGURE_DEFS`` defines for the figure (the same rows its
consolidation aggregates), joined to their submission (unit, file, archived SHA-256) and to the
column map stored at load time (``submission_column``), which turns an Excel row into a cell address.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.figures.definitions import FIGURE_DEFS, LABELS_ZH
from pipeline.forms import FORMS
from pipeline.registry import units
from pipeline.warehouse.connect import reading
from pipeline.warehouse.schema import submission, submission_column


@dataclass(frozen=True)
class SourceCell:
    """One cell of one return that a figure counts (or, for transparency, deliberately does not)."""

    code: str
    unit_code: str
    unit_name: str
    period: str
    submission_id: str
    file_name: str
    sha256: str
    sheet: str
    excel_row: int
    cell: str | None
    column_label: str
    value: str | None
    #: What the cell adds to the figure (before scaling; rates: to the numerator).
    counted: float
    #: Rates: what the cell adds to the denominator.
    base: float | None
    note: str | None

    @property
    def location(self) -> str:
        """``行政检查!D7``; the sheet and Excel row when the column map is missing (older loads)."""
        return f"{self.sheet}!{self.cell}" if self.cell else f"{self.sheet}!第{self.excel_row}行"


def provenance(conn: Connection, code: str, year: int) -> list[SourceCell]:
    """The cells behind figure ``code`` of ``year``, by unit, month and row."""
    fdef = FIGURE_DEFS[code]
    labels = FORMS[fdef.form].labels
    names = {u.code: u.name for u in units()}
    order = {u.code: i for i, u in enumerate(units())}
    rows = fdef.rows(year).subquery()
    query = (
        sa.select(rows, submission.c.file_name, submission.c.sha256, submission_column.c.column_letter)
        .join(submission, submission.c.submission_id == rows.c.submission_id)
        .outerjoin(submission_column, sa.and_(
            submission_column.c.submission_id == rows.c.submission_id,
            submission_column.c.column_code == rows.c.column_code,
        ))
        .order_by(rows.c.unit_code, rows.c.period, rows.c.excel_row, rows.c.column_code)
    )
    out = []
    for r in conn.execute(query).mappings():
        letter = r["column_letter"]
        out.append(SourceCell(
            code=code, unit_code=r["unit_code"], unit_name=names.get(r["unit_code"], r["unit_code"]),
            period=r["period"], submission_id=r["submission_id"], file_name=r["file_name"], sha256=r["sha256"],
            sheet=r["sheet"], excel_row=r["excel_row"], cell=f"{letter}{r['excel_row']}" if letter else None,
            column_label=labels.get(r["column_code"], r["column_code"]), value=r["cell_value"],
            counted=float(r["counted"] or 0), base=None if r["base"] is None else float(r["base"]),
            note=r["note"],
        ))
    # Units in registry order, as every other list of units the bureau reads.
    return sorted(out, key=lambda c: (order.get(c.unit_code, len(order)), c.period, c.excel_row))


HEADERS = ("单位", "报告期", "单元格", "栏目", "填报值", "计入", "说明", "SHA-256", "文件", "报送编号")


def cell_rows(cells: list[SourceCell]) -> list[tuple]:
    """The table ``explain`` prints and ``figures.xlsx`` lists, one tuple per cell (``HEADERS``)."""
    out = []
    for c in cells:
        counted: object = _number(c.counted)
        if c.base is not None:
            # Rates: a cell adds to the numerator, the denominator, or (出庭/开庭) both.
            counted = (f"分子+{counted}" if not c.base else f"分母+{_number(c.base)}" if not c.counted
                       else f"{counted}/{_number(c.base)}")
        out.append((
            c.unit_name, c.period, c.location, c.column_label, c.value or "", counted, c.note or "",
            c.sha256, c.file_name, c.submission_id,
        ))
    return out


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def format_provenance(code: str, year: int, figure_row: dict | None, cells: list[SourceCell]) -> str:
    """``explain``'s output: the figure, then one line per contributing cell (full SHA-256)."""
    label = LABELS_ZH.get(code, code)
    shown = figure_row["display_zh"] if figure_row else "（尚未汇总）"
    lines = [
        f"{year}年 {label}（{code}）：{shown}",
        f"来源单元格 {len(cells)} 个；“计入”为该单元格计入指标的数值。",
        "",
    ]
    table = [HEADERS[:8]] + [tuple(str(v) for v in row[:8]) for row in cell_rows(cells)]
    widths = [max(_width(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        lines.append("  ".join(_pad(v, w) for v, w in zip(row, widths, strict=True)).rstrip())
    files = sorted({(c.sha256, c.submission_id, c.file_name) for c in cells})
    if files:
        lines += ["", "报送（归档文件按 SHA-256 保存）："]
        lines += [f"  {sha}  {sub}  {name}" for sha, sub, name in files]
    return "\n".join(lines)


def all_provenance(engine: Engine | Connection, year: int) -> dict[str, list[SourceCell]]:
    """Figure code → its source cells, for every figure of ``year`` (one connection)."""
    with reading(engine) as conn:
        return {code: provenance(conn, code, year) for code in FIGURE_DEFS}
