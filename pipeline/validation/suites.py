"""Row rules of the forms as Great Expectations suites, built from ``pipeline/forms.py``.

The suites are derived from the forms by :func:`build_suite`, kept as JSON files in ``expectations/``
(``python -m pipeline.validation.suites`` rewrites them) and loaded from there at task time
(:func:`load_suite`); ``pipeline.validation.validate`` runs them.

Great Expectations is imported lazily: Airflow parses the DAG files that import this module, and
importing GX takes seconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import config
from pipeline.forms import FORMS, NO, YES, Column, Form

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.expectations.expectation import Expectation

ROW_ID = "_row_id"
SUBMISSION_ID = "submission_id"
PERIOD_START = "period_start"
PERIOD_END = "period_end"
#: Columns the frame a suite validates carries besides the form's own.
FRAME_COLUMNS = (ROW_ID, SUBMISSION_ID, PERIOD_START, PERIOD_END)
#: What every expectation's meta carries, so a failure can be blamed and explained.
META_KEYS = frozenset({"column", "column_label", "rule", "message_zh"})
SUITE_NOTES = "Generated from pipeline/forms.py by `python -m pipeline.validation.suites`; do not edit by hand."


def import_gx() -> Any:
    """Import great_expectations with analytics off; the variable must be set before the import."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations

    return great_expectations


def _meta(column: Column, rule: str, message_zh: str, label: str | None = None) -> dict[str, str]:
    return {
        "column": column.code,
        "column_label": label or column.label,
        "rule": rule,
        "message_zh": message_zh,
    }


def _column_expectations(form: Form, col: Column) -> list[Expectation]:
    """The expectations for one column's rules, in a fixed order."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column as Cond

    out: list[Expectation] = []
    if col.required:
        out.append(gxe.ExpectColumnValuesToNotBeNull(
            column=col.code, meta=_meta(col, "required", "必填项为空"),
        ))
    choices = (YES, NO) if col.type == "yesno" else col.choices
    if choices:
        out.append(gxe.ExpectColumnValuesToBeInSet(
            column=col.code, value_set=list(choices),
            meta=_meta(col, "choices", "只能填写：" + "、".join(choices)),
        ))
    if col.min_value is not None:
        out.append(gxe.ExpectColumnValuesToBeBetween(
            column=col.code, min_value=col.min_value,
            meta=_meta(col, "min", f"不能小于 {col.min_value}"),
        ))
    if col.required_when is not None:
        other_code, value = col.required_when
        other = form.column(other_code)
        out.append(gxe.ExpectColumnValuesToNotBeNull(
            column=col.code, row_condition=Cond(other_code) == value,
            meta=_meta(col, "required_when", f"{other.label}为“{value}”时必须填写{col.label}"),
        ))
        # A blank other column is its own "required" failure; blaming this column too would mislead.
        if other.type == "yesno" and value in (YES, NO):
            otherwise = f"为“{NO if value == YES else YES}”"
        else:
            otherwise = f"不是“{value}”"
        out.append(gxe.ExpectColumnValuesToBeNull(
            column=col.code,
            row_condition=Cond(other_code).is_not_null() & (Cond(other_code) != value),
            meta=_meta(col, "empty_unless", f"{other.label}{otherwise}时{col.label}应为空"),
        ))
    if col.date_rule == "in_period":
        meta = _meta(col, "date_in_period", f"{col.label}不在报告期所属月份内")
        out.append(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=col.code, column_B=PERIOD_START, or_equal=True,
            ignore_row_if="either_value_is_missing", meta=meta,
        ))
        out.append(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=PERIOD_END, column_B=col.code, or_equal=True,
            ignore_row_if="either_value_is_missing", meta=meta,
        ))
    elif col.date_rule == "not_after_period":
        out.append(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=PERIOD_END, column_B=col.code, or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta=_meta(col, "date_not_after_period", f"{col.label}晚于报告期所属月份"),
        ))
    if col.not_before is not None:
        other = form.column(col.not_before)
        out.append(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=col.code, column_B=other.code, or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta=_meta(col, "not_before", f"{col.label}早于{other.label}"),
        ))
    if col.not_above is not None:
        other = form.column(col.not_above)
        out.append(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=other.code, column_B=col.code, or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta=_meta(col, "not_above", f"{col.label}大于{other.label}"),
        ))
    if col.zero_when_zero is not None:
        other = form.column(col.zero_when_zero)
        out.append(gxe.ExpectColumnValuesToBeBetween(
            column=col.code, min_value=0, max_value=0, row_condition=Cond(other.code) == 0,
            meta=_meta(col, "zero_when_zero", f"{other.label}为 0 时{col.label}应为 0"),
        ))
    return out


def build_suite(form: Form) -> dict[str, Any]:
    """The form's expectation suite as ``ExpectationSuite.to_json_dict()`` gives it, named ``form.code``."""
    gx = import_gx()
    import great_expectations.expectations as gxe

    expectations = [e for col in form.columns for e in _column_expectations(form, col)]
    if form.unique_key:
        first = form.column(form.unique_key[0])
        label = "、".join(form.column(code).label for code in form.unique_key)
        expectations.append(gxe.ExpectCompoundColumnsToBeUnique(
            column_list=[SUBMISSION_ID, *form.unique_key],
            # A blank key is reported as "required"; it should not also count as a duplicate.
            ignore_row_if="any_value_is_missing",
            meta=_meta(first, "unique", f"{label}在本表中重复", label=label),
        ))
    from pipeline.validation.verification import expectations as verification_expectations

    expectations += verification_expectations(form)
    # Passing the expectations to the constructor needs no Data Context; add_expectation() does.
    suite = gx.ExpectationSuite(name=form.code, expectations=expectations, notes=SUITE_NOTES)
    return suite.to_json_dict()


