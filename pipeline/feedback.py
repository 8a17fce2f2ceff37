"""Feedback a clerk can act on: an annotated copy of their own workbook and a one-page 退回通知.

Written under ``feedback/<YYYY-MM>/<unit>/``; nothing here ever touches the inbox or the archive.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from pathlib import Path

from pipeline.archive import archive_path
from pipeline.config import Settings
from pipeline.outputs import neutralise
from pipeline.problems_report import OpenFile, open_problems
from pipeline.registry import units
from pipeline.safety import OLE_MAGIC, REFUSED_UNREAD
from pipeline.warehouse import ensure_schema, make_engine

log = logging.getLogger(__name__)

UNKNOWN_UNIT = "未识别单位"
NOTICE_NAME = "退回通知.docx"
ANNOTATED_SUFFIX = "_退回标注.xlsx"
_UNSAFE = re.compile(r"[^\w\u4e00-\u9fff.()（）-]+")


def safe_component(name: str, limit: int = 60) -> str:
    """A clerk-supplied name made safe as one path component: no separators, no ``..``, bounded."""
    stem = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip("._") or "file"
    return stem[:limit]


def can_annotate(open_file: OpenFile, data: bytes) -> bool:
    """Whether an annotated copy can be made: an .xlsx/.xlsm whose cells were read.

    Files refused before their cells were read (not a workbook, too large, hostile) and legacy
    .xls files get the notice only: loading them fully to annotate would undo the reader's limits.
    """
    return not data.startswith(OLE_MAGIC) and not any(p.rule in REFUSED_UNREAD for p in open_file.problems)


def _annotate(source: Path, target: Path, open_file: OpenFile) -> bool:
    """Copy the clerk's workbook with every located problem highlighted and commented."""
    from openpyxl import load_workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill

    try:
        data = source.read_bytes()
        if not can_annotate(open_file, data):
            return False
        # From bytes: the archive's hash-named file has no extension for openpyxl to check.
        wb = load_workbook(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - an unreadable file gets the notice only
        log.info("no annotated copy of %s: %r", open_file.file_name, exc)
        return False
    fill = PatternFill("solid", fgColor="FFC7CE")
    notes: dict[tuple[str, str], list[str]] = {}
    for p in open_file.problems:
        if p.sheet in wb.sheetnames and p.cell:
            notes.setdefault((p.sheet, p.cell), []).append(p.message_zh)
    for (sheet, cell), messages in notes.items():
        ws = wb[sheet]
        # A comment belongs on the top-left cell of a merged range.
        merged = next((m for m in ws.merged_cells.ranges if cell in m), None)
        target_cell = ws.cell(merged.min_row, merged.min_col) if merged else ws[cell]
        target_cell.fill = fill
        comment = Comment("\n".join(messages), "区司法局")
        comment.width, comment.height = 300, 120
        target_cell.comment = comment
    summary = wb.create_sheet("退回说明", 0)
    summary.append([f"本工作簿未通过审核，请按下列问题修改后重新报送（标红单元格附有批注）。文件：{open_file.file_name}"])
    summary["A1"].font = Font(bold=True)
    summary.append(["工作表", "单元格", "列名", "填写内容", "问题"])
    for cell in summary[2]:
        cell.font = Font(bold=True)
    for p in open_file.problems:
        summary.append([neutralise(v or "") for v in (p.sheet, p.cell, p.column_label, p.value, p.message_zh)])
    for col, width in zip("ABCDE", (14, 10, 20, 24, 60), strict=True):
        summary.column_dimensions[col].width = width
    wb.active = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)
    return True


def _notice(target: Path, unit_name: str, period: str, files: list[OpenFile]) -> None:
    """A one-page 退回通知 for a unit and month, listing every problem of every refused file."""
    from docx import Document
    from docx.shared import Pt

    year, month = period.split("-")
    doc = Document()
    doc.add_heading("月报退回通知", level=1)
    doc.add_paragraph(f"{unit_name}：")
    doc.add_paragraph(
        f"贵单位报送的{year}年{int(month)}月月报未通过审核，未计入统计。请按下列问题修改原工作簿"
        "（附件中的标注副本已将问题单元格标红并加批注），修改后将完整工作簿重新报送。"
    )
    for f in files:
        doc.add_paragraph(f"文件：{f.file_name}", style="List Bullet")
        table = doc.add_table(rows=1, cols=4)
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, ("位置", "列名", "填写内容", "问题"), strict=True):
            cell.text = text
        for p in f.problems:
            row = table.add_row().cells
            row[0].text = p.location_zh() if not p.cell else f"{p.sheet} {p.cell}"
            row[1].text = p.column_label or ""
            row[2].text = p.value or ""
            row[3].text = ("（提示）" if p.severity == "warning" else "") + p.message_zh
    doc.add_paragraph(f"区司法局　{dt.date.today():%Y年%m月%d日}")
    for paragraph in doc.paragraphs:
        for run in paragraph.runs:
            run.font.size = Pt(10.5)
    target.parent.mkdir(parents=True, exist_ok=True)
    doc.save(target)


def write_month_feedback(period: str, settings: Settings) -> list[Path]:
    """Write feedback for every open refused return of ``period``; return the files written."""
    engine = make_engine(settings.warehouse_url)
    ensure_schema(engine)
    names = {u.code: u.name for u in units()}
    by_unit: dict[str, list[OpenFile]] = {}
    for f in open_problems(engine, period):
        by_unit.setdefault(names.get(f.unit_code or "", UNKNOWN_UNIT), []).append(f)
    written: list[Path] = []
    root = (settings.feedback / period).resolve()
    _remove_stale(root)
    for unit_name, files in sorted(by_unit.items()):
        folder = _inside(root, root / safe_component(unit_name))
        for f in files:
            name = f"{safe_component(Path(f.file_name).stem)}_{f.sha256[:8]}{ANNOTATED_SUFFIX}"
            target = _inside(root, folder / name)
            if _annotate(archive_path(settings.archive, f.sha256), target, f):
                written.append(target)
        notice = folder / NOTICE_NAME
        _notice(notice, unit_name, period, files)
        written.append(notice)
    from pipeline.verification_report import write_hint_files

    return written + write_hint_files(period, settings.feedback, engine)


def _inside(root: Path, path: Path) -> Path:
    """``path``, after making sure it lies under ``root`` (names come from clerks and the registry)."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise ValueError(f"feedback path {resolved} escapes {root}")
    return resolved


def _remove_stale(root: Path) -> None:
    """Drop the feedback an earlier run of the month wrote: a problem fixed since gets no notice."""
    if not root.is_dir():
        return
    for path in root.glob("*/*"):
        ours = path.name == NOTICE_NAME or path.name.endswith(ANNOTATED_SUFFIX)
        if ours and path.is_file() and not path.is_symlink():
            path.unlink()
