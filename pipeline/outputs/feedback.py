"""Feedback a clerk can act on: an annotated copy of their own workbook and a one-page 退回通知.

Written under ``feedback/<YYYY-MM>/<unit>/``; nothing here ever touches the inbox or the archive.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline import atomic, sanitise
from pipeline.config import DEFAULT_TZ, Settings
from pipeline.forms import FORMS
from pipeline.intake.archive import archive_path
from pipeline.intake.safety import OLE_MAGIC, REFUSED_UNREAD
from pipeline.operations.completeness import deadline_rule
from pipeline.operations.problems_report import OpenFile, open_problems
from pipeline.outputs.author_sheets import print_ready, text_width
from pipeline.outputs.report import _east_asian_font
from pipeline.outputs.verification_report import write_hint_files
from pipeline.periods import deadline
from pipeline.problems import Problem
from pipeline.registry import units
from pipeline.sanitise import MAX_NAME_BYTES, UNIT_NAME_BYTES, clean, file_component, one_line
from pipeline.warehouse.connect import make_engine
from pipeline.warehouse.schema import ensure_schema, return_file, submission

log = logging.getLogger(__name__)

UNKNOWN_UNIT = "未识别单位"
NOTICE_NAME = "退回通知.docx"
ANNOTATED_SUFFIX = "_退回标注.xlsx"
#: Bytes of a unit folder's name and of an annotated copy's stem (file systems count 255 bytes a name).
STEM_BYTES = MAX_NAME_BYTES - len(f"_12345678{ANNOTATED_SUFFIX}".encode())


def safe_component(name: str, limit: int = UNIT_NAME_BYTES) -> str:
    """A clerk-supplied name made safe as one path component: no separators, no ``..``, ``limit`` bytes."""
    return file_component(name, limit)


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
    from openpyxl.styles import PatternFill

    try:
        data = source.read_bytes()
        if not can_annotate(open_file, data):
            return False
        # From bytes: the archive's hash-named file has no extension for openpyxl to check.
        wb = load_workbook(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - an unreadable file gets the notice only
        log.info("no annotated copy of %s: %s", one_line(open_file.file_name), one_line(repr(exc)))
        return False
    fill = PatternFill("solid", fgColor="FFC7CE")
    notes: dict[tuple[str, str], list[str]] = {}
    for p in open_file.problems:
        if p.sheet in wb.sheetnames and p.cell:
            notes.setdefault((p.sheet, p.cell), []).append(clerk_message(p))
    for (sheet, cell), messages in notes.items():
        ws = wb[sheet]
        # A comment belongs on the top-left cell of a merged range.
        merged = next((m for m in ws.merged_cells.ranges if cell in m), None)
        target_cell = ws.cell(merged.min_row, merged.min_col) if merged else ws[cell]
        target_cell.fill = fill
        comment = Comment(clean("\n".join(messages)), "区司法局")
        comment.width, comment.height = 300, 120
        target_cell.comment = comment
    summary = wb.create_sheet("退回说明", 0)
    _write_summary(summary, open_file)
    wb.active = 0
    atomic.save(target, wb.save)
    return True


_SUMMED = re.compile(r"（(-?\d+)）")


def clerk_message(p: Problem) -> str:
    """A problem's message as the notice and the 退回说明 sheet print it.

    A 合计 that does not add up names both sums and what to check first: the rows are the data, the
    合计 row only repeats them.
    """
    if p.rule == "total_mismatch" and (m := _SUMMED.search(p.message_zh)):
        stated = p.value if p.value not in (None, "") else "（空）"
        return (f"合计行填写{stated}，上方各行之和为{m[1]}，两者不符。请先逐行核对上方各行的"
                f"“{p.column_label or '该列'}”；各行无误的，将合计改为{m[1]}（或删去合计行）。")
    return p.message_zh


@dataclass(frozen=True)
class InForce:
    """A unit's valid return of a form in a month: the one the statistics count."""

    form_code: str
    file_name: str
    received_at_utc: dt.datetime
    is_nil: bool


