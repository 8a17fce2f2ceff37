"""Validation of parsed returns against the forms' suites (``pipeline.validation.suites``), and their Data Docs.

Great Expectations is imported lazily: Airflow parses the DAG files that import this module, and
importing GX takes seconds.

Validation is on the ingest's critical path, so a process keeps one GX context, and per form the
suite (reloaded when its file changes) and batch definition. Each frame is validated twice at most:
every expectation pass/fail only, then the failing ones again for their rows. Results are stored for
Data Docs as JSON; :func:`build_data_docs` renders the site once per month, off that path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import atomic, sanitise
from pipeline.forms import FORMS, Column, Form
from pipeline.validation import gx_tuning
from pipeline.validation.suites import FRAME_COLUMNS, ROW_ID, import_gx, load_suite, suite_path

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

#: Not "local_site": an ephemeral context already has a site of that name in a temp directory.
DATA_DOCS_SITE = "district_site"
DATA_DOCS_RESULTS_STORE = "district_validation_results"
#: Where, inside the Data Docs directory, the stored validation results live.
RESULTS_DIR = "_validation_results"


@dataclass(frozen=True)
class RuleFailure:
    """One row breaking one rule, blamed on one column."""

    row_id: int
    column: str
    rule: str
    message_zh: str
    #: "critical" for the hard rules; "warning" for the verification rules (pipeline.validation.verification).
    severity: str = "critical"


def typed_column(col: Column, values: list[Any]) -> Any:
    """A form column's values as the frame the suite validates holds them (Int64, datetime64 or object)."""
    import pandas as pd

    if col.type == "int":
        return pd.array(values, dtype="Int64")
    if col.type == "date":
        return pd.to_datetime(pd.Series(values, dtype=object))
    return pd.Series(values).astype(object)


def _raised(result: ExpectationValidationResult) -> str | None:
    """The exception message GX swallowed while evaluating an expectation, if any."""
    info = result.exception_info or {}
    # Either one flat record, or one record per metric that raised.
    records = [info] if "raised_exception" in info else list(info.values())
    for record in records:
        if isinstance(record, dict) and record.get("raised_exception"):
            return str(record.get("exception_message"))
    return None


def _check_evaluated(result: ExpectationValidationResult) -> None:
    """Raise if GX could not evaluate the expectation (it reports that as a failed result)."""
    config_ = result.expectation_config
    if config_ is None:
        raise RuntimeError("GX returned a result without its expectation")
    error = _raised(result)
    if error is not None:
        raise RuntimeError(f"GX could not evaluate {config_.type} {config_.kwargs}: {error}")


def _failures(result: ExpectationValidationResult) -> list[RuleFailure]:
    _check_evaluated(result)
    config_ = result.expectation_config
    if result.success:
        return []
    meta = config_.meta or {}
    rows = result.result.get("unexpected_index_list")
    if not rows:
        # Every suite expectation is a row (map) expectation; a failure without rows is a bug here.
        raise RuntimeError(f"GX failed {config_.type} {config_.kwargs} without naming rows")
    severity = str(getattr(config_.severity, "value", config_.severity or "critical"))
    return [
        RuleFailure(int(row[ROW_ID]), meta["column"], meta["rule"], meta["message_zh"], severity) for row in rows
    ]


def _add_data_docs_site(context: Any, directory: Path) -> None:
    """Point the context's results store and a docs site at ``directory``.

    GX builds the index from the validation results store, kept as JSON under
    ``directory/RESULTS_DIR`` so that every stored run (each form of each month) stays listed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    context.add_store(DATA_DOCS_RESULTS_STORE, {
        "class_name": "ValidationResultsStore",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(directory / RESULTS_DIR)},
    })
    # Before the site is added: the site builder reads the store name when it is built.
    context.validation_results_store_name = DATA_DOCS_RESULTS_STORE
    context.add_data_docs_site(site_name=DATA_DOCS_SITE, site_config={
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(directory)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })


@dataclass
class _Prepared:
    """What one form's validation reuses from call to call: its suite as on disk, and its batch definition."""

    stamp: tuple[str, int, int]
    suite: ExpectationSuite
    batch_definition: Any
    datasource: Any


