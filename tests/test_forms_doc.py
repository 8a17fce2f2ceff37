"""The forms reference in docs/ is what pipeline/forms.py generates, and says what the forms say."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.forms import FORMS, LITIGATION, TRAINING
from pipeline.outputs.forms_doc import REFERENCE_PATH, render_form, render_reference, write_reference
from pipeline.outputs.rule_text import column_rules
from pipeline.outputs.workbook import column_rule

pytestmark = pytest.mark.unit


def test_committed_reference_matches_forms() -> None:
    assert REFERENCE_PATH.read_text(encoding="utf-8") == render_reference(), (
        "run `python -m pipeline.outputs.forms_doc`"
    )


def test_reference_has_every_form_and_column() -> None:
    text = render_reference()
    for form in FORMS.values():
        assert f"## {form.sheet} (`{form.code}`)" in text
        assert f"`{form.table}`" in text
        for col in form.columns:
            assert f"| {col.label} | `{col.code}` |" in text


def test_aggregate_columns_say_stock_or_flow() -> None:
    rows = [line for line in render_form(TRAINING).splitlines() if line.startswith("| 持证执法人员数")]
    assert rows == ["| 持证执法人员数 | `certified_officers` | integer | stock | required; ≥ 0 |"]


def test_conditional_and_cross_column_rules_are_written_out() -> None:
    text = render_form(LITIGATION)
    assert ("| 开庭日期 | `hearing_on` | date | required when 本月是否开庭 is 是, empty otherwise; "
            "inside the reporting month; not before 收案日期 |") in text
    assert "stock/flow" not in text  # a register has no stocks or flows


def test_write_reference_writes_the_rendered_text(tmp_path: Path) -> None:
    path = write_reference(tmp_path / "docs" / "forms-reference.md")
    assert path.read_text(encoding="utf-8") == render_reference()
    assert [p.name for p in path.parent.iterdir()] == ["forms-reference.md"]  # no temporary file left


def test_template_and_reference_word_the_same_rules() -> None:
    # Only the formats a clerk types and stock/flow (the reference's own column) are template-only.
    template_only = {"yesno", "date_format", "stock", "flow"}
    for form in FORMS.values():
        rendered = render_form(form).splitlines()
        for col in form.columns:
            row = next(line for line in rendered if line.startswith(f"| {col.label} | `{col.code}` |"))
            for rule in column_rules(form, col):
                assert rule.zh in column_rule(form, col), (form.code, col.code, rule)
                assert (rule.en is None) == (rule.kind in template_only), (form.code, col.code, rule)
                assert rule.en is None or rule.en in row, (form.code, col.code, rule)
    exam = TRAINING.column("exam_passed")
    other = TRAINING.column(exam.not_above).label
    assert [r.kind for r in column_rules(TRAINING, exam)] == ["required", "min_value", "not_above", "flow"]
    assert f"不得大于“{other}”" in column_rule(TRAINING, exam)
    assert f"| {exam.label} | `exam_passed` | integer | flow | required; ≥ 0; ≤ {other} |" in render_form(TRAINING)
