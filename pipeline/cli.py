"""``python -m pipeline <command>``: the pipeline from a terminal. Every command takes ``--warehouse``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pipeline.config import settings


def _settings(args: argparse.Namespace):
    if getattr(args, "inbox", None):
        os.environ["DISTRICT_INBOX"] = str(Path(args.inbox).resolve())
    return settings(args.warehouse)


def cmd_template(args: argparse.Namespace) -> int:
    from pipeline.workbook import write_template

    print(write_template(Path(args.out)))
    return 0


def _years(args: argparse.Namespace) -> list[int]:
    """``--years 2018-2020`` (or ``2018,2020``), else ``--year``."""
    if not getattr(args, "years", None):
        if args.year is None:
            raise SystemExit("give --year YYYY or --years YYYY-YYYY")
        return [args.year]
    text = args.years.replace(" ", "")
    if "-" in text:
        first, last = (int(x) for x in text.split("-", 1))
        return list(range(first, last + 1))
    return sorted(int(x) for x in text.split(","))


def cmd_sample(args: argparse.Namespace) -> int:
    from pipeline.sample import LOOKBACK_FORMS, write_sample_year

    *earlier, year = _years(args)
    for past in earlier:
        # Earlier years: only the returns later figures look back on (the three-year appearance rate).
        paths = write_sample_year(past, Path(args.inbox), forms=LOOKBACK_FORMS)
        print(f"wrote {len(paths)} workbooks for {past} ({', '.join(LOOKBACK_FORMS)}) under {args.inbox}")
    paths = write_sample_year(year, Path(args.inbox))
    print(f"wrote {len(paths)} workbooks under {args.inbox}")
    if args.messy:
        from pipeline.messy import write_messy_month

        extra = write_messy_month(year, Path(args.inbox), month=args.messy_month)
        print(f"wrote {len(extra)} messy workbooks (one of them broken) for {year}-{args.messy_month:02d}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.figures import stored_figures
    from pipeline.outputs import figures_table
    from pipeline.runner import run_year_airflow, run_year_direct
    from pipeline.warehouse import make_engine

    s = _settings(args)
    years = _years(args)
    for year in years:
        if args.direct:
            for line in run_year_direct(year, s):
                print(line)
        else:
            log_file = None if args.verbose else s.data / "logs" / f"run-{year}.log"
            if log_file:
                print(f"Airflow's log: {log_file}")
            run_year_airflow(year, s, log_file=log_file)
    print(figures_table(stored_figures(make_engine(s.warehouse_url), years[-1])))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from pipeline.feedback import write_month_feedback
    from pipeline.ingest import run_month
    from pipeline.validate import build_data_docs

    s = _settings(args)
    report = run_month(args.period, s)
    print("\n".join(report.lines()))
    print(f"data docs: {build_data_docs(s.data_docs)}")
    for path in write_month_feedback(args.period, s):
        print(f"feedback: {path}")
    return 0


def cmd_consolidate(args: argparse.Namespace) -> int:
    from pipeline.annual import consolidate_year

    print(consolidate_year(args.year, _settings(args)))
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    from pipeline.figures import stored_figures
    from pipeline.outputs import figures_csv, figures_json, figures_table
    from pipeline.warehouse import ensure_schema, make_engine

    engine = make_engine(_settings(args).warehouse_url)
    ensure_schema(engine)
    if args.version:
        from pipeline.publish import published_figures

        figures = published_figures(engine, args.year, args.version)
        if not figures:
            print(f"{args.year}年没有已发布的第{args.version}版（python -m pipeline publications --year {args.year} "
                  "列出各版本）", file=sys.stderr)
            return 1
    else:
        figures = stored_figures(engine, args.year)
    if not figures:
        print(f"no figures stored for {args.year}; run the annual consolidation first", file=sys.stderr)
        return 1
    render = {"table": figures_table, "csv": figures_csv, "json": figures_json}[args.format]
    print(render(figures))
    if args.format == "table" and not args.version:
        from pipeline.verification_report import unconfirmed_by_figure, unconfirmed_text

        flagged = unconfirmed_text(unconfirmed_by_figure(engine, args.year))
        if flagged:
            print("\n" + flagged)
    return 0


def cmd_problems(args: argparse.Namespace) -> int:
    from pipeline.problems_report import month_problems_text
    from pipeline.warehouse import ensure_schema, make_engine

    engine = make_engine(_settings(args).warehouse_url)
    ensure_schema(engine)
    print(month_problems_text(engine, args.period))
    return 0


def cmd_completeness(args: argparse.Namespace) -> int:
    from pipeline.completeness import format_matrix, year_completeness
    from pipeline.warehouse import ensure_schema, make_engine

    s = _settings(args)
    engine = make_engine(s.warehouse_url)
    ensure_schema(engine)
    print(format_matrix(year_completeness(engine, args.year, s), args.form))
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from pipeline.publish import PublishError, publish
    from pipeline.warehouse import ensure_schema, make_engine

    engine = make_engine(_settings(args).warehouse_url)
    ensure_schema(engine)
    try:
        pub = publish(engine, args.year, by=args.by, note=args.note, accept_unconfirmed=args.accept_unconfirmed)
    except PublishError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    same = f"；与第{pub.same_as_version}版完全相同" if pub.same_as_version else ""
    print(f"已发布{pub.year}年指标第{pub.version}版：{pub.figures}项指标，依据{pub.submissions}份现行报表；"
          f"发布人 {pub.published_by}，{pub.published_at_utc:%Y-%m-%d %H:%M} UTC{same}")
    return 0


def cmd_changes(args: argparse.Namespace) -> int:
    from pipeline.publish import compare, format_comparison
    from pipeline.warehouse import ensure_schema, make_engine

    engine = make_engine(_settings(args).warehouse_url)
    ensure_schema(engine)
    comparison = compare(engine, args.year, version=args.version)
    if comparison is None:
        which = f"第{args.version}版" if args.version else "任何版本"
        print(f"{args.year}年尚未发布{which}（python -m pipeline publish --year {args.year}）")
        return 1 if args.version else 0
    print(format_comparison(comparison))
    return 0


def cmd_publications(args: argparse.Namespace) -> int:
    from pipeline.publish import publications
    from pipeline.warehouse import ensure_schema, make_engine

    engine = make_engine(_settings(args).warehouse_url)
    ensure_schema(engine)
    rows = publications(engine, args.year)
    if not rows:
        print(f"{args.year}年尚未发布任何版本")
    for r in rows:
        same = f"（与第{r['same_as_version']}版相同）" if r["same_as_version"] else ""
        note = f"  备注：{r['note']}" if r["note"] else ""
        print(f"第{r['version']}版  {r['published_at_utc']:%Y-%m-%d %H:%M} UTC  发布人 {r['published_by']}{same}{note}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from pipeline.figures import FIGURE_DEFS, stored_figures
    from pipeline.provenance import format_provenance, provenance
    from pipeline.warehouse import ensure_schema, make_engine

    if args.code not in FIGURE_DEFS:
        print(f"没有指标“{args.code}”；指标代码：{'、'.join(FIGURE_DEFS)}", file=sys.stderr)
        return 2
    engine = make_engine(_settings(args).warehouse_url)
    ensure_schema(engine)
    stored = {f["code"]: f for f in stored_figures(engine, args.year)}
    with engine.connect() as conn:
        cells = provenance(conn, args.code, args.year)
    print(format_provenance(args.code, args.year, stored.get(args.code), cells))
    from pipeline.verification_report import unconfirmed_by_figure, unconfirmed_text

    flagged = unconfirmed_text(unconfirmed_by_figure(engine, args.year, {args.code: cells}))
    if flagged:
        print("\n" + flagged)
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    from pipeline.confirm import run_confirm

    return run_confirm(args, _settings(args))


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.report import write_report
    from pipeline.warehouse import ensure_schema, make_engine

    s = _settings(args)
    engine = make_engine(s.warehouse_url)
    ensure_schema(engine)
    for path in write_report(engine, args.year, Path(args.out) if args.out else s.out / str(args.year)):
        print(path)
    return 0


def cmd_check_report(args: argparse.Namespace) -> int:
    from pipeline.check_report import check_report, format_result
    from pipeline.figures import stored_figures
    from pipeline.warehouse import ensure_schema, make_engine

    engine = make_engine(_settings(args).warehouse_url)
    ensure_schema(engine)
    if not stored_figures(engine, args.year):
        print(f"no figures stored for {args.year}; run the annual consolidation first", file=sys.stderr)
        return 2
    result = check_report(engine, Path(args.file), args.year)
    print(format_result(result, show_ignored=not args.quiet))
    return 0 if result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    from pipeline.forms import FORMS

    parser = argparse.ArgumentParser(prog="python -m pipeline", description="District returns pipeline")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--warehouse", help="SQLAlchemy URL of the warehouse (default: the embedded SQLite file)")
        p.set_defaults(func=fn)
        return p

    p = add("template", cmd_template, "write the blank workbook departments fill in")
    p.add_argument("--out", required=True)
    p = add("sample", cmd_sample, "write a deterministic sample year of filled workbooks")
    p.add_argument("--year", type=int)
    p.add_argument("--years", help="e.g. 2018-2020: earlier years get only the returns later figures look back on")
    p.add_argument("--inbox", required=True)
    p.add_argument("--messy", action="store_true", help="also write a month of messy and broken workbooks")
    p.add_argument("--messy-month", type=int, default=12)
    p = add("run", cmd_run, "run every month of a year and the annual consolidation through the DAGs")
    p.add_argument("--inbox", required=True)
    p.add_argument("--year", type=int)
    p.add_argument("--years", help="e.g. 2018-2020: run each year in turn; prints the last year's figures")
    p.add_argument("--direct", action="store_true", help="call the pipeline functions without Airflow")
    p.add_argument("--verbose", action="store_true", help="show Airflow's log instead of writing it to a file")
    p = add("ingest", cmd_ingest, "archive, validate and load one month (no Airflow)")
    p.add_argument("--period", required=True)
    p.add_argument("--inbox")
    p = add("consolidate", cmd_consolidate, "compute and store a year's figures (no Airflow)")
    p.add_argument("--year", type=int, required=True)
    p = add("figures", cmd_figures, "print the stored figures of a year")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--version", type=int, help="a published version instead of the latest consolidation")
    p = add("problems", cmd_problems, "list the open problems of a month, naming each file")
    p.add_argument("--period", required=True)
    p = add("completeness", cmd_completeness, "which units have reported, on time or not: unit × month matrix")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--form", choices=tuple(FORMS),
                   help="one form (default: every form, worst status per cell)")
    p = add("publish", cmd_publish, "freeze the year's consolidated figures as a new numbered version")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--by", help="who publishes (default: the operating-system user)")
    p.add_argument("--note", help="what this version is for, e.g. 报送区政府审定稿")
    p.add_argument("--accept-unconfirmed", action="store_true",
                   help="publish although values are still 待核实 (needs --note saying why)")
    p = add("confirm", cmd_confirm, "record the explanation of a unit's verification hits (核实说明) for a month")
    p.add_argument("--period", required=True)
    p.add_argument("--unit", required=True, help="the unit's name (or code) as in the registry")
    p.add_argument("--note", required=True)
    p.add_argument("--form", choices=tuple(FORMS), help="only this form's hits (default: every form)")
    p.add_argument("--column", help="only this column's hits (column code, e.g. certified_officers)")
    p.add_argument("--rule", help="only this rule's hits, e.g. verify_jump")
    p.add_argument("--by", help="who confirms (default: the operating-system user)")
    p = add("changes", cmd_changes, "published figures the returns in force now would change, and why")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--version", type=int, help="compare with this version (default: the latest)")
    p = add("publications", cmd_publications, "list the published versions of a year")
    p.add_argument("--year", type=int, required=True)
    p = add("explain", cmd_explain, "the cells a figure comes from: unit, file SHA-256, sheet and cell address")
    p.add_argument("code", help="figure code, e.g. inspection_entities")
    p.add_argument("--year", type=int, required=True)
    p = add("report", cmd_report, "the report's figure sentences filled with the year's figures (.md and .docx)")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--out", help="folder to write to (default: $DISTRICT_DATA/out/<year>)")
    p = add("check-report", cmd_check_report, "check every number a draft report (.txt or .docx) cites")
    p.add_argument("file")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--quiet", action="store_true", help="do not list the numbers that are not statistics")
    return parser


def main(argv: list[str] | None = None) -> int:
    level = os.environ.get("DISTRICT_LOG_LEVEL", "WARNING")
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args)
