"""One reporting month, stage by stage: archive → read and parse → validate per form → load.

Every stage works on the whole month at once; a workbook is read once, and one DataFrame per form
(all units together) goes through its expectation suite.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

from pipeline.config import Settings
from pipeline.forms import FORMS, Form
from pipeline.intake.archive import InboxFile, SourceGone, archive_files, list_inbox
from pipeline.intake.parse import ParsedSheet, ParsedWorkbook, column_letter, parse_workbook
from pipeline.intake.reader import WorkbookReader, default_reader
from pipeline.intake.safety import InputRefused, check_workbook_bytes
from pipeline.operations.completeness import refresh_completeness
from pipeline.operations.problems_report import resent_warnings
from pipeline.periods import month_bounds, validate_period
from pipeline.problems import Problem, show_value
from pipeline.sanitise import one_line
from pipeline.validation.verification import MonthJudge, attach_hits
from pipeline.warehouse.connect import make_engine
from pipeline.warehouse.load import FileLoad, SubmissionLoad, load_month
from pipeline.warehouse.schema import ensure_schema

log = logging.getLogger(__name__)


@dataclass
class MonthReport:
    period: str
    files: int = 0
    loaded: int = 0
    quarantined: int = 0
    nil_returns: int = 0
    refused_files: list[tuple[str, list[str]]] = field(default_factory=list)
    warnings: list[tuple[str, list[str]]] = field(default_factory=list)
    #: Files listed in the inbox that could not be read any more (moved or deleted meanwhile): name, reason.
    gone: list[tuple[str, str]] = field(default_factory=list)
    #: Refused files of earlier runs no longer in the inbox: their problems are closed.
    withdrawn: list[str] = field(default_factory=list)
    #: Months whose verification hits this load changed by changing their history (MonthJudge).
    rejudged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "period": self.period, "files": self.files, "loaded": self.loaded, "nil_returns": self.nil_returns,
            "quarantined": self.quarantined, "refused_files": [one_line(n) for n, _ in self.refused_files],
            "gone_files": [one_line(n) for n, _ in self.gone], "withdrawn_files": [one_line(n) for n in self.withdrawn],
            "rejudged_periods": list(self.rejudged),
        }

    def lines(self) -> list[str]:
        """The operator's summary; every name and value passes the sanitiser (no terminal escapes)."""
        out = [
            f"{self.period}：收到{self.files}个文件，入库{self.loaded}张报表（其中“本月无”{self.nil_returns}张），"
            f"退回{self.quarantined}张"
        ]
        for name, msgs in self.refused_files:
            out.append(f"  退回《{one_line(name)}》：")
            out.extend(f"    - {one_line(m)}" for m in msgs)
        for name, msgs in self.warnings:
            out.append(f"  提示《{one_line(name)}》：")
            out.extend(f"    - {one_line(m)}" for m in msgs)
        for name, reason in self.gone:
            out.append(f"  文件“{one_line(name)}”列出后已无法读取（{one_line(reason)}），本次未处理；"
                       "文件放回收件箱后重新运行本月即可")
        if self.withdrawn:
            out.append("  以下退回文件已不在收件箱中，其问题已关闭（不再列入问题清单和退回通知）："
                       + "、".join(f"“{one_line(n)}”" for n in self.withdrawn))
        if self.rejudged:
            out.append(f"  {rejudged_zh(self.rejudged)}")
        return out


def rejudged_zh(periods: Iterable[str]) -> str:
    """The operator's line about months whose verification hits a load changed."""
    return ("核实性审核：以下月份的比对依据（以往月份数据）已变化，已按入库数据重新核实，核实提示随之更新："
            + "、".join(periods))


def file_id(period: str, sha256: str) -> str:
    return f"{period}:{sha256[:16]}"


def archive_month(
    period: str, settings: Settings, gone: list[SourceGone] | None = None
) -> Iterator[tuple[InboxFile, bytes]]:
    """Copy every file of ``inbox/<period>/`` into the archive; each is yielded once archived, before it is read.

    Files that vanish between listing and reading are appended to ``gone``.
    """
    validate_period(period)
    return archive_files(list_inbox(settings.inbox / period), settings.archive, gone)


def read_and_parse(
    period: str, files: Iterable[tuple[InboxFile, bytes]], reader: WorkbookReader | None = None
) -> list[tuple[InboxFile, ParsedWorkbook | None, list[Problem]]]:
    """Read each workbook once and parse every form sheet in it."""
    reader = reader or default_reader()
    out = []
    for info, data in files:
        try:
            check_workbook_bytes(info.name, data)
            workbook = reader.read(io.BytesIO(data))
        except InputRefused as exc:
            out.append((info, None, [exc.problem]))
            continue
        except Exception as exc:  # noqa: BLE001 - any reader failure is the file's problem, not the run's
            log.warning("cannot read %s: %s", one_line(info.name), one_line(repr(exc)))
            out.append((info, None, [Problem(
                "文件无法作为 Excel 工作簿打开，可能已损坏，请在 Excel 中打开、另存为 .xlsx 后重新报送",
                rule="unreadable",
            )]))
            continue
        parsed = parse_workbook(workbook, period)
        out.append((info, parsed, list(parsed.problems)))
    return out