@dataclass
class NoticeFacts:
    """What a 退回通知 states beyond the problems: what stands, by when to resend, whom to call."""

    #: file id → forms the refused file would have replaced (its refused sheets, or every form owed).
    refused_forms: dict[str, list[str]]
    #: file id → forms of the same file that passed and count.
    accepted_forms: dict[str, list[str]]
    #: form code → the unit's valid return in force for the month (from another file).
    in_force: dict[str, InForce]
    received_at_utc: dict[str, dt.datetime]
    month_deadline: dt.datetime
    resend_by: dt.datetime
    written_on: dt.date
    contact_name: str
    contact_phone: str


def notice_facts(engine, period: str, unit_code: str | None, files: list[OpenFile], settings: Settings,
                 now: dt.datetime | None = None) -> NoticeFacts:
    """Read from the warehouse what stays in force for ``unit_code`` in ``period`` and when to resend."""
    import sqlalchemy as sa


    day, hour, tz = deadline_rule(settings)
    zone = ZoneInfo(tz)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    month_deadline = deadline(period, day=day, hour=hour, tz=tz)
    if month_deadline > now:
        resend_by = month_deadline
    else:
        # The month's deadline has passed: the bureau's grace period, to the end of its last day.
        last = (now + dt.timedelta(days=settings.resend_grace_days)).date()
        resend_by = dt.datetime.combine(last, dt.time(17, 0), tzinfo=zone)
    ids = [f.file_id for f in files]
    with engine.connect() as conn:
        subs = conn.execute(
            sa.select(submission.c.file_id, submission.c.form_code, submission.c.status, submission.c.is_nil,
                      submission.c.file_name, submission.c.received_at_utc)
            .where(submission.c.period == period, submission.c.unit_code == unit_code)
            .order_by(submission.c.received_at_utc)
        ).all() if unit_code else []
        received = dict(conn.execute(
            sa.select(return_file.c.file_id, return_file.c.received_at_utc).where(return_file.c.file_id.in_(ids))
        ).all())
    owed = next((u.forms for u in units() if u.code == unit_code), ())
    refused: dict[str, list[str]] = {}
    accepted: dict[str, list[str]] = {}
    for f in files:
        mine = [s for s in subs if s.file_id == f.file_id]
        refused[f.file_id] = [s.form_code for s in mine if s.status == "quarantined"] or (
            [] if mine else list(owed))
        accepted[f.file_id] = sorted((s.form_code for s in mine if s.status != "quarantined"), key=_form_order)
    in_force = {
        s.form_code: InForce(s.form_code, s.file_name, s.received_at_utc, bool(s.is_nil))
        for s in subs if s.status == "loaded" and s.file_id not in ids
    }
    return NoticeFacts(refused, accepted, in_force, received, month_deadline, resend_by, now.date(),
                       settings.contact_name, settings.contact_phone)


def _form_order(code: str) -> int:

    return list(FORMS).index(code) if code in FORMS else len(FORMS)


def _cn_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _cn_time(moment: dt.datetime) -> str:
    return f"{_cn_date(moment.date())}{moment:%H:%M}"


def notice_statements(period: str, f: OpenFile, facts: NoticeFacts, tz: str = DEFAULT_TZ) -> list[str]:
    """What the notice says about one refused workbook: what was refused, what stands, what counts."""

    year, month = (int(x) for x in period.split("-"))
    ym = f"{year}年{month}月"
    received = facts.received_at_utc.get(f.file_id)
    when = f"（{_cn_time(received.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)))}收到）" if received else ""
    lines = [f"退回的工作簿：《{f.file_name}》{when}，文件校验码前8位 {f.sha256[:8]}。"]
    for code in facts.accepted_forms.get(f.file_id, []):
        lines.append(f"该工作簿中的“{FORMS[code].sheet}”表已通过审核，计入{ym}统计。")
    missing_deadline = False
    for code in facts.refused_forms.get(f.file_id, []):
        sheet = FORMS[code].sheet if code in FORMS else code
        stands = facts.in_force.get(code)
        if stands:
            at = _cn_time(stands.received_at_utc.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)))
            lines.append(
                f"“{sheet}”表：本次报送未被采用。贵单位{at}报送的《{stands.file_name}》仍然有效，"
                f"{ym}该表已按其计入统计，不算未报。如确需更正，请修改本工作簿后重新报送完整工作簿。")
        else:
            missing_deadline = True
            lines.append(f"“{sheet}”表：贵单位{ym}尚无通过审核的报表，该月该表未计入统计，按未报送处理。")
    if not facts.refused_forms.get(f.file_id):
        lines.append(f"该工作簿未能识别为贵单位{ym}应报的报表，未计入统计。")
        missing_deadline = True
    if missing_deadline and facts.resend_by > facts.month_deadline:
        lines.append(f"本月报送截止时间{_cn_time(facts.month_deadline)}已过，重新报送后记为逾期报送。")
    return lines


