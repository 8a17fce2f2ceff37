"""Check a draft report against the warehouse: every number it cites, next to the phrase it belongs to.

Each Arabic number in the draft is one of:

- ``confirmed``: it stands where a figure's cues (``pipeline/data/report-text.toml``) say that
  figure is cited, and it agrees with the stored figure as the report shows figures (``80余项``
  agrees with 84; an exact ``84项`` must equal it);
- ``differs``: it stands where a figure is cited but disagrees (report says X, data says Y);
- ``not_backed``: it looks like a statistic (a count with a measure word, a percentage, an amount)
  but no figure is cited there, or the figure has no stored value for the year;
- ``ignored``: not a statistic: a date or year (``2019年12月31日``, ``12月底``), inside a title
  ``《…》`` (``2015-2020``), a threshold (``500人以上的``), a house number (``10号``), or a bare
  number without a measure word. Numbers written in Chinese (十九届, 七五, 十三五, 一是) are never
  taken for figures.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import Engine

from pipeline.figures.consolidate import stored_figures
from pipeline.figures.definitions import LABELS_ZH, display, figure_specs
from pipeline.outputs.report import report_text

Status = Literal["confirmed", "differs", "not_backed", "ignored"]
STATUS_ZH = {"confirmed": "一致", "differs": "不一致", "not_backed": "无数据支撑", "ignored": "非统计数字"}

_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d])")
_SENTENCE_END = "。!?;\n"
_DATE_AFTER = re.compile(r"^(年|月|日|时|点|周岁)")
_NUMBERING_AFTER = re.compile(r"^(号|届|楼|室|栋)")
_YEAR_RANGE = re.compile(r"^-\d{4}")
_THRESHOLD_AFTER = re.compile(r"^[^\d,。]{0,3}(以上|以下|及以上|以内)的")
_THRESHOLD_BEFORE = re.compile(r"(规模在|超过|不少于|不低于|不超过|满)$")
_MEASURE = re.compile(r"^(余|多)?(个|项|件|名|人|家|次|场|份|起|户|%|万|元|所|批|篇|条|期|民|支|处|座|宗|笔|例|部|本)")
_QUALIFIED = re.compile(r"^(余|多)|^\D{0,2}?(以上|左右|多)")


@dataclass(frozen=True)
class Finding:
    status: Status
    #: The number as written with its qualifier and unit, e.g. ``80余项``.
    written: str
    number: float
    line: int
    context: str
    code: str | None = None
    #: The figure as the data give it (display), for confirmed and differs.
    data: str | None = None
    reason: str = ""
    #: not_backed: uncited figures whose value this number agrees with (a likely rewording of them).
    rewording_of: tuple[str, ...] = ()
    #: The cue that would make the check find the figure here: ``before = "…$"``.
    cue_hint: str = ""

    def describe_zh(self) -> str:
        where = f"第{self.line}行“…{self.context}…”"
        if self.status == "confirmed":
            return f"一致：{self.written}（{LABELS_ZH[self.code]}，数据为{self.data}） {where}"
        if self.status == "differs":
            return f"不一致：报告写“{self.written}”，数据为“{self.data}”（{LABELS_ZH[self.code]}） {where}"
        if self.status == "not_backed" and self.rewording_of:
            which = "或".join(f"“{LABELS_ZH[c]}”（{c}）" for c in self.rewording_of)
            return (f"无数据支撑：“{self.written}”{self.reason} {where}\n"
                    f"    可能是报告未引用的指标{which}的另一种写法（数据为{self.data}）：核实后在"
                    f" pipeline/data/report-text.toml 的 [cue] 中为该指标加上 {self.cue_hint}")
        if self.status == "not_backed":
            return f"无数据支撑：“{self.written}”{self.reason} {where}"
        return f"非统计数字（{self.reason}）：{self.written} {where}"


@dataclass
class CheckResult:
    year: int
    findings: list[Finding]
    #: Figures of the year that the draft does not cite.
    not_cited: list[str]

    def by_status(self, status: Status) -> list[Finding]:
        return [f for f in self.findings if f.status == status]

    @property
    def ok(self) -> bool:
        return not self.by_status("differs") and not self.by_status("not_backed")


def read_draft(path: Path) -> str:
    """The text of a draft: a ``.docx`` (paragraphs and tables) or a UTF-8 (or GB18030) text file."""
    if path.suffix.lower() == ".docx":
        from docx import Document

        doc = Document(str(path))
        parts = [p.text for p in doc.paragraphs]
        for table in doc.tables:
            for row in table.rows:
                parts.append("\t".join(cell.text for cell in row.cells))
        return "\n".join(parts)
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _written(after: str, number: str) -> tuple[str, bool]:
    """The number with its qualifier and unit as written, and whether it is approximate."""
    match = re.match(r"^(余|多)?(%|[^\d\s,。;:()、\-]{1})?(以上|左右|多)?", after)
    suffix = match.group(0) if match else ""
    return number + suffix, bool(_QUALIFIED.match(after))


def agrees(number: float, approximate: bool, value: float, unit: str) -> bool:
    """Whether a number as written stands for ``value``: ``80余`` for 80 … 89, ``90%以上`` for ≥ 90 …
    < 100, ``1000余`` for 1000 … 1099; an exact number must equal the value at its written precision."""
    if approximate:
        step = 10 if unit == "%" or number < 1000 else 100
        return math.floor(value / step) * step == number
    decimals = 0 if float(number).is_integer() else len(str(number).split(".")[1])
    return round(value, decimals) == number


def _ignored_reason(text: str, start: int, end: int, before: str, after: str) -> str | None:
    opened = text.rfind("《", 0, start)
    if opened != -1 and text.rfind("》", 0, start) < opened:
        return "文件名称中的数字"
    if _DATE_AFTER.match(after) or (_YEAR_RANGE.match(after) and len(text[start:end]) == 4):
        return "日期或年份"
    if re.search(r"\d{4}-$", before) and len(text[start:end]) == 4:
        return "日期或年份"
    if _NUMBERING_AFTER.match(after):
        return "门牌号或编号"
    return None


def check_text(text: str, figures: dict[str, dict], year: int) -> CheckResult:
    """Classify every Arabic number of ``text`` against ``figures`` (code → stored figure row)."""
    text = unicodedata.normalize("NFKC", text)
    specs = figure_specs()
    _, cues = report_text()
    findings: list[Finding] = []
    cited: set[str] = set()
    #: index in findings → (approximate, text before the number) of numbers no cue claims.
    unclaimed: dict[int, tuple[bool, str]] = {}
    for match in _NUMBER.finditer(text):
        start, end = match.span()
        sentence_start = max(text.rfind(ch, 0, start) for ch in _SENTENCE_END) + 1
        ends = [i for ch in _SENTENCE_END if (i := text.find(ch, end)) != -1]
        before = text[sentence_start:start]
        after = text[end:min(ends) if ends else len(text)]
        raw = match.group(0)
        number = float(raw)
        line = text.count("\n", 0, start) + 1
        context = text[max(sentence_start, start - 14):min(end + 12, len(text))].replace("\n", " ")
        written, approximate = _written(after, raw)
        reason = _ignored_reason(text, start, end, before, after)
        if reason:
            findings.append(Finding("ignored", written, number, line, context, reason=reason))
            continue
        code = next(
            (c for c, cue in cues.items()
             if cue.before.search(before) and (cue.after is None or cue.after.match(after))),
            None,
        )
        if code is not None:
            cited.add(code)
            row = figures.get(code)
            if row is None:
                findings.append(Finding("not_backed", written, number, line, context, code=code,
                                        reason=f"：数据仓库中没有{year}年的“{LABELS_ZH[code]}”"))
                continue
            value, unit = float(row["value"]), specs[code].unit
            status: Status = "confirmed" if agrees(number, approximate, value, unit) else "differs"
            shown = row["display_zh"]
            if status == "differs" and specs[code].approx:
                shown = f"{display(value, unit, False)}（{shown}）"
            findings.append(Finding(status, written, number, line, context, code=code, data=shown))
            continue
        if _THRESHOLD_AFTER.match(after) or _THRESHOLD_BEFORE.search(before):
            findings.append(Finding("ignored", written, number, line, context, reason="条件或门槛"))
        elif _MEASURE.match(after):
            unclaimed[len(findings)] = (approximate, before)
            findings.append(Finding("not_backed", written, number, line, context,
                                    reason="：像统计数字，但不在任何指标的表述位置"))
        else:
            findings.append(Finding("ignored", written, number, line, context, reason="没有计量单位的数字"))
    not_cited = [c for c in specs if c in figures and c not in cited]
    for index, (approximate, before) in unclaimed.items():
        f = findings[index]
        suffix = f.written[len(_NUMBER.match(f.written).group(0)):]
        matches = tuple(c for c in not_cited if specs[c].unit in suffix
                        and agrees(f.number, approximate, float(figures[c]["value"]), specs[c].unit))
        if matches:
            findings[index] = dataclasses.replace(
                f, rewording_of=matches, data="、".join(figures[c]["display_zh"] for c in matches),
                cue_hint=cue_hint(before))
    return CheckResult(year=year, findings=findings, not_cited=not_cited)


def cue_hint(before: str, length: int = 6) -> str:
    """A ``before`` cue for the words right before a number: its last few characters, anchored at the end."""
    words = re.split(r"[,，、;；:：()（）\s]", before.strip())[-1] or before.strip()
    return f'before = "{re.escape(words[-length:])}$"'


def check_report(engine: Engine, path: Path, year: int) -> CheckResult:
    """Check the draft at ``path`` against ``year``'s stored figures."""
    figures = {f["code"]: f for f in stored_figures(engine, year)}
    return check_text(read_draft(path), figures, year)


def format_result(result: CheckResult, *, show_ignored: bool = True) -> str:
    counts = {s: len(result.by_status(s)) for s in STATUS_ZH}
    lines = [
        f"{result.year}年报告核对：一致 {counts['confirmed']} 处，不一致 {counts['differs']} 处，"
        f"无数据支撑 {counts['not_backed']} 处，非统计数字 {counts['ignored']} 处。"
    ]
    order: tuple[Status, ...] = ("differs", "not_backed", "confirmed")
    for status in order:
        items = result.by_status(status)
        if items:
            lines += ["", f"【{STATUS_ZH[status]}】"]
            lines += [f"  {f.describe_zh()}" for f in items]
    if result.not_cited:
        reworded = {c: f for f in result.by_status("not_backed") for c in f.rewording_of}
        lines += ["", "【报告未引用的指标】"]
        lines += [f"  {LABELS_ZH[c]}（{c}）" + (f"：可能即第{reworded[c].line}行的“{reworded[c].written}”（见上）"
                                                if c in reworded else "") for c in result.not_cited]
    if show_ignored and result.by_status("ignored"):
        lines += ["", "【未作为统计数字核对】"]
        lines += [f"  {f.describe_zh()}" for f in result.by_status("ignored")]
    return "\n".join(lines)
