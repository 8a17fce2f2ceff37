"""``python -m pipeline <command>``: the pipeline from a terminal. Every command takes ``--warehouse``."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from pathlib import Path

from pipeline.config import log_level, settings


def _settings(args: argparse.Namespace):
    if getattr(args, "inbox", None):
        os.environ["DISTRICT_INBOX"] = str(Path(args.inbox).resolve())
    return settings(args.warehouse)


def cmd_template(args: argparse.Namespace) -> int:
    from pipeline.outputs.workbook import write_template

    try:
        path = write_template(Path(args.out), args.unit)
    except LookupError:
        print(f"单位名册中没有“{args.unit}”：请用单位全称、简称或代码（见 pipeline/data/units.csv）", file=sys.stderr)
        return 2
    print(f"已写出模板：{path}")
    return 0


#: Years a command accepts: the reporting years the pipeline can hold.
FIRST_YEAR, LAST_YEAR = 1990, 2100


class UsageError(Exception):
    """An argument the command cannot use; the message (Chinese) says which and what is expected."""


def _year(value: int) -> int:
    if not FIRST_YEAR <= value <= LAST_YEAR:
        raise UsageError(f"年度须在 {FIRST_YEAR}–{LAST_YEAR} 之间，收到 {value}")
    return value


def _years(args: argparse.Namespace) -> list[int]:
    """``--years 2018-2020`` (or ``2018,2020``), else ``--year``."""
    if not getattr(args, "years", None):
        if args.year is None:
            raise UsageError("请给出 --year 年份 或 --years 起止年份（如 --years 2018-2020）")
        return [_year(args.year)]
    text = args.years.replace(" ", "")
    try:
        if "-" in text:
            first, last = (int(x) for x in text.split("-", 1))
            years = list(range(first, last + 1))
        else:
            years = sorted(int(x) for x in text.split(","))
    except ValueError:
        raise UsageError(f"--years 须形如 2018-2020 或 2018,2020，收到 {text!r}") from None
    if not years:
        raise UsageError(f"--years {text!r} 不含任何年度")
    return [_year(y) for y in years]


def cmd_sample(args: argparse.Namespace) -> int:
    from pipeline.samples.sample import LOOKBACK_FORMS, write_sample_year

    *earlier, year = _years(args)
    for past in earlier:
        # Earlier years: only the returns later figures look back on (the three-year appearance rate).
        paths = write_sample_year(past, Path(args.inbox), forms=LOOKBACK_FORMS)
        print(f"已写出{past}年样例工作簿{len(paths)}个（{'、'.join(LOOKBACK_FORMS)}），在 {args.inbox}")
    paths = write_sample_year(year, Path(args.inbox))
    print(f"已写出{year}年样例工作簿{len(paths)}个，在 {args.inbox}")
    if args.messy:
        from pipeline.samples.messy import write_messy_month

        extra = write_messy_month(year, Path(args.inbox), month=args.messy_month)
        print(f"已写出{year}年{args.messy_month}月不规范工作簿{len(extra)}个（其中一个无法通过审核）")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.figures.consolidate import stored_figures
    from pipeline.orchestration.runner import run_year_airflow, run_year_direct
    from pipeline.outputs.figure_files import figures_table
    from pipeline.warehouse.connect import make_engine

    s = _settings(args)
    years = _years(args)
    if not args.direct:
        # Its own Airflow metadata database: these runs and their asset events stay out of `make airflow`'s
        # grid and never trigger its annual DAG (set before Airflow is first imported, which reads it).
        os.environ["AIRFLOW_HOME"] = str(Path(args.airflow_home).resolve() if args.airflow_home else s.run_airflow_home)
        os.environ.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    for year in years:
        if args.direct:
            for line in run_year_direct(year, s):
                print(line)
        else:
            log_file = None if args.verbose else s.data / "logs" / f"run-{year}.log"
            if log_file:
                print(f"Airflow 日志：{log_file}")
            run_year_airflow(year, s, log_file=log_file)
    print(figures_table(stored_figures(make_engine(s.warehouse_url), years[-1])))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from pipeline.jobs import process_month

    s = _settings(args)
    result = process_month(args.period, s)
    print("\n".join(result.report_lines))
    print(result.summary_zh)
    print(f"校验报告（Data Docs）：{result.data_docs}")
    return 0


def cmd_consolidate(args: argparse.Namespace) -> int:
    from pipeline.jobs import EmptierFigures, consolidate_year

    try:
        result = consolidate_year(args.year, _settings(args), accept_fewer=args.accept_fewer)
    except EmptierFigures as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(consolidation_summary(result))
    return 0


def consolidation_summary(result: dict) -> str:
    """What ``consolidate`` prints: the year's outcome in Chinese, one fact a line."""
    from pipeline.figures.definitions import LABELS_ZH

    year = result["year"]
    if result.get("skipped"):
        return f"{year}年：数据仓库中没有任何已接收的报表，不汇总，不生成输出文件"
    if result.get("unchanged"):
        return f"{year}年：报表与上次汇总时相同，指标和输出文件不变（{result['out']}）"
    lines = [f"{year}年汇总完成：{result['figures']}项指标", f"输出文件：{result['out']}（figures.csv、figures.xlsx）"]
    version = result.get("published_version")
    if version is None:
        lines.append(f"尚未发布任何版本（python -m pipeline publish --year {year} 发布）")
    elif result.get("changed_since_publication"):
        changed = "、".join(LABELS_ZH.get(c, c) for c in result["changed_since_publication"])
        lines.append(f"与已发布第{version}版相比有变化的指标：{changed}（python -m pipeline changes --year {year}）")
    else:
        lines.append(f"与已发布第{version}版相比，指标没有变化")
    return "\n".join(lines)