def render_suite(suite: dict[str, Any]) -> str:
    """The suite's file text: sorted keys so the committed JSON diffs cleanly."""
    return json.dumps(suite, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def suite_path(form: Form, directory: Path | None = None) -> Path:
    """Where the form's suite file lives (``EXPECTATIONS_DIR`` as it is at call time)."""
    return (directory or config.EXPECTATIONS_DIR) / f"{form.code}.json"


def write_suites(directory: Path | None = None) -> list[Path]:
    """Write ``<form.code>.json`` for every form into ``directory`` (default ``EXPECTATIONS_DIR``)."""
    directory = directory or config.EXPECTATIONS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for form in FORMS.values():
        path = suite_path(form, directory)
        path.write_text(render_suite(build_suite(form)), encoding="utf-8")
        paths.append(path)
    return paths


def load_suite(form: Form, directory: Path | None = None) -> ExpectationSuite:
    """The form's suite, read from its JSON file now (not rebuilt from the form)."""
    gx = import_gx()
    path = suite_path(form, directory)
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        suite = gx.ExpectationSuite(**data)
    except ValueError as exc:  # pydantic refuses bad kwargs
        raise ValueError(f"{path}: invalid expectation: {exc}") from exc
    # The constructor logs and drops an expectation of unknown type; a thinner suite must not pass.
    if len(suite.expectations) != len(data.get("expectations", [])):
        raise ValueError(f"{path}: invalid expectation: unknown type")
    if suite.name != form.code:
        raise ValueError(f"{path}: suite is named {suite.name!r}, not {form.code!r}")
    for expectation in suite.expectations:
        if not set(expectation.meta or {}) >= META_KEYS:
            lacking = sorted(META_KEYS - set(expectation.meta or {}))
            name = expectation.expectation_type
            raise ValueError(f"{path}: invalid expectation: {name} lacks meta {lacking}")
    return suite


if __name__ == "__main__":
    for written in write_suites():
        print(written)
