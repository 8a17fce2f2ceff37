"""The report's figure sentences, in its own phrasing, filled from the stored figures.

The sentences and their sections come from ``pipeline/data/report-text.toml``; the numbers from the
``figure`` table, shown by the report's rules (``pipeline.figures.definitions.display``). Written as Markdown
and as a ``.docx`` report authors paste from, with the change on the previous year where the
warehouse has it.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline import atomic
from pipeline.config import PACKAGE_DATA
from pipeline.figures.consolidate import stored_figures
from pipeline.figures.definitions import LABELS_ZH, display, figure_specs
from pipeline.periods import local_time
from pipeline.warehouse.schema import publication

REPORT_TEXT = PACKAGE_DATA / "report-text.toml"
PLACEHOLDER = re.compile(r"\{([a-z0-9_]+)\}")
MARKDOWN_NAME = "report-figures.md"
DOCX_NAME = "report-figures.docx"


@dataclass(frozen=True)
class Section:
    number: str
    heading: str
    sentences: tuple[str, ...]

    @property
    def title(self) -> str:
        return f"{self.number}、{self.heading}"


@dataclass(frozen=True)
class Cue:
    before: re.Pattern[str]
    after: re.Pattern[str] | None


@lru_cache(maxsize=1)
def report_text() -> tuple[tuple[Section, ...], dict[str, Cue]]:
    """The sections with their sentence templates, and each figure's cues for checking a draft."""
    data = tomllib.loads(REPORT_TEXT.read_text(encoding="utf-8"))
    sections = tuple(Section(s["number"], s["heading"], tuple(s["sentences"])) for s in data["section"])
    cues = {
        code: Cue(re.compile(c["before"]), re.compile(c["after"]) if c.get("after") else None)
        for code, c in data["cue"].items()
    }
    return sections, cues


@dataclass
class Sentence:
    text: str
    codes: list[str]
    missing: list[str] = field(default_factory=list)
    #: One line per cited figure with last year's value, e.g. 检查任务数 104项（2019年：98项，增加6项，+6.1%）.
    changes: list[str] = field(default_factory=list)


@dataclass
class ReportText:
    year: int
    as_of_utc: dt.datetime | None
    published_version: int | None
    previous_year_available: bool
    sections: list[tuple[Section, list[Sentence]]]


def _number(value: float) -> str:
    return f"{int(value)}" if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


def year_on_year(code: str, now: dict, before: dict, year: int) -> str:
    """``检查任务数 104项（2019年：98项，增加6项，+6.1%）`` with exact values of both years."""
    unit = now["unit_zh"]
    new, old = float(now["value"]), float(before["value"])
    delta = new - old
    if delta == 0:
        change = "持平"
    else:
        word = "增加" if delta > 0 else "减少"
        amount = f"{_number(abs(delta))}个百分点" if unit == "%" else f"{_number(abs(delta))}{unit}"
        change = f"{word}{amount}" + (f"，{delta / old * 100:+.1f}%" if old and unit != "%" else "")
    shown_now = display(new, unit, False)
    shown_before = display(old, unit, False)
    return f"{LABELS_ZH.get(code, code)} {shown_now}（{year - 1}年：{shown_before}，{change}）"


def build_report(engine: Engine, year: int) -> ReportText:
    """Fill every sentence with ``year``'s stored figures; year-on-year where ``year - 1`` is stored."""
    figures = {f["code"]: f for f in stored_figures(engine, year)}
    previous = {f["code"]: f for f in stored_figures(engine, year - 1)}
    with engine.connect() as conn:
        version = conn.execute(
            sa.select(sa.func.max(publication.c.version)).where(publication.c.year == year)
        ).scalar()
    sections, _ = report_text()
    out: list[tuple[Section, list[Sentence]]] = []
    for section in sections:
        sentences = []
        for template in section.sentences:
            codes = PLACEHOLDER.findall(template)
            sentence = Sentence(text="", codes=codes)

            def fill(match: re.Match[str], sentence: Sentence = sentence) -> str:
                code = match.group(1)
                row = figures.get(code)
                if row is None:
                    sentence.missing.append(code)
                    return f"【缺数：{LABELS_ZH.get(code, code)}】"
                return row["display_zh"]

            sentence.text = PLACEHOLDER.sub(fill, template)
            sentence.changes = [
                year_on_year(code, figures[code], previous[code], year)
                for code in codes
                if code in figures and code in previous and previous[code]["contributing_submissions"]
            ]
            sentences.append(sentence)
        out.append((section, sentences))
    as_of = max((f["as_of_utc"] for f in figures.values() if f["as_of_utc"]), default=None)
    return ReportText(year=year, as_of_utc=as_of, published_version=version,
                      previous_year_available=any(f["contributing_submissions"] for f in previous.values()),
                      sections=out)