def cmd_figures(args: argparse.Namespace) -> int:
    from pipeline.figures.consolidate import stored_figures
    from pipeline.outputs.figure_files import figures_csv, figures_json, figures_table
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema

    engine = make_engine(_settings(args).warehouse_url)
    ensure_schema(engine)
    if args.version:
        from pipeline.figures.publish import published_figures

        figures = published_figures(engine, args.year, args.version)
        if not figures:
            print(f"{args.year}年没有已发布的第{args.version}版（python -m pipeline publications --year {args.year} "
                  "列出各版本）", file=sys.stderr)
            return 1
    else:
        figures = stored_figures(engine, args.year)
    if not figures:
        print(NO_FIGURES.format(year=args.year), file=sys.stderr)
        return 1
    if args.figure:
        code = _figure_code(args.figure)
        if code is None:
            return 2
        figures = [f for f in figures if f["code"] == code]
    render = {"table": figures_table, "csv": figures_csv, "json": figures_json}[args.format]
    print(render(figures))
    if args.format == "table" and not args.version:
        from pipeline.outputs.verification_report import unconfirmed_by_figure, unconfirmed_text

        flagged = unconfirmed_text(unconfirmed_by_figure(engine, args.year))
        if flagged:
            print("\n" + flagged)
    return 0


NO_FIGURES = "{year}年尚无汇总指标：请先运行年度汇总（python -m pipeline consolidate --year {year}）"


def _figure_code(text: str) -> str | None:
    """The code a figure's code, Chinese label or unique part of a label names; None (and why, on stderr)."""
    from pipeline.figures.definitions import LABELS_ZH, find_figure

    try:
        return find_figure(text)
    except LookupError as exc:
        found = exc.args[0] if exc.args else []
        if found:
            print(f"“{text}”对应多项指标，请写得更具体：" + "；".join(f"{LABELS_ZH[c]}（{c}）" for c in found),
                  file=sys.stderr)
        else:
            print(f"没有指标“{text}”：请用指标名称、名称中的一段或指标代码"
                  "（python -m pipeline figures --year 年份 列出全部）", file=sys.stderr)
        return None


def cmd_problems(args: argparse.Namespace) -> int:
    from pipeline.operations.problems_report import month_problems_text
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema

    engine = make_engine(_settings(args).warehouse_url)
    ensure_schema(engine)
    print(month_problems_text(engine, args.period))
    return 0


def cmd_completeness(args: argparse.Namespace) -> int:
    from pipeline.operations.completeness import format_matrix, year_completeness
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema

    s = _settings(args)
    engine = make_engine(s.warehouse_url)
    ensure_schema(engine)
    print(format_matrix(year_completeness(engine, args.year, s), args.form))
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from pipeline.figures.publish import PublishError, publish
    from pipeline.periods import local_time
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema

    engine = make_engine(_settings(args).warehouse_url)
    ensure_schema(engine)
    try:
        pub = publish(engine, args.year, by=args.by, note=args.note, accept_unconfirmed=args.accept_unconfirmed)
    except PublishError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    same = f"；与第{pub.same_as_version}版完全相同" if pub.same_as_version else ""
    print(f"已发布{pub.year}年指标第{pub.version}版：{pub.figures}项指标，依据{pub.submissions}份现行报表；"
          f"发布人 {pub.published_by}，{local_time(pub.published_at_utc)}{same}")
    return 0


