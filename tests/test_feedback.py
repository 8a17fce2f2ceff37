"""Feedback a clerk can act on: every problem at once, an annotated copy of their workbook and a 退回通知,
and the same open problems for the operator from the CLI and at the end of the monthly DAG's log.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pytest
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from openpyxl import load_workbook

from pipeline.ingest import run_month
from pipeline.operations.problems_report import month_problems_text
from pipeline.outputs.feedback import notice_facts, safe_component, write_month_feedback
from pipeline.outputs.workbook import write_return
from pipeline.registry import unit_by_code
from pipeline.samples.sample import sample_year_data
from pipeline.warehouse.connect import make_engine

PERIOD = "2020-12"
DATA = sample_year_data(2020)
HOSTILE = "=cmd|' /C calc'!A0"


def clean(code: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.xlsx"
        write_return(path, unit_by_code(code).name, PERIOD, DATA[(code, PERIOD)])
        return path.read_bytes()


def broken_scjg() -> tuple[bytes, dict[str, str]]:
    """SCJG's return with four mistakes in 行政检查 (one a formula-looking text); cell → label."""
    wb = load_workbook(io.BytesIO(clean("SCJG")))
    ws = wb["行政检查"]
    col = {c.value: c.column_letter for c in ws[4]}
    ws[f"{col['完成日期']}5"] = "2020-12-32"
    ws[f"{col['是否联合抽查']}6"] = HOSTILE
    ws[f"{col['是否联合抽查']}6"].data_type = "s"  # text typed by the clerk, not a formula
    ws[f"{col['抽取检查对象户数']}5"] = "十二户"
    ws.insert_rows(7)
    ws["A7"] = "合计"
    ws[f"{col['抽取检查对象户数']}7"] = 999
    out = io.BytesIO()
    wb.save(out)
    expected = {f"{col['完成日期']}5": "完成日期", f"{col['是否联合抽查']}6": "是否联合抽查",
                f"{col['抽取检查对象户数']}5": "抽取检查对象户数", f"{col['抽取检查对象户数']}7": "抽取检查对象户数"}
    return out.getvalue(), expected


@pytest.fixture
def month(tmp_path, make_settings):
    folder = tmp_path / "inbox" / PERIOD
    folder.mkdir(parents=True)
    data, cells = broken_scjg()
    (folder / "市场监管局 12月.xlsx").write_bytes(data)
    (folder / "荷花池.xlsx").write_bytes(clean("HHC"))
    (folder / "空的.xlsx").write_bytes(b"")
    settings = make_settings(tmp_path / "inbox", f"sqlite:///{tmp_path / 'w.sqlite'}")
    report = run_month(PERIOD, settings)
    written = write_month_feedback(PERIOD, settings)
    return settings, report, written, cells


@pytest.mark.integration
def test_annotated_copy_marks_every_problem_cell(month):
    settings, _, written, cells = month
    folder = settings.feedback / PERIOD / "区市场监督管理局"
    [copy] = [p for p in written if p.suffix == ".xlsx"]
    assert copy.parent == folder and copy.name.startswith("市场监管局_12月_") and copy.name.endswith("_退回标注.xlsx")
    wb = load_workbook(copy)
    ws = wb["行政检查"]
    for address in cells:
        assert ws[address].fill.fgColor.rgb.endswith("FFC7CE"), address
        assert ws[address].comment is not None and ws[address].comment.text, address
    assert "日期不存在" in ws[next(a for a, lb in cells.items() if lb == "完成日期")].comment.text
    # A 合计 that does not add up: both sums, and what to check first.
    total = ws[next(a for a in cells if a.endswith("7"))].comment.text
    assert "合计行填写999" in total and "上方各行之和为" in total and "请先逐行核对上方各行" in total
    # The summary sheet comes first and lists every problem: sheet, cell, column label, value, message.
    assert wb.sheetnames[0] == "退回说明"
    listed = [tuple(c.value for c in row) for row in wb["退回说明"].iter_rows(min_row=3)]
    assert {(r[0], r[1], r[2]) for r in listed} == {("行政检查", a, lb) for a, lb in cells.items()}
    hostile = next(r for r in listed if r[2] == "是否联合抽查")
    assert hostile[3] == "'" + HOSTILE and hostile[4] == "只能填写“是”或“否”"
    assert all(c.data_type != "f" for row in wb["退回说明"].iter_rows() for c in row)
    # It prints one A4 portrait page wide, the header row repeated, 问题 wrapped.
    summary = wb["退回说明"]
    assert summary.page_setup.orientation == "portrait" and summary.page_setup.fitToWidth == 1
    assert summary.sheet_properties.pageSetUpPr.fitToPage and summary.print_title_rows == "$2:$2"
    assert summary.cell(3, 5).alignment.wrap_text


