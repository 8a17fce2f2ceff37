"""The expectation suites derived from the forms, and validation of parsed frames against them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipeline import config
from pipeline.forms import (
    FORMS,
    INSPECTION,
    LEGAL_AID,
    LITIGATION,
    MEDIATION,
    RECONSIDERATION,
    TRAINING,
    TRANSFER,
    VERIFY_NOTE,
    Form,
)
from pipeline.validation.suites import build_suite, load_suite, render_suite, suite_path, write_suites
from pipeline.validation.validate import RuleFailure, build_data_docs, validate_frame

pytestmark = pytest.mark.unit

PERIOD_START = pd.Timestamp("2024-01-01")
PERIOD_END = pd.Timestamp("2024-01-31")

GOOD: dict[str, dict[str, Any]] = {
    "inspection": {
        "task_id": "JC-001", "task_name": "餐饮单位检查", "method": "双随机", "entities_sampled": 12,
        "joint": "否", "joint_id": None, "completed_on": "2024-01-15", "issues_found": 0,
    },
    "transfer": {
        "transfer_id": "YS-001", "offence": "生产销售不符合安全标准的食品", "domain": "食品药品",
        "transferred_on": "2024-01-10", "receiver": "常州市公安局钟楼分局", "police_decision": "已立案",
        "filed_on": "2024-01-20",
    },
    "training": {
        "certified_officers": 40, "exam_takers": 5, "exam_passed": 4,
        "training_sessions": 2, "trained_officers": 30,
    },
    "general": {
        "study_sessions": 1, "devolved_powers": 239, "registrations_total": None, "registrations_online": None,
    },
    "legality_review": {"documents_reviewed": 5, "contracts_reviewed": 3, "research_meetings": 0},
    "legal_adviser": {"matters_handled": 9, "opinions_issued": 6, "contracts_reviewed": 3, "meetings_attended": 2},
    "mediation": {
        "surveyed_enterprises": 3, "enterprise_mediation_orgs": 1, "health_check_reports": 0,
        "family_studios_new": 1, "service_teams": 12, "grids_covered": 130,
    },
    "reconsideration": {
        "case_id": "FY-001", "category": "工伤认定", "respondent": "区人力资源和社会保障局",
        "accepted_on": "2023-12-20", "status": "已结案", "closed_on": "2024-01-18", "outcome": "维持",
        "suggestion_letters": 1, "opinion_letters": 0,
    },
    "litigation": {
        "case_id": "SS-001", "cause": "政府信息公开", "defendant": "钟楼区人民政府", "received_on": "2023-11-02",
        "hearing_held": "是", "hearing_on": "2024-01-09", "head_appeared": "是", "status": "审理中",
        "closed_on": None, "outcome": None,
    },
    "legal_aid": {"workers_helped": 12, "wages_recovered_yuan": 734_500},
    "petition": {"risks_found": 40, "risks_resolved": 37},
}


def make_frame(form: Form, rows: list[dict[str, Any]], *, text_dtype: str = "str") -> pd.DataFrame:
    """A frame as the parser hands it over: typed columns, row ids from 1, one month."""
    data: dict[str, Any] = {
        "_row_id": pd.array([r.get("_row_id", i) for i, r in enumerate(rows, start=1)], dtype="int64"),
        "submission_id": [r.get("submission_id", "sub-1") for r in rows],
        "period_start": pd.to_datetime([PERIOD_START] * len(rows)),
        "period_end": pd.to_datetime([PERIOD_END] * len(rows)),
    }
    for col in form.columns:
        values = [r.get(col.code) for r in rows]
        if col.type == "int":
            data[col.code] = pd.array(values, dtype="Int64")
        elif col.type == "date":
            data[col.code] = pd.to_datetime(pd.Series(values, dtype=object))
        else:
            data[col.code] = pd.Series(values, dtype=text_dtype)
    return pd.DataFrame(data)


def check(form: Form, bad: dict[str, Any]) -> list[tuple[int, str, str]]:
    """Failures of one good row (id 1) and one row changed by ``bad`` (id 2)."""
    good = GOOD[form.code]
    # A key of its own, so that the two rows are not duplicates unless ``bad`` says so.
    changed = {**good, **{code: "KEY-2" for code in form.unique_key}, **bad}
    return [(f.row_id, f.column, f.rule) for f in validate_frame(form, make_frame(form, [good, changed]))]


@pytest.mark.parametrize("text_dtype", ["str", "object"])
@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_good_rows_pass(form: Form, text_dtype: str) -> None:
    rows = [GOOD[form.code], {**GOOD[form.code], "submission_id": "sub-2"}]
    assert validate_frame(form, make_frame(form, rows, text_dtype=text_dtype)) == []


@pytest.mark.parametrize(
    ("form", "bad", "column", "rule"),
    [
        (INSPECTION, {"task_id": None}, "task_id", "required"),
        (INSPECTION, {"task_name": None}, "task_name", "required"),
        (INSPECTION, {"method": "抽查"}, "method", "choices"),
        (INSPECTION, {"entities_sampled": -1}, "entities_sampled", "min"),
        (INSPECTION, {"entities_sampled": None}, "entities_sampled", "required"),
        (INSPECTION, {"joint": "Y"}, "joint", "choices"),
        (INSPECTION, {"joint": "是", "joint_id": None}, "joint_id", "required_when"),
        (INSPECTION, {"joint": "否", "joint_id": "LH-7"}, "joint_id", "empty_unless"),
        (INSPECTION, {"completed_on": "2023-12-31"}, "completed_on", "date_in_period"),
        (INSPECTION, {"completed_on": "2024-02-01"}, "completed_on", "date_in_period"),
        (INSPECTION, {"completed_on": None}, "completed_on", "required"),
        (INSPECTION, {"issues_found": -3}, "issues_found", "min"),
        (TRANSFER, {"domain": "食品"}, "domain", "choices"),
        (
            TRANSFER, {"transferred_on": "2024-02-01", "police_decision": "待定", "filed_on": None},
            "transferred_on", "date_not_after_period",
        ),
        (TRANSFER, {"police_decision": "已立案", "filed_on": None}, "filed_on", "required_when"),
        (TRANSFER, {"police_decision": "待定", "filed_on": "2024-01-20"}, "filed_on", "empty_unless"),
        (TRANSFER, {"filed_on": "2024-02-02"}, "filed_on", "date_not_after_period"),
        (TRANSFER, {"filed_on": "2024-01-09"}, "filed_on", "not_before"),
        (TRANSFER, {"receiver": None}, "receiver", "required"),
        (TRAINING, {"certified_officers": None}, "certified_officers", "required"),
        (TRAINING, {"training_sessions": -1}, "training_sessions", "min"),
        (TRAINING, {"exam_passed": 6}, "exam_passed", "not_above"),
        (TRAINING, {"training_sessions": 0, "trained_officers": 3}, "trained_officers", "zero_when_zero"),
        (
            RECONSIDERATION, {"status": "审理中", "outcome": None, "suggestion_letters": None, "opinion_letters": None},
            "closed_on", "empty_unless",
        ),
        (RECONSIDERATION, {"closed_on": "2023-12-01"}, "closed_on", "not_before"),
        (LITIGATION, {"hearing_on": "2023-12-30"}, "hearing_on", "date_in_period"),
        (LITIGATION, {"head_appeared": None}, "head_appeared", "required_when"),
        (MEDIATION, {"enterprise_mediation_orgs": 4}, "enterprise_mediation_orgs", "not_above"),
        (LEGAL_AID, {"workers_helped": 0}, "wages_recovered_yuan", "zero_when_zero"),
    ],
)
def test_rule_fires_on_bad_row_only(form: Form, bad: dict[str, Any], column: str, rule: str) -> None:
    assert check(form, bad) == [(2, column, rule)]


@pytest.mark.parametrize(
    ("form", "edge"),
    [
        (INSPECTION, {"completed_on": "2024-01-01"}),
        (INSPECTION, {"completed_on": "2024-01-31"}),
        (INSPECTION, {"joint": "是", "joint_id": "LH-7"}),
        (INSPECTION, {"entities_sampled": 0, "issues_found": None}),
        (TRANSFER, {"transferred_on": "2023-06-01", "filed_on": "2024-01-31"}),
        (TRANSFER, {"filed_on": "2024-01-10"}),
        (TRANSFER, {"police_decision": "不予立案", "filed_on": None}),
        (TRAINING, {"exam_takers": 4, "exam_passed": 4}),
        (TRAINING, {"training_sessions": 0, "trained_officers": 0}),
        (TRAINING, {"exam_takers": 0, "exam_passed": 0, "training_sessions": 0, "trained_officers": 0}),
    ],
)
def test_edge_values_pass(form: Form, edge: dict[str, Any]) -> None:
    assert check(form, edge) == []


def test_blank_condition_column_blames_only_itself() -> None:
    # 是否联合抽查 left blank: the clerk must fill it in; 联合抽查编号 is not wrong yet.
    assert check(INSPECTION, {"joint": None, "joint_id": "LH-7"}) == [(2, "joint", "required")]


def test_duplicate_key_blames_every_copy_within_one_submission() -> None:
    good = GOOD["inspection"]
    rows = [
        {**good, "_row_id": 10},
        {**good, "_row_id": 11},
        {**good, "_row_id": 12, "task_id": "JC-002"},
        {**good, "_row_id": 13, "submission_id": "sub-2"},  # another unit may reuse the id
    ]
    failures = validate_frame(INSPECTION, make_frame(INSPECTION, rows))
    assert failures == [
        RuleFailure(10, "task_id", "unique", "任务编号在本表中重复"),
        RuleFailure(11, "task_id", "unique", "任务编号在本表中重复"),
    ]


def test_blank_keys_are_not_duplicates() -> None:
    good = GOOD["transfer"]
    rows = [{**good, "transfer_id": None}, {**good, "transfer_id": None}]
    failures = validate_frame(TRANSFER, make_frame(TRANSFER, rows))
    assert [(f.row_id, f.rule) for f in failures] == [(1, "required"), (2, "required")]


def test_messages_are_the_clerks() -> None:
    messages = {
        f.rule: f.message_zh
        for form, bad in [
            (INSPECTION, {"task_id": None, "method": "抽查", "entities_sampled": -1, "joint": "是"}),
            (INSPECTION, {"joint_id": "LH-7", "completed_on": "2024-02-01"}),
            (TRANSFER, {"filed_on": "2024-01-09"}),
            (TRAINING, {"exam_passed": 9, "training_sessions": 0}),
        ]
        for f in validate_frame(form, make_frame(form, [{**GOOD[form.code], **bad}]))
    }
    assert messages == {
        "required": "必填项为空",
        "choices": "只能填写：双随机、专项检查、日常检查",
        "min": "不能小于 0",
        "required_when": "是否联合抽查为“是”时必须填写联合抽查编号",
        "empty_unless": "是否联合抽查为“否”时联合抽查编号应为空",
        "date_in_period": "完成日期不在报告期所属月份内",
        "not_before": "立案日期早于移送日期",
        "not_above": "考试合格人数大于参加执法资格考试人数",
        "zero_when_zero": "专题培训场次为 0 时参加专题培训人数应为 0",
    }


def test_several_failures_sorted_by_row_then_column() -> None:
    good = GOOD["inspection"]
    rows = [
        {**good, "task_id": "A", "issues_found": -1, "method": "抽查"},
        {**good, "task_id": "B"},
        {**good, "task_id": None, "completed_on": "2023-01-01"},
    ]
    failures = validate_frame(INSPECTION, make_frame(INSPECTION, rows))
    assert [(f.row_id, f.column, f.rule) for f in failures] == [
        (1, "method", "choices"),
        (1, "issues_found", "min"),
        (3, "task_id", "required"),
        (3, "completed_on", "date_in_period"),
    ]


def test_entirely_null_optional_columns() -> None:
    rows = [{**GOOD["inspection"], "task_id": f"JC-{i}", "issues_found": None} for i in range(3)]
    frame = make_frame(INSPECTION, rows)
    # As a parser might hand over columns it found no value in at all.
    frame["joint_id"] = pd.Series([None] * 3, dtype=object)
    frame["issues_found"] = pd.Series([None] * 3, dtype=object)
    assert validate_frame(INSPECTION, frame) == []

    rows = [{**GOOD["transfer"], "transfer_id": f"YS-{i}", "police_decision": "待定", "filed_on": None}
            for i in range(3)]
    assert validate_frame(TRANSFER, make_frame(TRANSFER, rows)) == []


def test_entirely_null_columns_fail_only_their_own_rules() -> None:
    rows = [{**GOOD["training"], "exam_takers": None, "training_sessions": None} for _ in range(2)]
    failures = validate_frame(TRAINING, make_frame(TRAINING, rows))
    assert [(f.row_id, f.column, f.rule) for f in failures] == [
        (1, "exam_takers", "required"),
        (1, "training_sessions", "required"),
        (2, "exam_takers", "required"),
        (2, "training_sessions", "required"),
    ]


def test_empty_frame() -> None:
    assert validate_frame(INSPECTION, make_frame(INSPECTION, [])) == []


def test_missing_column_is_refused() -> None:
    frame = make_frame(TRAINING, [GOOD["training"]]).drop(columns=["exam_passed"])
    with pytest.raises(ValueError, match="exam_passed"):
        validate_frame(TRAINING, frame)


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_suite_on_disk_matches_forms(form: Form) -> None:
    on_disk = suite_path(form).read_text(encoding="utf-8")
    assert on_disk == render_suite(build_suite(form)), "run `python -m pipeline.validation.suites`"
    suite = json.loads(on_disk)
    assert suite["name"] == form.code
    # Every column carries a rule, except the clerk's 核实说明 (free text, read by the verification rules).
    assert {e["meta"]["column"] for e in suite["expectations"]} == {c.code for c in form.columns} - {VERIFY_NOTE}


def test_write_suites_writes_one_file_per_form(tmp_path: Path) -> None:
    paths = write_suites(tmp_path)
    assert sorted(p.name for p in paths) == sorted(f"{code}.json" for code in FORMS)
    for form in FORMS.values():
        assert (tmp_path / f"{form.code}.json").read_bytes() == suite_path(form).read_bytes()


def test_suite_is_read_from_disk_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = build_suite(TRAINING)
    suite["expectations"] = [e for e in suite["expectations"] if e["meta"]["rule"] == "not_above"]
    (tmp_path / "training.json").write_text(render_suite(suite), encoding="utf-8")
    monkeypatch.setattr(config, "EXPECTATIONS_DIR", tmp_path)

    assert len(load_suite(TRAINING).expectations) == 1
    bad = {**GOOD["training"], "certified_officers": -5, "exam_passed": 6}
    assert [f.rule for f in validate_frame(TRAINING, make_frame(TRAINING, [bad]))] == ["not_above"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("kwargs", {"no_such_argument": 1}),
        ("type", "expect_no_such_thing"),  # GX itself only logs this and drops the expectation
        ("meta", {"column": "exam_takers"}),
    ],
)
def test_invalid_suite_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: object
) -> None:
    suite = build_suite(TRAINING)
    suite["expectations"][0][key] = value
    (tmp_path / "training.json").write_text(render_suite(suite), encoding="utf-8")
    monkeypatch.setattr(config, "EXPECTATIONS_DIR", tmp_path)
    with pytest.raises(ValueError, match="invalid"):
        load_suite(TRAINING)


def test_expectation_gx_cannot_evaluate_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = build_suite(TRAINING)
    suite["expectations"][0]["kwargs"]["column"] = "no_such_column"
    (tmp_path / "training.json").write_text(render_suite(suite), encoding="utf-8")
    monkeypatch.setattr(config, "EXPECTATIONS_DIR", tmp_path)
    with pytest.raises(RuntimeError, match="no_such_column"):
        validate_frame(TRAINING, make_frame(TRAINING, [GOOD["training"]]))


def test_suite_file_changed_between_calls_is_reread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "EXPECTATIONS_DIR", tmp_path)
    bad = make_frame(TRAINING, [{**GOOD["training"], "certified_officers": -5, "exam_passed": 6}])
    suite = build_suite(TRAINING)
    (tmp_path / "training.json").write_text(render_suite(suite), encoding="utf-8")
    assert [f.rule for f in validate_frame(TRAINING, bad)] == ["min", "not_above"]

    suite["expectations"] = [e for e in suite["expectations"] if e["meta"]["rule"] == "min"]
    (tmp_path / "training.json").write_text(render_suite(suite), encoding="utf-8")
    assert [f.rule for f in validate_frame(TRAINING, bad)] == ["min"]


def test_consecutive_frames_of_a_form_are_judged_on_their_own_rows() -> None:
    good = GOOD["inspection"]
    first = make_frame(INSPECTION, [{**good, "task_id": f"A{i}", "method": "抽查"} for i in range(3)])
    second = make_frame(INSPECTION, [{**good, "task_id": "B", "issues_found": -1}, {**good, "task_id": "C"}])
    assert [(f.row_id, f.rule) for f in validate_frame(INSPECTION, first)] == [(1, "choices"), (2, "choices"),
                                                                              (3, "choices")]
    assert [(f.row_id, f.rule) for f in validate_frame(INSPECTION, second)] == [(1, "min")]
    assert validate_frame(INSPECTION, make_frame(INSPECTION, [good])) == []


def test_counts_beyond_float_precision_are_compared_exactly() -> None:
    # 2**53 + 1 is not a float; compared as floats the two counts would be equal and pass.
    huge = {**GOOD["training"], "exam_takers": 2**53, "exam_passed": 2**53 + 1}
    assert [f.rule for f in validate_frame(TRAINING, make_frame(TRAINING, [huge]))] == ["not_above"]


def test_gx_is_left_as_shipped_outside_a_validation() -> None:
    import great_expectations.expectations as gxe

    validate_frame(TRAINING, make_frame(TRAINING, [GOOD["training"]]))
    expectation = gxe.ExpectColumnValuesToNotBeNull(column="a")
    # GX builds a new configuration per access; the memo of validate_frame is only active inside it.
    assert expectation.configuration is not expectation.configuration
    from great_expectations.execution_engine import pandas_execution_engine

    assert pandas_execution_engine.HASH_THRESHOLD > 0


def test_importing_the_modules_imports_neither_gx_nor_pandas() -> None:
    code = ("import sys, pipeline.validation.suites, pipeline.validation.validate; "
            "print(sorted({'pandas', 'great_expectations'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=config.PROJECT_ROOT)
    assert out.stdout.strip() == "[]"


def test_results_stored_without_rendering_then_docs_built(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs"
    bad = {**GOOD["transfer"], "filed_on": "2024-01-09"}
    failures = validate_frame(TRANSFER, make_frame(TRANSFER, [bad]), data_docs_dir=docs, run_name="2024-01")
    assert [(f.row_id, f.rule) for f in failures] == [(1, "not_before")]
    stored = list((docs / "_validation_results" / "transfer" / "2024-01").rglob("*.json"))
    assert len(stored) == 1
    assert not list(docs.rglob("*.html"))  # rendering is build_data_docs's job, off the validation path

    assert build_data_docs(docs) == docs / "index.html"
    assert (docs / "index.html").is_file()
    assert len(list((docs / "validations" / "transfer" / "2024-01").rglob("*.html"))) == 1
    assert "Calculating Metrics" not in capfd.readouterr().err


def test_stored_result_names_the_failing_rows(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    rows = [GOOD["training"], {**GOOD["training"], "exam_passed": 6}]
    validate_frame(TRAINING, make_frame(TRAINING, rows), data_docs_dir=docs, run_name="2024-01")
    (stored,) = (docs / "_validation_results" / "training" / "2024-01").rglob("*.json")
    results = json.loads(stored.read_text(encoding="utf-8"))["results"]
    failed = [r for r in results if not r["success"]]
    assert [r["expectation_config"]["meta"]["rule"] for r in failed] == ["not_above"]
    assert [row["_row_id"] for row in failed[0]["result"]["unexpected_index_list"]] == [2]
    assert sum(r["success"] for r in results) == len(build_suite(TRAINING)["expectations"]) - 1


def test_data_docs_index_keeps_earlier_runs(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    validate_frame(TRANSFER, make_frame(TRANSFER, [GOOD["transfer"]]), data_docs_dir=docs, run_name="2024-01")
    build_data_docs(docs)
    validate_frame(TRAINING, make_frame(TRAINING, [GOOD["training"]]), data_docs_dir=docs, run_name="2024-01")
    build_data_docs(docs)
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert "validations/transfer/2024-01/" in index
    assert "validations/training/2024-01/" in index
    assert "expectations/transfer.html" in index
    assert "expectations/training.html" in index


def test_data_docs_render_each_page_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "EXPECTATIONS_DIR", tmp_path / "suites")
    write_suites(tmp_path / "suites")
    docs = tmp_path / "docs"
    validate_frame(TRANSFER, make_frame(TRANSFER, [GOOD["transfer"]]), data_docs_dir=docs, run_name="2024-01")
    build_data_docs(docs)
    (first,) = (docs / "validations" / "transfer" / "2024-01").rglob("*.html")
    suite_page = docs / "expectations" / "transfer.html"
    rendered = {page: page.stat().st_mtime_ns for page in (first, suite_page, docs / "expectations/training.html")}

    validate_frame(TRANSFER, make_frame(TRANSFER, [GOOD["transfer"]]), data_docs_dir=docs, run_name="2024-02")
    later = tmp_path / "suites" / "training.json"
    os.utime(later, ns=(later.stat().st_atime_ns, rendered[docs / "expectations/training.html"] + 1))
    build_data_docs(docs)
    assert len(list((docs / "validations" / "transfer" / "2024-02").rglob("*.html"))) == 1
    assert first.stat().st_mtime_ns == rendered[first]
    assert suite_page.stat().st_mtime_ns == rendered[suite_page]
    # A suite file changed after its page was rendered gets its page rendered again.
    assert (docs / "expectations/training.html").stat().st_mtime_ns > rendered[docs / "expectations/training.html"]
    assert "validations/transfer/2024-02/" in (docs / "index.html").read_text(encoding="utf-8")
