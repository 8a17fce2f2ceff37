"""Feedback a clerk can act on: every problem at once, an annotated copy of their workbook and a 退回通知,
and the same open problems for the operator from the CLI and at the end of the monthly DAG's log.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook

from pipeline.feedback import safe_component, write_month_feedback
from pipeline.ingest import run_month
from pipeline.problems_report import log_month_summary, month_problems_text
from pipeline.registry import unit_by_code
from pipeline.sample import sample_year_data
from pipeline.warehouse import make_engine
from pipeline.workbook import write_return

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
    assert "合计行与上方各行之和" in ws[next(a for a in cells if a.endswith("7"))].comment.text
    # The summary sheet comes first and lists every problem: sheet, cell, column label, value, message.
    assert wb.sheetnames[0] == "退回说明"
    listed = [tuple(c.value for c in row) for row in wb["退回说明"].iter_rows(min_row=3)]
    assert {(r[0], r[1], r[2]) for r in listed} == {("行政检查", a, lb) for a, lb in cells.items()}
    hostile = next(r for r in listed if r[2] == "是否联合抽查")
    assert hostile[3] == "'" + HOSTILE and hostile[4] == "只能填写“是”或“否”"
    assert all(c.data_type != "f" for row in wb["退回说明"].iter_rows() for c in row)


@pytest.mark.integration
def test_notice_lists_every_problem_of_every_refused_file(month):
    settings, _, written, cells = month
    notice = settings.feedback / PERIOD / "区市场监督管理局" / "退回通知.docx"
    assert notice in written
    doc = Document(notice)
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "区市场监督管理局：" in text and "2020年12月月报未通过审核" in text and "市场监管局 12月.xlsx" in text
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
def test_cli_and_dag_log_list_the_same_open_problems_naming_each_file(month, capsys):
    from pipeline.cli import main

    settings, report, written, cells = month
    assert main(["problems", "--period", PERIOD, "--warehouse", settings.warehouse_url]) == 0
    out = capsys.readouterr().out
    assert "市场监管局 12月.xlsx [区市场监督管理局]" in out and "空的.xlsx [未识别单位]" in out
    for address in cells:
        assert f"工作表“行政检查” {address}" in out
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("pipeline.problems_report")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        log_month_summary(PERIOD, settings, report.as_dict(), [str(p) for p in written])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    text = month_problems_text(make_engine(settings.warehouse_url), PERIOD)
    assert out.strip() == text
    assert all(line in records for line in text.splitlines())
    assert records[-1] == f"feedback written: {written[-1]}"


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
    assert "市场监管局 12月.xlsx" not in text.split("unit(s) sent more")[0]


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