#: One ephemeral Data Context per process; creating one per call cost ~15 ms and GX's first-use setup.
_CONTEXT: list[Any] = []
#: Form code -> what its validations reuse, while its suite file is unchanged.
_PREPARED: dict[str, _Prepared] = {}
#: Enough to tell which expectations fail; the row ids are asked for only for those.
_PASS_FAIL = {"result_format": "BOOLEAN_ONLY"}
#: Every failing row's id; the index query string is only a long copy of the same ids.
_ROWS = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [ROW_ID],
    "return_unexpected_index_query": False,
}


def _context() -> Any:
    if not _CONTEXT:
        gx = import_gx()
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = {"globally": False, "metric_calculations": False}
        gx_tuning.install_configuration_memo()
        _CONTEXT.append(context)
    return _CONTEXT[0]


def _prepared(form: Form) -> _Prepared:
    """The form's suite and batch definition, reloaded when the suite file changes (path, mtime, size)."""
    path = suite_path(form)
    stat = path.stat()
    stamp = (str(path), stat.st_mtime_ns, stat.st_size)
    hit = _PREPARED.get(form.code)
    if hit is not None and hit.stamp == stamp:
        return hit
    suite = load_suite(form, path.parent)
    if hit is not None:
        batch_definition, datasource = hit.batch_definition, hit.datasource
    else:
        datasource = _context().data_sources.add_pandas(f"{form.code}_source")
        batch_definition = datasource.add_dataframe_asset(form.code).add_batch_definition_whole_dataframe(
            "whole_frame"
        )
    _PREPARED[form.code] = prepared = _Prepared(stamp, suite, batch_definition, datasource)
    return prepared