def cmd_changes(args: argparse.Namespace) -> int:
    from pipeline.figures.publish import compare, format_comparison
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema

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
    from pipeline.figures.publish import publications
    from pipeline.periods import local_time
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema

    engine = make_engine(_settings(args).warehouse_url)
    ensure_schema(engine)
    rows = publications(engine, args.year)
    if not rows:
        print(f"{args.year}年尚未发布任何版本")
    for r in rows:
        same = f"（与第{r['same_as_version']}版相同）" if r["same_as_version"] else ""
        note = f"  备注：{r['note']}" if r["note"] else ""
        print(f"第{r['version']}版  {local_time(r['published_at_utc'])}  发布人 {r['published_by']}{same}{note}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from pipeline.figures.consolidate import stored_figures
    from pipeline.figures.definitions import FIGURE_DEFS
    from pipeline.figures.provenance import format_provenance, provenance
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema

    code = _figure_code(args.code)
    if code is None or code not in FIGURE_DEFS:
        return 2
    engine = make_engine(_settings(args).warehouse_url)
    ensure_schema(engine)
    stored = {f["code"]: f for f in stored_figures(engine, args.year)}
    with engine.connect() as conn:
        cells = provenance(conn, code, args.year)
    print(format_provenance(code, args.year, stored.get(code), cells))
    from pipeline.outputs.verification_report import unconfirmed_by_figure, unconfirmed_text

    flagged = unconfirmed_text(unconfirmed_by_figure(engine, args.year, {code: cells}))
    if flagged:
        print("\n" + flagged)
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    from pipeline.operations.confirm import run_confirm

    return run_confirm(args, _settings(args))


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.outputs.report import write_report
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema

    s = _settings(args)
    engine = make_engine(s.warehouse_url)
    ensure_schema(engine)
    for path in write_report(engine, args.year, Path(args.out) if args.out else s.out / str(args.year)):
        print(path)
    return 0


def cmd_check_report(args: argparse.Namespace) -> int:
    from pipeline.figures.consolidate import stored_figures
    from pipeline.outputs.check_report import check_report, format_result
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema

    engine = make_engine(_settings(args).warehouse_url)
    ensure_schema(engine)
    if not stored_figures(engine, args.year):
        print(NO_FIGURES.format(year=args.year), file=sys.stderr)
        return 2
    result = check_report(engine, Path(args.file), args.year)
    print(format_result(result, show_ignored=not args.quiet))
    return 0 if result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    from pipeline.forms import FORMS

    parser = argparse.ArgumentParser(prog="python -m pipeline",
                                     description="区法治政府建设统计月报处理（district returns pipeline）")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--warehouse", help="数据仓库的 SQLAlchemy URL（默认：内置 SQLite 文件）")
        p.set_defaults(func=fn)
        return p

    p = add("template", cmd_template, "写出各单位填报的空白模板（write the blank workbook units fill in）")
    p.add_argument("--out", required=True, help="写到哪个文件夹")
    p.add_argument("--unit", help="只含该单位应报的工作表并填好单位名称（单位全称、简称或代码）")
    p = add("sample", cmd_sample, "写出一年的样例工作簿（deterministic sample year）")
    p.add_argument("--year", type=int)
    p.add_argument("--years", help="如 2018-2020：较早年份只写后续指标需要回看的报表")
    p.add_argument("--inbox", required=True)
    p.add_argument("--messy", action="store_true", help="另写一个月的不规范和有错的工作簿")
    p.add_argument("--messy-month", type=int, default=12)
    p = add("run", cmd_run, "经 Airflow DAG 运行全年各月和年度汇总（run a year through the DAGs）")
    p.add_argument("--inbox", required=True)
    p.add_argument("--year", type=int)
    p.add_argument("--years", help="如 2018-2020：逐年运行，最后列出最后一年的指标")
    p.add_argument("--direct", action="store_true", help="不经 Airflow，直接调用处理函数")
    p.add_argument("--verbose", action="store_true", help="在终端显示 Airflow 日志，不写入文件")
    p.add_argument("--airflow-home", help="这些运行所用的 Airflow 目录（默认：$DISTRICT_DATA/cli-airflow，"
                   "与 make airflow 所用的分开）")
    p = add("ingest", cmd_ingest, "归档、校验并入库一个月的报表（不经 Airflow）")
    p.add_argument("--period", required=True)
    p.add_argument("--inbox")
    p = add("consolidate", cmd_consolidate, "计算并保存一年的指标（年度汇总，不经 Airflow）")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--accept-fewer", action="store_true",
                   help="即使指标降为零或计入的单位比上次少，也替换原有指标（确属应当时使用）")
    p = add("figures", cmd_figures, "列出某年已汇总的指标（print the stored figures of a year）")
    p.add_argument("figure", nargs="?", help="只列一项：指标名称、名称中的一段或指标代码")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--version", type=int, help="列出已发布的某一版，而不是最新汇总结果")
    p = add("problems", cmd_problems, "列出某月待处理的问题，逐个文件说明（open problems of a month）")
    p.add_argument("--period", required=True)
    p = add("completeness", cmd_completeness, "各单位各月是否按时报送：单位×月份矩阵（completeness）")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--form", choices=tuple(FORMS),
                   help="只看一张报表（默认：全部报表，每格取最差状态）")
    p = add("publish", cmd_publish, "把当年汇总指标定稿为新的一版（publish a numbered version）")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--by", help="发布人（默认：操作系统用户名）")
    p.add_argument("--note", help="本版用途，如 报送区政府审定稿")
    p.add_argument("--accept-unconfirmed", action="store_true",
                   help="尚有待核实的数值时仍然发布（须以 --note 说明理由）")
    p = add("confirm", cmd_confirm, "记录某单位某月核实提示的说明（核实说明，confirm verification hits）")
    p.add_argument("--period", required=True, help="报告期 YYYY-MM")
    p.add_argument("--unit", required=True, help="单位名称、简称或代码")
    p.add_argument("--note", required=True, help="核实说明：数值属实的理由或更正情况")
    p.add_argument("--form", choices=tuple(FORMS), help="只确认这张报表的提示（默认：全部报表）")
    p.add_argument("--column", help="只确认这一栏的提示（栏目代码，如 certified_officers）")
    p.add_argument("--rule", help="只确认这条规则的提示，如 verify_jump")
    p.add_argument("--by", help="确认人（默认：操作系统用户名）")
    p = add("changes", cmd_changes, "现行报表会使已发布指标发生哪些变化及原因（changes since publication）")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--version", type=int, help="与哪一版比较（默认：最新一版）")
    p = add("publications", cmd_publications, "列出某年已发布的各版本（published versions）")
    p.add_argument("--year", type=int, required=True)
    p = add("explain", cmd_explain, "指标的来源单元格：单位、文件SHA-256、工作表和单元格（cells behind a figure）")
    p.add_argument("code", help="指标名称、名称中的一段或指标代码，如 出庭 或 inspection_entities")
    p.add_argument("--year", type=int, required=True)
    p = add("report", cmd_report, "用当年指标填好报告中的统计段落（.md 和 .docx）")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--out", help="写到哪个文件夹（默认：$DISTRICT_DATA/out/<年份>）")
    p = add("check-report", cmd_check_report, "核对报告初稿（.txt 或 .docx）引用的每个数字（check a draft report）")
    p.add_argument("file")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--quiet", action="store_true", help="不列出非统计数字")
    return parser