class _RowIndex:
    """``_row_id`` → (sheet, Excel row) over sheets laid end to end, without a tuple per row."""

    def __init__(self, sheets: list[ParsedSheet]) -> None:
        self.sheets = sheets
        self.starts = list(accumulate((len(s.excel_rows) for s in sheets), initial=0))[:-1]

    def __getitem__(self, row_id: int) -> tuple[ParsedSheet, int]:
        k = bisect_right(self.starts, row_id) - 1
        sheet = self.sheets[k]
        return sheet, sheet.excel_rows[row_id - self.starts[k]]


def _frame(form: Form, period: str, sheets: list[tuple[str, ParsedSheet]]):
    """One DataFrame of every row of ``form`` in the month; ``_row_id`` indexes ``index``."""
    import pandas as pd

    from pipeline.validation.validate import typed_column

    start, end = month_bounds(period)
    index = _RowIndex([sheet for _, sheet in sheets])
    sub_ids: list[str] = []
    for sub_id, sheet in sheets:
        sub_ids += [sub_id] * len(sheet.excel_rows)
    data: dict[str, object] = {"_row_id": range(len(sub_ids)), "submission_id": sub_ids}
    for col in form.columns:
        values: list[object] = []
        for _, sheet in sheets:
            values += sheet.data[col.code]
        data[col.code] = typed_column(col, values)
    frame = pd.DataFrame(data)
    frame["period_start"] = pd.Timestamp(start)
    frame["period_end"] = pd.Timestamp(end)
    return frame, index


def validate_month(
    period: str, parsed: list[tuple[str, ParsedSheet]], data_docs: Path | None = None, *, engine=None,
    judge: MonthJudge | None = None,
) -> list:
    """Run each form's suite over all of its rows in the month; findings go onto their sheet.

    With ``data_docs`` each form's GX result is stored there; ``validate.build_data_docs`` renders them.
    With ``engine`` the verification rules get the units' history from it; their hits (which refuse
    nothing) are returned, not put on the sheets, and ``judge`` is told which history they saw.
    """
    from pipeline.validation import verification
    from pipeline.validation.validate import validate_frame

    hits: list[verification.Hit] = []
    for form in FORMS.values():
        sheets = [(sid, s) for sid, s in parsed if s.form.code == form.code]
        if not any(s.excel_rows for _, s in sheets):
            continue
        frame, index = _frame(form, period, sheets)
        if engine is not None and form.checks:
            unit_of = {sid: s.unit.code if s.unit else None for sid, s in sheets}
            with engine.connect() as conn:
                if judge is not None:
                    judge.saw(conn, form, unit_of.values())
                history = verification.load_history(conn, form, period, unit_of.values())
            frame = verification.add_bounds(form, period, frame, unit_of, history)
        failures = validate_frame(form, frame, data_docs_dir=data_docs, run_name=f"{period}-{form.code}")
        warned = [f for f in failures if f.severity == verification.SEVERITY]
        hits += verification.hits_from_failures(form, frame, warned, index)
        failures = [f for f in failures if f.severity != verification.SEVERITY]
        for failure in sorted(failures, key=lambda f: (f.row_id, f.column, f.rule)):
            sheet, excel_row = index[failure.row_id]
            if (excel_row, failure.column) in sheet.bad_cells:
                continue
            col = form.column(failure.column)
            raw = frame.at[failure.row_id, failure.column]
            sheet.problems.append(Problem(
                failure.message_zh, rule=failure.rule, sheet=sheet.sheet,
                cell=sheet.cell(excel_row, failure.column), excel_row=excel_row,
                column_label=col.label, value=show_value(_plain(raw)),
            ))
    return hits


def _plain(value: object) -> object:
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.date().isoformat()
    return value


def _problem_row(fid: str, seq: int, sub_id: str | None, p: Problem) -> dict[str, object]:
    return {
        "file_id": fid, "seq": seq, "submission_id": sub_id, "severity": p.severity, "rule": p.rule,
        "sheet": p.sheet, "cell": p.cell, "excel_row": p.excel_row, "column_label": p.column_label,
        "value": p.value, "message_zh": p.message_zh,
    }