def _set_cell_width(cell, width_cm: float) -> None:
    from docx.shared import Cm

    cell.width = Cm(width_cm)


def _repeat_header(row) -> None:
    """Mark a table row as a header row Word and LibreOffice repeat on every page."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    trpr = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    trpr.append(header)


def _shade(cell, colour: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), colour)
    cell._tc.get_or_add_tcPr().append(shading)


#: 位置, 列名, 填写内容, 问题 in cm: 17 cm, the text width of A4 portrait with 2 cm margins.
NOTICE_COLUMNS = (("位置", 3.0), ("列名", 2.6), ("填写内容", 2.6), ("问题", 8.8))
NOTICE_FONT = "宋体"
NOTICE_TITLE_FONT = "黑体"


#: 工作表, 单元格, 列名, 填写内容, 问题: about 100 characters, one A4 portrait page wide at ~80 %.
SUMMARY_WIDTHS = (12, 8, 16, 16, 56)


def _write_summary(ws, open_file: OpenFile) -> None:
    """The 退回说明 sheet: what to fix, one problem per row, printing one A4 portrait page wide."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side


    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    wrap = Alignment(wrap_text=True, vertical="top")
    ws.append([sanitise.cell(f"本工作簿未通过审核，请按下列问题修改后重新报送（标红单元格附有批注）。"
                          f"文件：{open_file.file_name}")])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(SUMMARY_WIDTHS))
    ws["A1"].font = Font(bold=True)
    ws["A1"].alignment = wrap
    ws.row_dimensions[1].height = 36
    ws.append(["工作表", "单元格", "列名", "填写内容", "问题"])
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.border = border
        cell.alignment = Alignment(horizontal="center", vertical="center")

    for p in open_file.problems:
        values = [sanitise.cell(v or "") for v in (p.sheet, p.cell, p.column_label, p.value, clerk_message(p))]
        ws.append(values)
        for cell in ws[ws.max_row]:
            cell.alignment, cell.border = wrap, border
        # Spreadsheets keep openpyxl's default row height: a wrapped message needs its lines counted.
        lines = max(-(-text_width(v) // (w - 1)) for v, w in zip(values, SUMMARY_WIDTHS, strict=True))
        ws.row_dimensions[ws.max_row].height = 15 * max(1, lines) + 2
    for index, width in enumerate(SUMMARY_WIDTHS, start=1):
        ws.column_dimensions[chr(64 + index)].width = width
    print_ready(ws, title_rows="2:2", title="退回说明")


def _notice(target: Path, unit_name: str, period: str, files: list[OpenFile],
            facts: NoticeFacts | None = None, tz: str = DEFAULT_TZ) -> None:
    """A 退回通知 for a unit and month: what was refused, what stands, the problems, by when, whom to call."""
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt


    year, month = (int(x) for x in period.split("-"))
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2.0)
    section.top_margin = section.bottom_margin = Cm(2.2)

    def para(text: str = "", *, size: float = 12, bold: bool = False, font: str = NOTICE_FONT,
             align=None, indent: bool = False, after: float = 4):
        p = doc.add_paragraph()
        if align is not None:
            p.alignment = align
        if indent:
            p.paragraph_format.first_line_indent = Pt(size * 2)
        p.paragraph_format.space_after = Pt(after)
        if text:
            run = p.add_run(text)
            run.font.size = Pt(size)
            run.bold = bold
            _east_asian_font(run, font)
        return p

    para(f"{year}年{month}月报表退回通知", size=18, bold=True, font=NOTICE_TITLE_FONT,
         align=WD_ALIGN_PARAGRAPH.CENTER, after=12)
    para(clean(f"{unit_name}："))
    para(f"贵单位报送的{year}年{month}月报表工作簿未通过审核，情况如下。请按表中问题修改原工作簿"
         "（附件中的标注副本已将问题单元格标红并加批注），修改后重新报送完整工作簿。", indent=True)
    for number, f in enumerate(files, start=1):
        statements = notice_statements(period, f, facts, tz) if facts else [f"退回的工作簿：《{f.file_name}》。"]
        para(clean(f"{number}. {statements[0]}"), bold=True, after=2)
        for line in statements[1:]:
            para(clean(line), size=11, indent=True, after=2)
        table = doc.add_table(rows=1, cols=len(NOTICE_COLUMNS))
        table.style = "Table Grid"
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        # LibreOffice lays a table out by its grid columns, Word by the cells' widths: set both.
        for column, (_, width) in zip(table.columns, NOTICE_COLUMNS, strict=True):
            column.width = Cm(width)
        for cell, (text, width) in zip(table.rows[0].cells, NOTICE_COLUMNS, strict=True):
            _set_cell_width(cell, width)
            _shade(cell, "DDEBF7")
            run = cell.paragraphs[0].add_run(text)
            run.bold = True
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
        _repeat_header(table.rows[0])
        for p in f.problems:
            texts = tuple(clean(t) for t in (
                p.location_zh() if not p.cell else f"{p.sheet} {p.cell}",
                p.column_label or "",
                p.value or "",
                ("（提示）" if p.severity == "warning" else "") + clerk_message(p),
            ))
            cells = table.add_row().cells
            for cell, text, (_, width) in zip(cells, texts, NOTICE_COLUMNS, strict=True):
                _set_cell_width(cell, width)
                cell.paragraphs[0].add_run(text)
        for row in table.rows:
            for cell in row.cells:
                for run in cell.paragraphs[0].runs:
                    run.font.size = Pt(10)
                    _east_asian_font(run, NOTICE_FONT)
        para(after=6)
    if facts:
        para(f"请于{_cn_time(facts.resend_by)}前将修改后的完整工作簿重新报送。", indent=True)
        phone = f"，联系电话：{facts.contact_phone}" if facts.contact_phone else ""
        para(f"如有疑问，请联系{facts.contact_name}{phone}。", indent=True)
    written_on = facts.written_on if facts else dt.datetime.now(ZoneInfo(tz)).date()
    para("区司法局", align=WD_ALIGN_PARAGRAPH.RIGHT, after=0)
    para(_cn_date(written_on), align=WD_ALIGN_PARAGRAPH.RIGHT)
    atomic.save(target, doc.save)


def write_month_feedback(period: str, settings: Settings) -> list[Path]:
    """Write feedback for every open refused return of ``period``; return the files written."""
    engine = make_engine(settings.warehouse_url)
    ensure_schema(engine)
    names = {u.code: u.name for u in units()}
    by_unit: dict[str, list[OpenFile]] = {}
    codes: dict[str, str | None] = {}
    for f in open_problems(engine, period):
        name = names.get(f.unit_code or "", UNKNOWN_UNIT)
        by_unit.setdefault(name, []).append(f)
        codes[name] = f.unit_code if f.unit_code in names else None
    written: list[Path] = []
    root = (settings.feedback / period).resolve()
    _remove_stale(root)
    for unit_name, files in sorted(by_unit.items()):
        folder = _inside(root, root / safe_component(unit_name))
        for f in files:
            name = f"{safe_component(Path(f.file_name).stem, STEM_BYTES)}_{f.sha256[:8]}{ANNOTATED_SUFFIX}"
            target = _inside(root, folder / name)
            try:
                annotated = _annotate(archive_path(settings.archive, f.sha256), target, f)
            except Exception as exc:  # noqa: BLE001 - one workbook's copy never stops the other units' feedback
                log.warning("annotated copy of %s failed, notice only: %s", one_line(f.file_name), one_line(repr(exc)))
                annotated = False
            if annotated:
                written.append(target)
        notice = folder / NOTICE_NAME
        facts = notice_facts(engine, period, codes[unit_name], files, settings)
        _notice(notice, unit_name, period, files, facts, settings.timezone)
        written.append(notice)

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
    for folder in root.iterdir():
        if folder.is_dir() and not folder.is_symlink():
            atomic.remove_stale(folder)
    for path in root.glob("*/*"):
        ours = path.name == NOTICE_NAME or path.name.endswith(ANNOTATED_SUFFIX)
        if ours and path.is_file() and not path.is_symlink():
            path.unlink()