def _check_args(args: argparse.Namespace) -> None:
    """Arguments every command shares, checked before any work: a bad one is one line, not a traceback."""
    from pipeline.periods import validate_period

    if getattr(args, "period", None) is not None:
        try:
            validate_period(args.period)
            if not 1 <= int(args.period[5:]) <= 12:
                raise ValueError(args.period)
        except ValueError:
            raise UsageError(f"--period 须为 YYYY-MM（如 2020-03），收到 {args.period!r}") from None
        _year(int(args.period[:4]))
    if getattr(args, "year", None) is not None:
        _year(args.year)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def expected_failure(exc: BaseException) -> tuple[int, str] | None:
    """(exit status, one Chinese line naming the cause) for a failure the operator can act on; else None."""
    import sqlalchemy as sa

    from pipeline.sanitise import one_line

    if isinstance(exc, UsageError):
        return 2, f"参数错误：{exc}"
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return 3, f"数据仓库不可用（连接失败或中断），本次未完成，可在恢复后重新运行：{one_line(_first_line(exc))}"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f"（{one_line(exc.filename)}）" if exc.filename else ""
        return 4, f"磁盘空间不足{where}，本次未完成；腾出空间后重新运行即可（已提交的数据不受影响）"
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return 4, f"没有写入权限：{one_line(exc.filename or '')}（{one_line(exc.strerror or '')}）"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run one command; an expected failure (bad argument, warehouse down, disk full) is one line on
    stderr and a non-zero exit status, never a traceback."""
    logging.basicConfig(level=log_level(), format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        _check_args(args)
        return args.func(args)
    except Exception as exc:
        known = expected_failure(exc)
        if known is None:
            raise
        logging.getLogger(__name__).debug("expected failure", exc_info=True)
        print(known[1], file=sys.stderr)
        return known[0]