def build_loads(
    period: str, results: list[tuple[InboxFile, ParsedWorkbook | None, list[Problem]]]
) -> tuple[list[FileLoad], MonthReport]:
    """Warehouse rows for every file of the month, and the month's report for the operator."""
    report = MonthReport(period=period, files=len(results))
    loads: list[FileLoad] = []
    # The same bytes under two names are one return, archived once; the latest receipt counts,
    # since resending an earlier workbook means "this one is in force again".
    latest: dict[str, tuple[InboxFile, ParsedWorkbook | None, list[Problem]]] = {}
    for result in sorted(results, key=lambda r: (r[0].received_at_utc, r[0].name)):
        fid = file_id(period, result[0].sha256)
        if fid in latest:
            report.warnings.append((latest[fid][0].name, [f"与同月文件“{result[0].name}”内容完全相同，只计一次"]))
        latest[fid] = result
    for info, parsed, file_problems in latest.values():
        fid = file_id(period, info.sha256)
        file_errors = [p for p in file_problems if p.severity == "error"]
        found: list[tuple[str | None, Problem]] = [(None, p) for p in file_problems]
        subs: list[SubmissionLoad] = []
        units = set()
        for sheet in parsed.sheets if parsed else []:
            sub_id = f"{fid}:{sheet.form.code}"
            errors = [p for p in sheet.problems if p.severity == "error"]
            quarantined = bool(errors or file_errors)
            unit_code = sheet.unit.code if sheet.unit else None
            units.add(unit_code)
            found.extend((sub_id, p) for p in sheet.problems)
            n = 0 if quarantined else len(sheet.excel_rows)
            facts = {
                "submission_id": [sub_id] * n, "excel_row": sheet.excel_rows[:n], "sheet": [sheet.sheet] * n,
                "unit_code": [unit_code] * n, "period": [period] * n,
                **{code: values[:n] for code, values in sheet.data.items()},
            } if n else {}
            subs.append(SubmissionLoad(row={
                "submission_id": sub_id, "file_id": fid, "period": period, "unit_code": unit_code,
                "form_code": sheet.form.code, "sheet": sheet.sheet, "sha256": info.sha256,
                "file_name": info.name, "received_at_utc": info.received_at_utc,
                "status": "quarantined" if quarantined else "loaded", "is_nil": sheet.is_nil,
                "row_count": len(sheet.excel_rows), "error_count": len(errors),
                "warning_count": len(sheet.problems) - len(errors),
            }, facts=facts, columns=[
                {"submission_id": sub_id, "column_code": code, "column_letter": column_letter(index),
                 "header_row": sheet.header_row}
                for code, index in sorted(sheet.columns.items())
            ] if sheet.header_row else []))
            if quarantined:
                report.quarantined += 1
            else:
                report.loaded += 1
                report.nil_returns += sheet.is_nil
        problems = [_problem_row(fid, seq, sub_id, p) for seq, (sub_id, p) in enumerate(found)]
        n_errors = sum(1 for _, p in found if p.severity == "error")
        status = "refused" if not subs or all(s.row["status"] == "quarantined" for s in subs) else (
            "partly_refused" if n_errors else "accepted")
        loads.append(FileLoad(
            file_row={
                "file_id": fid, "period": period, "sha256": info.sha256, "file_name": info.name,
                "size_bytes": info.size_bytes, "received_at_utc": info.received_at_utc,
                "unit_code": next(iter(units)) if len(units) == 1 else None, "status": status,
            },
            submissions=subs, problems=problems,
        ))
        described = [p.describe_zh() for _, p in found]
        if n_errors:
            report.refused_files.append((info.name, described))
        elif problems:
            report.warnings.append((info.name, described))
    report.warnings.extend(resent_warnings(loads))
    return loads, report


def run_month(period: str, settings: Settings, *, engine=None) -> MonthReport:
    """Archive, read, validate and load one month; the warehouse gets one transaction."""
    engine = engine or make_engine(settings.warehouse_url)
    ensure_schema(engine)
    gone: list[SourceGone] = []
    files = archive_month(period, settings, gone)
    results = read_and_parse(period, files)
    parsed = [(f"{file_id(period, info.sha256)}:{s.form.code}", s)
              for info, wb, _ in results if wb for s in wb.sheets]
    judge = MonthJudge(period)
    hits = validate_month(period, parsed, data_docs=settings.data_docs, engine=engine, judge=judge)
    loads, report = build_loads(period, results)
    report.gone = [(g.path.name, g.reason.strerror or str(g.reason)) for g in gone]
    attach_hits(period, hits, loads, report)
    # With a file vanished meanwhile the inbox is not known whole: earlier refusals stay open this time.
    report.withdrawn = load_month(engine, period, loads, withdraw_absent=not gone, hook=judge)
    report.rejudged = sorted(judge.rejudged)
    log.info("loaded %s at %s", period, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    refresh_completeness(engine, period, settings)
    return report
