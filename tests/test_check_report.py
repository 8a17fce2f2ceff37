"""The report's sentences written from the warehouse (Markdown and docx, with year-on-year), and the check
of a draft against the warehouse: the real 2020 report agrees, a changed number is flagged.

The 2018–2020 sample warehouse is conftest's session fixture: the tests only read it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import REPORT_2020

from pipeline.samples.sample import sample_year_data

pytestmark = pytest.mark.integration


def test_report_sentences_with_year_on_year(sample_warehouse_sqlite, tmp_path: Path) -> None:
    from docx import Document

    from pipeline.cli import main

    settings, _ = sample_warehouse_sqlite
    assert main(["report", "--year", "2020", "--out", str(tmp_path), "--warehouse", settings.warehouse_url]) == 0
    markdown = (tmp_path / "report-figures.md").read_text(encoding="utf-8")
    sentence = "全区共有17个部门制定检查任务104项，抽取检查对象1976户，实施联合抽查14次"
    assert sentence in markdown
    assert "## 五、加强行政复议，全面提升复议应诉水平" in markdown
    assert "区司法局审核区级文件、合同80余项" in markdown and "全程电子化比例达90%以上" in markdown
    assert "【缺数" not in markdown
    # 2019 is in the warehouse for 行政应诉 only: year-on-year for those figures, and only those.
    received_2019 = len({row["case_id"] for (_, _), sheets in sample_year_data(2019).items()
                         for row in sheets.get("litigation") or [] if row["received_on"].year == 2019})
    assert f"收到行政诉讼案件数 8件（2019年：{received_2019}件" in markdown
    assert "检查任务数 104项（2019年" not in markdown
    paragraphs = [p.text for p in Document(str(tmp_path / "report-figures.docx")).paragraphs]
    assert any(sentence in p for p in paragraphs)
    assert "六、创新服务模式，助推提升基层治理能力" in paragraphs


def test_check_report_confirms_the_real_2020_report(sample_warehouse_sqlite, capsys) -> None:
    from pipeline.cli import main

    settings, _ = sample_warehouse_sqlite
    code = main(["check-report", str(REPORT_2020), "--year", "2020", "--warehouse", settings.warehouse_url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[0].startswith("2020年报告核对：一致 32 处，不一致 0 处，无数据支撑 0 处")


def test_check_report_flags_a_changed_number_in_a_docx(sample_warehouse_sqlite, tmp_path: Path, capsys) -> None:
    from docx import Document

    from pipeline.cli import main

    settings, _ = sample_warehouse_sqlite
    doc = Document()
    text = REPORT_2020.read_text(encoding="utf-8").replace("共受理行政复议案件27件", "共受理行政复议案件29件")
    for line in text.splitlines():
        doc.add_paragraph(line)
    draft = tmp_path / "初稿.docx"
    doc.save(draft)
    code = main(["check-report", str(draft), "--year", "2020", "--warehouse", settings.warehouse_url, "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert "不一致 1 处" in out.splitlines()[0]
    assert "不一致：报告写“29件”，数据为“27件”（受理行政复议案件数）" in out