def _preamble(report: ReportText) -> list[str]:
    version = f"第{report.published_version}版" if report.published_version else "尚未发布"
    lines = [
        f"数据截至：{local_time(report.as_of_utc)}；已发布版本：{version}。",
        "以下各句的数字取自全区月报汇总结果，可直接粘贴到报告中；“同比”各行供核对，不入正文。",
    ]
    if not report.previous_year_available:
        lines.append(f"数据仓库中没有{report.year - 1}年的汇总结果，不列同比。")
    return lines


def to_markdown(report: ReportText) -> str:
    lines = [f"# {report.year}年法治政府建设年度报告：统计数据段落", ""]
    lines += [line + "  " for line in _preamble(report)]
    for section, sentences in report.sections:
        lines += ["", f"## {section.title}", ""]
        for sentence in sentences:
            lines += [sentence.text, ""]
            if sentence.changes:
                lines += ["> 同比：" + "；".join(sentence.changes), ""]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip() + "\n"


def _east_asian_font(run, name: str) -> None:
    """python-docx sets only the Latin font; Chinese text needs w:eastAsia too."""
    from docx.oxml.ns import qn

    run.font.name = name
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), name)


def write_docx(report: ReportText, path: Path) -> Path:
    """The same text as a Word document: headings per section, sentences as body paragraphs."""
    from docx import Document
    from docx.shared import Pt, RGBColor

    doc = Document()
    title = doc.add_heading(level=1)
    _east_asian_font(title.add_run(f"{report.year}年法治政府建设年度报告：统计数据段落"), "黑体")
    for line in _preamble(report):
        para = doc.add_paragraph()
        run = para.add_run(line)
        run.font.size = Pt(9)
        run.font.color.rgb = RGBColor(0x59, 0x59, 0x59)
        _east_asian_font(run, "宋体")
    for section, sentences in report.sections:
        heading = doc.add_heading(level=2)
        _east_asian_font(heading.add_run(section.title), "黑体")
        for sentence in sentences:
            para = doc.add_paragraph()
            run = para.add_run(sentence.text)
            run.font.size = Pt(12)
            _east_asian_font(run, "仿宋")
            if sentence.changes:
                note = doc.add_paragraph()
                run = note.add_run("同比：" + "；".join(sentence.changes))
                run.font.size = Pt(9)
                run.font.color.rgb = RGBColor(0x59, 0x59, 0x59)
                _east_asian_font(run, "宋体")
    atomic.save(path, doc.save)
    return path


def write_report(engine: Engine, year: int, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report-figures.md`` and ``report-figures.docx`` for ``year`` into ``out_dir``."""
    report = build_report(engine, year)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / MARKDOWN_NAME
    atomic.write_text(markdown, to_markdown(report))
    return markdown, write_docx(report, out_dir / DOCX_NAME)


def template_codes() -> list[str]:
    """Every figure code the sentences cite, in report order of first use."""
    sections, _ = report_text()
    return list(dict.fromkeys(c for s in sections for t in s.sentences for c in PLACEHOLDER.findall(t)))


def check_template() -> list[str]:
    """Problems of the data file: figures not cited, cited but unknown, or without a cue."""
    specs = figure_specs()
    codes = template_codes()
    _, cues = report_text()
    problems = [f"figure {c} is not in any sentence" for c in specs if c not in codes]
    problems += [f"sentence cites unknown figure {c}" for c in codes if c not in specs]
    problems += [f"figure {c} has no cue" for c in specs if c not in cues]
    return problems