@pytest.mark.integration
def test_notice_lists_every_problem_of_every_refused_file(month):
    settings, _, written, cells = month
    notice = settings.feedback / PERIOD / "区市场监督管理局" / "退回通知.docx"
    assert notice in written
    doc = Document(notice)
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "区市场监督管理局：" in text and "2020年12月报表工作簿未通过审核" in text and "市场监管局 12月.xlsx" in text
    # No earlier valid return: the notice says the month does not count, and by when to resend.
    assert "“行政检查”表：贵单位2020年12月尚无通过审核的报表，该月该表未计入统计，按未报送处理" in text
    assert "仍然有效" not in text and "请于" in text and "如有疑问，请联系区司法局" in text
    title = doc.paragraphs[0]
    assert title.text == "2020年12月报表退回通知" and title.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert title.runs[0].bold and title.runs[0].font.size.pt == 18
    [table] = doc.tables
    rows = [[c.text for c in r.cells] for r in table.rows]
    assert rows[0] == ["位置", "列名", "填写内容", "问题"]
    assert {(r[0], r[1]) for r in rows[1:]} == {(f"行政检查 {a}", lb) for a, lb in cells.items()}
    assert any(r[2] == "十二户" and r[3] == "应填写整数" for r in rows)


@pytest.mark.integration
def test_file_refused_before_reading_gets_a_notice_only(month):
    settings, *_ = month
    folder = settings.feedback / PERIOD / "未识别单位"
    assert sorted(p.name for p in folder.iterdir()) == ["退回通知.docx"]
    rows = [[c.text for c in r.cells] for r in Document(folder / "退回通知.docx").tables[0].rows]
    assert rows[1] == ["整个文件", "", "", "文件为空（0 字节），请重新报送"]
    assert not (settings.feedback / PERIOD / "荷花池街道").exists()


@pytest.mark.integration
def test_cli_lists_the_open_problems_naming_each_file(month, capsys):
    from pipeline.cli import main

    settings, _report, _written, cells = month
    assert main(["problems", "--period", PERIOD, "--warehouse", settings.warehouse_url]) == 0
    out = capsys.readouterr().out
    assert "市场监管局 12月.xlsx [区市场监督管理局]" in out and "空的.xlsx [未识别单位]" in out
    for address in cells:
        assert f"工作表“行政检查” {address}" in out
    assert out.strip() == month_problems_text(make_engine(settings.warehouse_url), PERIOD)


@pytest.mark.integration
def test_a_valid_resend_closes_the_problem_and_its_feedback(month):
    settings, *_ = month
    folder = settings.inbox / PERIOD
    later = folder / "市场监管局 12月 改.xlsx"
    later.write_bytes(clean("SCJG"))
    first = (folder / "市场监管局 12月.xlsx").stat().st_mtime
    os.utime(later, (first + 3600, first + 3600))
    run_month(PERIOD, settings)
    written = write_month_feedback(PERIOD, settings)
    assert not (settings.feedback / PERIOD / "区市场监督管理局").exists() or not any(
        (settings.feedback / PERIOD / "区市场监督管理局").iterdir())
    assert all("区市场监督管理局" not in str(p) for p in written)
    text = month_problems_text(make_engine(settings.warehouse_url), PERIOD)
    assert "市场监管局 12月.xlsx" not in text.split("个单位报送了多份有效工作簿")[0]


