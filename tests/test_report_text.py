"""The report's phrasing as data, and checking a draft's numbers, on the real 2020 report text (no warehouse)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import REPO, REPORT_2020, report_figures_2020

from pipeline.outputs.check_report import agrees, check_text, read_draft
from pipeline.outputs.report import check_template, report_text, template_codes

pytestmark = pytest.mark.unit

#: The 2020 report's figures as the figure list gives them; approximate ones at the floor of their
#: range (80余 → 80), which is what the report's wording says at least.
UNITS = {"legal_aid_wages_10k_yuan": "万元", "e_registration_rate": "%", "head_appearance_rate": "%"}


@pytest.fixture(scope="module")
def stored() -> dict[str, dict]:
    import csv

    with (REPO / "pipeline" / "data" / "figures-2020.csv").open(encoding="utf-8") as fh:
        rows = {r["code"]: r for r in csv.DictReader(fh)}
    out = {}
    for code, (value, approx) in report_figures_2020().items():
        unit = rows[code]["unit"]
        shown = f"{value}{'%以上' if approx and unit == '%' else ('余' + unit) if approx else unit}"
        out[code] = {"value": float(value), "display_zh": shown}
    return out


@pytest.fixture(scope="module")
def text() -> str:
    return REPORT_2020.read_text(encoding="utf-8")


def test_data_file_covers_every_figure_once() -> None:
    assert check_template() == []
    assert sorted(template_codes()) == sorted(report_figures_2020())
    sections, cues = report_text()
    assert [s.number for s in sections] == list("一二三四五六")
    assert sections[2].title == "三、聚焦发展需求，持续优化法治营商环境"
    assert set(cues) == set(report_figures_2020())


def test_real_report_confirms_every_figure(text: str, stored: dict) -> None:
    result = check_text(text, stored, 2020)
    assert result.by_status("differs") == []
    assert result.by_status("not_backed") == []
    confirmed = result.by_status("confirmed")
    assert sorted(f.code for f in confirmed) == sorted(report_figures_2020())
    assert result.not_cited == []
    written = {f.code: f.written for f in confirmed}
    assert written["inspection_entities"] == "1976户"
    assert written["legal_review_items"] == "80余项"
    assert written["e_registration_rate"] == "90%以上"
    # The report's own typo (246民劳动者) still cites the figure.
    assert written["legal_aid_workers"] == "246民"


def test_numbers_that_are_not_statistics_are_not_figures(text: str, stored: dict) -> None:
    ignored = {(f.written, f.reason) for f in check_text(text, stored, 2020).by_status("ignored")}
    assert ("2019年", "日期或年份") in ignored
    assert ("12月", "日期或年份") in ignored
    assert ("31日", "日期或年份") in ignored
    assert ("2020年", "日期或年份") in ignored
    assert ("2015", "文件名称中的数字") in ignored  # 《法治政府建设实施纲要(2015-2020年)》
    assert ("500人以上", "条件或门槛") in ignored
    assert ("10号", "门牌号或编号") in ignored
    assert len(ignored) >= 8


def test_chinese_numerals_are_never_taken_for_figures(stored: dict) -> None:
    sample = ("贯彻党的十九届四中、五中全会精神，顺利通过“七五”普法终期检查，为“十三五”圆满收官。"
              "一是制定方案；二是推行民主决策。")
    assert check_text(sample, stored, 2020).findings == []


def test_a_changed_number_differs_with_both_values(text: str, stored: dict) -> None:
    changed = text.replace("抽取检查对象1976户", "抽取检查对象1967户").replace("合同80余项", "合同90余项")
    result = check_text(changed, stored, 2020)
    differs = {f.code: (f.written, f.data) for f in result.by_status("differs")}
    assert differs == {"inspection_entities": ("1967户", "1976户"), "legal_review_items": ("90余项", "80项（80余项）")}
    message = next(f for f in result.by_status("differs") if f.code == "inspection_entities").describe_zh()
    assert "1967户" in message and "1976户" in message
    assert len(result.by_status("confirmed")) == 30


def test_a_statistic_no_figure_backs_is_reported(stored: dict) -> None:
    result = check_text("全区新增专职网格员35名。会议编号3。", stored, 2020)
    assert [(f.status, f.written) for f in result.findings] == [("not_backed", "35名"), ("ignored", "3")]


def test_full_width_text_is_read_like_half_width(stored: dict) -> None:
    result = check_text("截至１２月底，全区共有１７个部门制定检查任务１０４项。", stored, 2020)
    assert [(f.status, f.code) for f in result.findings if f.status != "ignored"] == [
        ("confirmed", "inspection_units"), ("confirmed", "inspection_tasks")]


@pytest.mark.parametrize(
    ("number", "approximate", "value", "unit", "expected"),
    [
        (80, True, 84, "项", True),
        (80, True, 90, "项", False),
        (80, True, 79, "项", False),
        (90, True, 93.41, "%", True),
        (90, True, 100, "%", False),
        (1000, True, 1099, "户", True),
        (1000, True, 1100, "户", False),
        (1475, False, 1475.0, "万元", True),
        (1475, False, 1475.3, "万元", True),  # written without decimals: rounded
        (1476, False, 1475.3, "万元", False),
        (84, False, 84, "项", True),  # an approximate figure may be written exactly
        (80, False, 84, "项", False),
    ],
)
def test_agrees(number: float, approximate: bool, value: float, unit: str, expected: bool) -> None:
    assert agrees(number, approximate, value, unit) is expected


def test_docx_draft_is_read(tmp_path: Path, text: str) -> None:
    from docx import Document

    doc = Document()
    for line in text.splitlines():
        doc.add_paragraph(line)
    path = tmp_path / "draft.docx"
    doc.save(path)
    assert read_draft(path).splitlines() == text.splitlines()
    gbk = tmp_path / "draft.txt"
    gbk.write_bytes(text.encode("gb18030"))
    assert read_draft(gbk) == text


def test_a_reworded_sentence_is_tied_to_the_uncited_figure_it_likely_is(text: str, stored: dict) -> None:
    """“80余项” reworded away from its cue: flagged 无数据支撑, and named as the uncited figure it likely is."""
    from pipeline.outputs.check_report import format_result

    reworded = text.replace("区司法局审核区级文件、合同80余项", "区司法局全年共审查各类文件和合同80余项")
    result = check_text(reworded, stored, 2020)
    assert "legal_review_items" in result.not_cited
    [finding] = [f for f in result.by_status("not_backed") if f.written == "80余项"]
    assert finding.rewording_of == ("legal_review_items",) and finding.data == "80余项"
    assert finding.cue_hint == 'before = "类文件和合同$"'
    out = format_result(result)
    assert ("可能是报告未引用的指标“区司法局审核区级文件、合同数”（legal_review_items）的另一种写法"
            "（数据为80余项）") in out
    assert 'report-text.toml 的 [cue] 中为该指标加上 before = "类文件和合同$"' in out
    assert f"区司法局审核区级文件、合同数（legal_review_items）：可能即第{finding.line}行的“80余项”" in out
    # A number no uncited figure agrees with stays a plain 无数据支撑.
    plain = check_text("全区新增专职网格员35名。", stored, 2020)
    assert plain.by_status("not_backed")[0].rewording_of == ()
