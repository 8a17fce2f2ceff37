"""A form column's filling rules in words: one walk over the rule kinds, each rule in Chinese and English.

The template's 填表说明 and prompts (``workbook.column_rule``) read the Chinese; ``docs/forms-reference.md``
(``forms_doc``) reads the English.
"""

from __future__ import annotations

from typing import NamedTuple

from pipeline.forms import NO, YES, Column, Form


class Rule(NamedTuple):
    """One rule of a column. ``en`` is None where the reference says it elsewhere (stock/flow) or not at all
    (the formats a clerk types)."""

    kind: str
    zh: str
    en: str | None


def column_rules(form: Form, col: Column) -> list[Rule]:
    """The rules of one column, in the order the template lists them."""
    labels = form.labels
    rules: list[Rule] = []
    if col.required:
        rules.append(Rule("required", "必填", "required"))
    elif col.required_when:
        other, value = col.required_when
        rules.append(Rule("required_when", f"“{labels[other]}”为“{value}”时必填，否则留空",
                          f"required when {labels[other]} is {value}, empty otherwise"))
    else:
        rules.append(Rule("optional", "选填", "optional"))
    if form.unique_key == (col.code,):
        rules.append(Rule("unique", "同一报表内不得重复", "unique within a return"))
    if col.type == "enum":
        rules.append(Rule("choices", "可选值：" + "、".join(col.choices), " / ".join(col.choices)))
    elif col.type == "yesno":
        rules.append(Rule("yesno", f"填“{YES}”或“{NO}”", None))
    elif col.type == "date":
        rules.append(Rule("date_format", "格式如2020-12-03", None))
    if col.min_value is not None:
        rules.append(Rule("min_value", f"≥{col.min_value}", f"≥ {col.min_value}"))
    if col.not_above:
        rules.append(Rule("not_above", f"不得大于“{labels[col.not_above]}”", f"≤ {labels[col.not_above]}"))
    if col.zero_when_zero:
        rules.append(Rule("zero_when_zero", f"“{labels[col.zero_when_zero]}”为0时填0",
                          f"0 when {labels[col.zero_when_zero]} is 0"))
    if col.date_rule == "in_period":
        rules.append(Rule("in_period", "须在报告期所属月份内", "inside the reporting month"))
    elif col.date_rule == "not_after_period":
        rules.append(Rule("not_after_period", "不得晚于报告期所属月份的最后一天",
                          "not after the reporting month's end"))
    if col.not_before:
        rules.append(Rule("not_before", f"不得早于“{labels[col.not_before]}”", f"not before {labels[col.not_before]}"))
    if col.measure == "stock":
        rules.append(Rule("stock", "填月末数", None))
    elif col.measure == "flow":
        rules.append(Rule("flow", "填本月发生数", None))
    if col.note:
        rules.append(Rule("note", col.note, f"说明：{col.note}"))
    return rules