@pytest.mark.integration
def test_a_refused_correction_says_the_original_stands(tmp_path, make_settings, monkeypatch):
    """The unit's valid return came first; its broken correction is refused: the month still counts."""
    monkeypatch.setenv("DISTRICT_CONTACT_NAME", "区司法局法治督察科 王科长")
    monkeypatch.setenv("DISTRICT_CONTACT_PHONE", "0519-88880000")
    folder = tmp_path / "inbox" / PERIOD
    folder.mkdir(parents=True)
    (folder / "市场监管局 12月.xlsx").write_bytes(clean("SCJG"))
    correction = folder / "市场监管局 12月 更正.xlsx"
    correction.write_bytes(broken_scjg()[0])
    first = (folder / "市场监管局 12月.xlsx").stat().st_mtime
    os.utime(correction, (first + 3600, first + 3600))
    settings = make_settings(tmp_path / "inbox", f"sqlite:///{tmp_path / 'w.sqlite'}")
    run_month(PERIOD, settings)
    write_month_feedback(PERIOD, settings)
    doc = Document(settings.feedback / PERIOD / "区市场监督管理局" / "退回通知.docx")
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "退回的工作簿：《市场监管局 12月 更正.xlsx》" in text
    assert "“行政检查”表：本次报送未被采用。" in text and "报送的《市场监管局 12月.xlsx》仍然有效" in text
    assert "2020年12月该表已按其计入统计，不算未报" in text
    assert "未计入统计" not in text and "按未报送处理" not in text and "逾期" not in text
    assert "如有疑问，请联系区司法局法治督察科 王科长，联系电话：0519-88880000。" in text


@pytest.mark.integration
def test_notice_dates_are_beijing_time_and_the_resend_deadline_follows_the_month(month):
    import datetime as dt

    settings, *_ = month
    engine = make_engine(settings.warehouse_url)
    from pipeline.operations.problems_report import open_problems

    files = [f for f in open_problems(engine, PERIOD) if f.unit_code == "SCJG"]
    # 20:30 UTC on 4 December is 04:30 on the 5th in Beijing: the notice is dated the 5th.
    before = notice_facts(engine, PERIOD, "SCJG", files, settings, now=dt.datetime(2020, 12, 4, 20, 30, tzinfo=dt.UTC))
    assert before.written_on == dt.date(2020, 12, 5)
    # Before the month's deadline (8 January 06:00 Beijing time) the deadline is the resend date ...
    assert before.resend_by == before.month_deadline
    assert (before.month_deadline.month, before.month_deadline.day, before.month_deadline.hour) == (1, 8, 6)
    # ... after it, the bureau's grace period from the notice's day.
    after = notice_facts(engine, PERIOD, "SCJG", files, settings, now=dt.datetime(2021, 2, 1, 2, 0, tzinfo=dt.UTC))
    assert after.resend_by.date() == dt.date(2021, 2, 1) + dt.timedelta(days=settings.resend_grace_days)


@pytest.mark.unit
@pytest.mark.parametrize(("name", "expected"), [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\system32", "system32"),
    ("..", "file"),
    ("", "file"),
    ("含 空格 的 名字", "含_空格_的_名字"),
    ("a;rm -rf ~", "a_rm_-rf"),
    ("名" * 100, "名" * 40),  # bounded in bytes: 120 of UTF-8
])
def test_safe_component(name, expected):
    assert safe_component(name) == expected
    assert "/" not in safe_component(name) and not safe_component(name).startswith(".")


@pytest.mark.integration
def test_notice_and_annotated_copy_print_whole(month, tmp_path):
    """Rendered through LibreOffice: the notice is one A4 page with every message whole; the 退回说明
    sheet prints on one page wide with its 问题 column (it printed 问题 on a second page)."""
    from rendering import render

    from pipeline.operations.problems_report import open_problems
    from pipeline.outputs.feedback import clerk_message

    settings, _, written, _ = month
    [scjg] = [f for f in open_problems(make_engine(settings.warehouse_url), PERIOD) if f.unit_code == "SCJG"]
    messages = ["".join(clerk_message(p).split()) for p in scjg.problems]
    notice = render(settings.feedback / PERIOD / "区市场监督管理局" / "退回通知.docx", tmp_path / "notice")
    assert len(notice.pages) == 1
    assert all(m in notice.squeezed() for m in messages)
    # The 问题 column is wide enough for a short message on one line (it wrapped mid-phrase).
    assert any("只能填写“是”或“否”" in line for line in notice.pages[0].splitlines())
    assert "2020年12月报表退回通知" in notice.squeezed() and "请于" in notice.text
    [copy] = [p for p in written if p.suffix == ".xlsx"]
    annotated = render(copy, tmp_path / "annotated")
    first = annotated.pages[0]
    assert all(header in first for header in ("工作表", "单元格", "列名", "填写内容", "问题"))
    assert all(m in "".join(first.split()) for m in messages)
