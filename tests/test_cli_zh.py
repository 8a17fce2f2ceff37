"""What the terminal tells an operator is Chinese: the consolidation summary, ingest lines, open problems."""

from __future__ import annotations

import pytest

from pipeline.cli import consolidation_summary
from pipeline.figures.definitions import find_figure
from pipeline.ingest import MonthReport
from pipeline.operations.problems_report import format_open_problems

pytestmark = pytest.mark.unit


def test_consolidate_prints_a_readable_summary_not_a_dict() -> None:
    text = consolidation_summary({"year": 2020, "unchanged": False, "figures": 32, "out": "/o/2020",
                                  "published_version": 2, "changed_since_publication": ["inspection_entities"]})
    assert text.splitlines() == [
        "2020年汇总完成：32项指标",
        "输出文件：/o/2020（figures.csv、figures.xlsx）",
        "与已发布第2版相比有变化的指标：抽取检查对象户数（python -m pipeline changes --year 2020）",
    ]
    assert "{" not in text
    assert "尚未发布任何版本" in consolidation_summary(
        {"year": 2020, "unchanged": False, "figures": 32, "out": "/o", "published_version": None,
         "changed_since_publication": []})
    unchanged = consolidation_summary({"year": 2020, "unchanged": True, "out": "/o"})
    assert unchanged.startswith("2020年：报表与上次汇总时相同")


def test_find_figure_by_code_label_or_unique_part() -> None:
    assert find_figure("inspection_entities") == "inspection_entities"
    assert find_figure("出庭") == "head_appearance_rate"
    with pytest.raises(LookupError) as several:
        find_figure("行政复议")
    assert len(several.value.args[0]) > 1
    with pytest.raises(LookupError) as none:
        find_figure("火星")
    assert none.value.args[0] == []


def test_ingest_and_problem_lines_are_chinese() -> None:
    report = MonthReport(period="2020-12", refused_files=[("a.xlsx", ["文件为空"])])
    assert report.lines() == ["2020-12：收到0个文件，入库0张报表（其中“本月无”0张），退回0张", "  退回《a.xlsx》：",
                              "    - 文件为空"]
    assert format_open_problems("2020-12", []) == "2020-12：没有待处理的问题"