def _gx_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with nullable integer columns as float64, which GX compares vectorised.

    GX checks ``Int64`` columns one Python call per value (0.1 s per rule at 100,000 rows). Counts
    below 2**53 are exact as floats; a column holding a larger value is left as it is.
    """
    import pandas as pd

    exact = 2**53
    floats = {
        name: "float64" for name, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.Int64Dtype) and not (frame[name].abs() >= exact).any()
    }
    return frame.astype(floats) if floats else frame


def _store_result(directory: Path, result: Any, run_id: Any) -> None:
    """Persist ``result`` where :func:`build_data_docs` finds it.

    Written as GX's filesystem results store writes it (same path, same JSON), without the store's
    schema round trip, which cost as much again as the conversion to JSON.
    """
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
        run_id=run_id,
        batch_identifier=result.batch_id,
    )
    *folders, name = key.to_tuple()
    path = directory.joinpath(RESULTS_DIR, *folders, f"{name}.json")
    stored = result.to_json_dict()
    for one in stored.get("results", []):
        # Clerks' values as GX's renderer puts them into the pages: unescaped. Escaped here, once.
        one["result"] = _escaped(one.get("result"))
    atomic.write_text(path, json.dumps(stored, indent=2, sort_keys=True))


def _escaped(value: Any) -> Any:
    """Every string in ``value`` (nested lists and dicts) through ``sanitise.html``."""
    if isinstance(value, str):
        return sanitise.html(value)
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return value


def validate_frame(
    form: Form,
    frame: pd.DataFrame,
    *,
    data_docs_dir: Path | None = None,
    run_name: str = "",
) -> list[RuleFailure]:
    """Every (row, rule) failure of ``frame`` against the form's suite; optionally store the result.

    ``frame`` holds one month of a form: ``_row_id``, ``submission_id``, ``period_start``,
    ``period_end`` and the form's column codes. Failures are sorted by row id. With ``data_docs_dir``
    the GX result is stored there for :func:`build_data_docs`, which renders the pages.
    """
    if frame.empty:
        return []
    from pipeline.validation.verification import with_empty_bounds

    frame = with_empty_bounds(form, frame)
    missing = [c for c in (*FRAME_COLUMNS, *(col.code for col in form.columns)) if c not in frame.columns]
    if missing:
        raise ValueError(f"{form.code} frame lacks columns: {', '.join(missing)}")
    if not frame[ROW_ID].is_unique:
        raise ValueError(f"{form.code} frame: {ROW_ID} is not unique")

    import_gx()
    from great_expectations.constants import DATAFRAME_REPLACEMENT_STR
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.validator.v1_validator import Validator

    prepared = _prepared(form)
    suite = prepared.suite
    with gx_tuning.validation_scope(prepared.datasource):
        validator = Validator(
            batch_definition=prepared.batch_definition,
            batch_parameters={"dataframe": _gx_frame(frame)},
            result_format=_PASS_FAIL,
        )
        outcome = validator.validate_expectation_suite(suite)
        for result in outcome.results:
            _check_evaluated(result)
        failed = [result.expectation_config for result in outcome.results if not result.success]
        if failed:
            # Same validator, same loaded batch: only the failing expectations run again, for their rows.
            # GX does not keep the suite's order in its results: the failing ones are replaced as a set.
            validator.result_format = _ROWS
            failing = import_gx().ExpectationSuite(name=suite.name, expectations=failed)
            again = validator.validate_expectation_suite(failing)
            outcome.results[:] = [result for result in outcome.results if result.success] + again.results

    failures: list[RuleFailure] = []
    for result in outcome.results:
        failures.extend(_failures(result))
    if data_docs_dir is not None:
        # An explicit run_time: otherwise GX parses run_name as a date ("2024-01" -> today's day of Jan).
        run_id = RunIdentifier(run_name=run_name or None, run_time=datetime.now(UTC))
        outcome.meta.update({
            "run_id": run_id, "validation_time": run_id.run_time,
            "batch_parameters": {"dataframe": DATAFRAME_REPLACEMENT_STR},
        })
        _store_result(data_docs_dir, outcome, run_id)
    # "in_period" is two expectations with one meta; a row outside both bounds is one failure.
    unique = dict.fromkeys(failures)
    order = {col.code: i for i, col in enumerate(form.columns)}
    return sorted(unique, key=lambda f: (f.row_id, order.get(f.column, len(order))))


def build_data_docs(data_docs_dir: Path) -> Path:
    """Render the Data Docs site in ``data_docs_dir`` from the results stored there; the index's path.

    Renders what is missing or stale: a stored result without its page, a suite page older than its
    file in ``expectations/``; then the index, which lists every stored result and suite.
    """
    gx = import_gx()
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    _add_data_docs_site(context, data_docs_dir)
    stale: list[Any] = []
    for form in FORMS.values():
        path = suite_path(form)
        if not path.is_file():
            continue
        context.suites.add(load_suite(form, path.parent))
        page = data_docs_dir / "expectations" / f"{form.code}.html"
        if not page.is_file() or page.stat().st_mtime_ns < path.stat().st_mtime_ns:
            stale.append(ExpectationSuiteIdentifier(name=form.code))
    store = context.stores[DATA_DOCS_RESULTS_STORE]
    stale.extend(key for key in store.list_keys() if not _page(data_docs_dir, key).is_file())
    index = data_docs_dir / "index.html"
    if stale or not index.is_file():
        # No identifiers at all would make GX render every page again.
        context.build_data_docs(site_names=[DATA_DOCS_SITE], resource_identifiers=stale or None)
    return index


def _page(directory: Path, key: Any) -> Path:
    """Where the site puts the page of the stored result ``key``."""
    *folders, name = key.to_tuple()
    return directory.joinpath("validations", *folders, f"{name}.html")
