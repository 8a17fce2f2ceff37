"""Hostile content and unlucky operators, round 2 (issue 13): one odd character or one vanished file never
stops a month, every output is written whole, a consolidation reads one state, the CLI says what failed.

Each numbered case of the issue has a test here (``test_case_<n>_…``); the property test writes arbitrary
Unicode into an otherwise valid month; the kill test SIGKILLs a month at named points and re-runs it.
"""

from __future__ import annotations

import errno
import html.parser
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from docx import Document
from hostile_files import PERIOD, RECEIVED, clean_bytes, with_cell
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from pipeline import atomic, sanitise
from pipeline.config import settings as make_settings_
from pipeline.figures.consolidate import evaluate
from pipeline.figures.definitions import FIGURE_DEFS
from pipeline.ingest import build_loads, read_and_parse, run_month
from pipeline.intake.archive import INCOMING_PREFIX, archive_files, archive_path
from pipeline.operations.problems_report import month_problems_text, open_problems
from pipeline.outputs.feedback import write_month_feedback
from pipeline.outputs.figure_files import CODE_COLUMN
from pipeline.warehouse.connect import make_engine
from pipeline.warehouse.load import dump, load_month
from pipeline.warehouse.schema import ensure_schema, return_file

YEAR = int(PERIOD[:4])
#: A small month: three units' clean returns.
UNITS = {"HHC": "荷花池.xlsx", "TJJ": "统计局.xlsx", "SCJG": "市场监管局.xlsx"}


def write_month(root: Path, files: dict[str, bytes]) -> Path:
    folder = root / "inbox" / PERIOD
    folder.mkdir(parents=True, exist_ok=True)
    stamp = RECEIVED.timestamp()
    for name, data in files.items():
        (folder / name).write_bytes(data)
        os.utime(folder / name, (stamp, stamp))
    return folder


def month_settings(root: Path, url: str | None = None):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISTRICT_DATA", str(root / "data"))
        mp.setenv("DISTRICT_INBOX", str(root / "inbox"))
        return make_settings_(url or f"sqlite:///{root / 'warehouse.sqlite'}")


def clean_files() -> dict[str, bytes]:
    return {name: clean_bytes(code) for code, name in UNITS.items()}


def figures_now(url: str) -> dict[str, float]:
    with make_engine(url).connect() as conn:
        return {code: float(evaluate(conn, code, YEAR).value) for code in FIGURE_DEFS}


def feedback_opens(paths: list[Path]) -> None:
    """Every feedback file reads back: annotated copies in openpyxl, notices in python-docx."""
    for path in paths:
        assert len(path.name.encode()) <= sanitise.MAX_NAME_BYTES
        if path.suffix == ".xlsx":
            load_workbook(path).close()
        else:
            Document(str(path))


class _Handlers(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.found += [(tag, name) for name, _ in attrs if name in ("onload", "onerror", "onmouseover")]


def data_docs_text(folder: Path) -> tuple[str, list[tuple[str, str]]]:
    """The Data Docs pages' HTML, and the load/error/hover event handlers in it (GX's own pages have none)."""
    text = "".join(page.read_text(encoding="utf-8") for page in sorted(folder.rglob("*.html")))
    parser = _Handlers()
    parser.feed(text)
    return text, parser.found


# --- the numbered cases -------------------------------------------------------------------------

@pytest.mark.integration
def test_case_1_control_characters_in_cells_and_names_never_stop_the_feedback(tmp_path):
    """U+000B in a refused cell, U+0001 and ESC in a file name: every unit's feedback is written and opens."""
    files = clean_files()
    files["荷花池.xlsx"] = with_cell("HHC", "执法培训", "持证执法人员数", "约3人\x0b（待核）")
    files["统计局\x01\x1b[2J.xlsx"] = with_cell("TJJ", "执法培训", "持证执法人员数", "=1+1\x01")
    del files["统计局.xlsx"]
    write_month(tmp_path, files)
    settings = month_settings(tmp_path)
    run_month(PERIOD, settings)
    written = write_month_feedback(PERIOD, settings)
    assert {p.parent.name for p in written} == {"荷花池街道", "区统计局"}, written
    feedback_opens(written)
    copy = next(p for p in written if p.parent.name == "区统计局" and p.suffix == ".xlsx")
    a1 = load_workbook(copy)["退回说明"]["A1"].value
    assert "统计局␁␛[2J.xlsx" in a1 and "\x1b" not in a1
    values = [r[3] for r in load_workbook(next(p for p in written if p.name.startswith("荷花池")))["退回说明"]
              .iter_rows(min_row=3, values_only=True)]
    assert "约3人\n（待核）" in values


@pytest.mark.integration
def test_case_2_markup_in_a_cell_is_escaped_in_the_data_docs(tmp_path):
    from pipeline.validation.validate import build_data_docs

    files = clean_files()
    files["市场监管局.xlsx"] = with_cell("SCJG", "行政检查", "检查方式", "<svg/onload=alert(document.domain)>")
    write_month(tmp_path, files)
    settings = month_settings(tmp_path)
    report = run_month(PERIOD, settings)
    assert report.refused_files or report.quarantined  # 检查方式 is an enumeration: refused, with its reason
    build_data_docs(settings.data_docs)
    pages, handlers = data_docs_text(settings.data_docs)
    assert "&lt;svg/onload=alert(document.domain)&gt;" in pages  # the value is shown …
    assert "<svg/onload" not in pages and handlers == []  # … as text


@pytest.mark.integration
def test_case_3_a_file_vanishing_after_the_listing_skips_that_file_only(tmp_path, monkeypatch):
    import pipeline.ingest as ingest

    folder = write_month(tmp_path, clean_files())
    listed = ingest.list_inbox(folder)

    def list_then_vanish(path):
        (folder / "统计局.xlsx").unlink()  # moved away between the listing and the read
        return listed

    monkeypatch.setattr(ingest, "list_inbox", list_then_vanish)
    settings = month_settings(tmp_path)
    report = run_month(PERIOD, settings)
    assert report.loaded > 0 and [name for name, _ in report.gone] == ["统计局.xlsx"]
    assert any("统计局.xlsx" in line and "无法读取" in line for line in report.lines())
    with make_engine(settings.warehouse_url).connect() as conn:
        names = set(conn.execute(sa.select(return_file.c.file_name)).scalars())
    assert names == {"荷花池.xlsx", "市场监管局.xlsx"}


@pytest.mark.integration
def test_case_4_refusal_of_a_file_no_longer_in_the_inbox_is_closed(tmp_path):
    good = clean_bytes("HHC")
    folder = write_month(tmp_path, {**clean_files(), "荷花池.xlsx": good[: len(good) // 2]})
    settings = month_settings(tmp_path)
    run_month(PERIOD, settings)
    write_month_feedback(PERIOD, settings)
    engine = make_engine(settings.warehouse_url)
    assert [f.file_name for f in open_problems(engine, PERIOD)] == ["荷花池.xlsx"]
    assert (settings.feedback / PERIOD / "未识别单位" / "退回通知.docx").is_file()
    (folder / "荷花池.xlsx").write_bytes(good)  # the copy completed
    report = run_month(PERIOD, settings)
    assert open_problems(engine, PERIOD) == []
    assert report.withdrawn == ["荷花池.xlsx"]
    assert any("已不在收件箱中" in line for line in report.lines())
    assert write_month_feedback(PERIOD, settings) == []
    assert not (settings.feedback / PERIOD / "未识别单位" / "退回通知.docx").exists()
    assert "没有待处理的问题" in month_problems_text(engine, PERIOD)
    # The archive keeps the truncated bytes; a re-run changes nothing.
    before = dump(engine)
    assert run_month(PERIOD, settings).withdrawn == [] and dump(engine) == before


@pytest.fixture(scope="module")
def consolidated(tmp_path_factory):
    """A month loaded and its year consolidated (SQLite)."""
    from pipeline.annual import consolidate_year

    root = tmp_path_factory.mktemp("consolidated")
    write_month(root, clean_files())
    settings = month_settings(root)
    run_month(PERIOD, settings)
    consolidate_year(YEAR, settings)
    return settings


@pytest.mark.integration
def test_case_5_figures_xlsx_is_written_whole_and_checked_before_unchanged(consolidated, monkeypatch):
    from openpyxl import Workbook

    from pipeline.annual import consolidate_year

    xlsx = consolidated.out / str(YEAR) / "figures.xlsx"
    good = xlsx.read_bytes()
    original_save = Workbook.save

    def save_half_then_die(self, filename):
        original_save(self, filename)
        Path(filename).write_bytes(Path(filename).read_bytes()[:1000])
        raise MemoryError("killed while writing")  # what a kill leaves: half a file, no rename

    monkeypatch.setattr(Workbook, "save", save_half_then_die)
    with pytest.raises(MemoryError):
        consolidate_year(YEAR, consolidated)
    monkeypatch.undo()
    assert xlsx.read_bytes() == good  # the previous file stands, whole
    assert not list(xlsx.parent.glob(".partial-*"))
    # A file damaged any other way is not "unchanged": the annual run writes it again.
    xlsx.write_bytes(good[: len(good) // 2])
    result = consolidate_year(YEAR, consolidated, unless_unchanged=True)
    assert result["unchanged"] is False
    load_workbook(xlsx).close()
    assert consolidate_year(YEAR, consolidated, unless_unchanged=True)["unchanged"] is True


def _march_loads():
    """March's returns of the three units, ready for ``load_month``."""
    import tempfile

    period = f"{YEAR}-03"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for code, name in UNITS.items():
            (folder / name).write_bytes(clean_bytes(code, period))
        files = list(archive_files(sorted(folder.iterdir()), folder / "archive"))
        loads, _ = build_loads(period, read_and_parse(period, files))
    return period, loads


@pytest.mark.integration
def test_case_6_a_consolidation_reads_one_snapshot(warehouse_url, tmp_path, monkeypatch):
    """A load committing in the middle of a consolidation is in none of its parts (figures, contributions,
    provenance, trends): figures.xlsx agrees with itself and with the stored figures."""
    import pipeline.annual as annual
    from pipeline.figures.consolidate import stored_figures

    write_month(tmp_path, clean_files())
    settings = month_settings(tmp_path, warehouse_url)
    run_month(PERIOD, settings)
    period, loads = _march_loads()
    engine = make_engine(warehouse_url)
    done = threading.Event()
    trends, seen = annual.monthly_trends, {}

    def trends_after_a_load(bind, year):
        # Figures and contributions are read; a load of March starts now and (PostgreSQL) commits.
        thread = threading.Thread(target=lambda: (load_month(engine, period, loads), done.set()))
        thread.start()
        thread.join(timeout=3)
        seen.update(trends(bind, year))
        return seen

    monkeypatch.setattr(annual, "monthly_trends", trends_after_a_load)
    annual.consolidate_year(YEAR, settings)
    assert done.wait(timeout=60)  # SQLite: the load waited for the consolidation's lock
    figures = {f["code"]: f["value"] for f in stored_figures(engine, YEAR)}
    wb = load_workbook(settings.out / str(YEAR) / "figures.xlsx")
    # Figure sheets are named by label; the code stands in row 1 (指标代码：…).
    by_code = {str(ws.cell(1, CODE_COLUMN).value).removeprefix("指标代码："): ws for ws in wb.worksheets}
    assert {code: months.get(period) for code, months in seen.items() if months.get(period)} == {}
    march = figures_now(warehouse_url)  # the warehouse now holds March too
    assert any(march[c] != figures[c] for c in figures), "March changes some figure"
    for code, value in figures.items():
        if FIGURE_DEFS[code].measure != "flow":
            continue
        sheet = by_code[code]
        total = next(r[2] for r in sheet.iter_rows(values_only=True) if r[0] == "合计")
        assert total == pytest.approx(value), code


def _load_in_process(url: str, loads, period: str, barrier, errors) -> None:
    try:
        engine = make_engine(url)
        barrier.wait(timeout=30)
        ensure_schema(engine)
        load_month(engine, period, loads)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        errors.put(repr(exc))


@pytest.mark.integration
def test_case_7_two_first_time_loads_of_one_month_on_sqlite(tmp_path):
    period, loads = _march_loads()
    ctx = multiprocessing.get_context("fork")
    for attempt in range(3):
        url = f"sqlite:///{tmp_path / f'w{attempt}.sqlite'}"
        barrier, errors = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_load_in_process, args=(url, loads, period, barrier, errors)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        found = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
        assert found == [] and all(p.exitcode == 0 for p in procs), found
        with make_engine(url).connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(return_file)).scalar() == len(loads)


@pytest.mark.integration
def test_case_8_a_long_file_name_in_four_byte_characters(tmp_path):
    name = "\U00020000" * 58 + ".xlsx"  # 237 bytes: the annotated copy's name would exceed 255
    files = clean_files()
    files[name] = with_cell("HHC", "执法培训", "持证执法人员数", "很多")
    del files["荷花池.xlsx"]
    write_month(tmp_path, files)
    settings = month_settings(tmp_path)
    run_month(PERIOD, settings)
    written = write_month_feedback(PERIOD, settings)
    assert any(p.suffix == ".xlsx" for p in written)
    feedback_opens(written)


@pytest.mark.integration
def test_case_9_terminal_escapes_never_reach_the_terminal_or_logs(tmp_path, caplog):
    name = "统计局\x1b[2J\x1b]0;pwned\x07.xlsx"
    files = clean_files()
    files[name] = with_cell("TJJ", "执法培训", "持证执法人员数", "\x1b[31m三\x9b2J")
    del files["统计局.xlsx"]
    files["坏\x1b[2J.xlsx"] = b"\x1b[2J not a workbook"
    write_month(tmp_path, files)
    settings = month_settings(tmp_path)
    caplog.set_level("DEBUG")
    report = run_month(PERIOD, settings)
    text = "\n".join(report.lines()) + month_problems_text(make_engine(settings.warehouse_url), PERIOD)
    text += "\n".join(str(v) for v in report.as_dict().values()) + caplog.text
    assert "统计局␛[2J" in text
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), repr(re.findall(r".{10}[\x1b\x07\x9b]", text))


def _cli(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "pipeline", *argv], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.mark.integration
@pytest.mark.parametrize(("argv", "cause"), [
    (("problems", "--period", "2020-13"), "--period"),
    (("problems", "--period", "../../etc"), "--period"),
    (("consolidate", "--year", "0"), "年度"),
    (("problems", "--period", "2020-01", "--warehouse", "postgresql+psycopg://postgres@127.0.0.1:1/none"),
     "数据仓库不可用"),
])
def test_case_10_expected_failures_are_one_line(argv, cause, tmp_path):
    result = _cli(*argv)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and cause in lines[0], result.stderr


@pytest.mark.integration
def test_case_10_disk_full_and_server_gone_mid_load_are_one_line(tmp_path, monkeypatch, capsys):
    from pipeline import cli
    from pipeline.warehouse import load as warehouse

    write_month(tmp_path, clean_files())
    monkeypatch.setenv("DISTRICT_DATA", str(tmp_path / "data"))
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "data" / "archive"))

    monkeypatch.setattr(atomic, "write_bytes", disk_full)
    assert cli.main(["ingest", "--period", PERIOD, "--inbox", str(tmp_path / "inbox"), "--warehouse", url]) == 4
    err = capsys.readouterr().err.strip()
    assert err.startswith("磁盘空间不足") and "\n" not in err
    monkeypatch.undo()
    monkeypatch.setenv("DISTRICT_DATA", str(tmp_path / "data"))

    def server_gone(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(warehouse, "settle_supersession", server_gone)
    assert cli.main(["ingest", "--period", PERIOD, "--inbox", str(tmp_path / "inbox"), "--warehouse", url]) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("数据仓库不可用") and "server closed" in err and "\n" not in err


@pytest.mark.unit
def test_case_11_stale_temporary_files_are_removed_by_the_next_run(tmp_path):
    data = b"some bytes"
    root = tmp_path / "archive"
    folder = archive_path(root, "ab" + "0" * 62).parent
    folder.mkdir(parents=True)
    dead = folder / f"{INCOMING_PREFIX}dead"
    dead.write_bytes(b"half")
    live = folder / f"{INCOMING_PREFIX}live"
    live.write_bytes(b"being written")
    fd = os.open(live, os.O_RDONLY)
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)  # a writer still at work (another month being archived)
    try:
        inbox = tmp_path / "in"
        inbox.mkdir()
        (inbox / "a.xlsx").write_bytes(data)
        list(archive_files([inbox / "a.xlsx"], root))
        assert not dead.exists() and live.exists()
    finally:
        os.close(fd)
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{atomic.TEMP_PREFIX}x.xlsx").write_bytes(b"half")
    atomic.write_text(out / "figures.csv", "指标代码\n")
    assert sorted(p.name for p in out.iterdir()) == ["figures.csv"]


# --- the sanitiser ------------------------------------------------------------------------------

@pytest.mark.unit
@pytest.mark.parametrize(("raw", "cleaned"), [
    ("约3人\x0b（待核）", "约3人\n（待核）"),
    ("a\x01b\x1b[2Jc\x7f\x9b", "a␁b␛[2Jc␡\ufffd"),
    ("x\ud800y\ufffe", "x\ufffdy\ufffd"),
    ("evil\u202ecod.exe", "evil\ufffdcod.exe"),
    ("\u200f正常\u200e", "\u200f正常\u200e"),
])
def test_clean(raw, cleaned):
    assert sanitise.clean(raw) == cleaned


@pytest.mark.unit
def test_cell_one_line_html_names():
    assert sanitise.cell("=1+1") == "'=1+1" and sanitise.cell("\x0b=1") == "\n=1" and sanitise.cell(5) == 5
    assert sanitise.cell("-\x01") == "'-␁"
    long = sanitise.cell("长" * 40_000)
    assert len(long) <= sanitise.MAX_CELL_CHARS and long.endswith(sanitise.CUT_MARK)
    assert sanitise.one_line("a\nb\tc\r") == "a␊b␉c␍"
    assert sanitise.html("<svg/onload=x>") == "&lt;svg/onload=x&gt;"
    name = sanitise.file_component("../\U00020000" * 100, 100)
    assert len(name.encode()) <= 100 and "/" not in name and name.encode().decode() == name
    assert sanitise.file_component("\x1b[2J..") == "2J"
    assert sanitise.sheet_title("a[b]:c*?/\\d" + "x" * 40) == "a_b__c____d" + "x" * 20


# --- property test ------------------------------------------------------------------------------

SPECIMENS = ["\x0b", "\x00", "\x01", "\x1b[2J", "\x9b", "\ud800", "\udfff", "\u202e", "\u200f", "\u2066",
             "<script>alert(1)</script>", "<svg/onload=alert(1)>", "&amp;", "=HYPERLINK(\"http://x\")", "+1",
             "-1", "@SUM(A1)", "\t=1", "😀", "𠀀", "_x000B_", "'", "\"", "长" * 300, "x" * 33_000]
hostile_text = st.lists(st.one_of(st.sampled_from(SPECIMENS), st.text(
    alphabet=st.characters(exclude_categories=()), max_size=20)), min_size=1, max_size=4).map("".join)
hostile_name = st.lists(st.one_of(st.sampled_from([s for s in SPECIMENS if len(s) < 300]), st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="/\x00"), max_size=20)),
    min_size=1, max_size=4).map("".join).map(lambda s: s.encode("utf-8", "surrogatepass"))


@pytest.fixture(scope="module")
def clean_month_figures(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    write_month(root, clean_files())
    settings = month_settings(root)
    run_month(PERIOD, settings)
    return figures_now(settings.warehouse_url)


@pytest.mark.integration
@hyp_settings(max_examples=6, deadline=None, derandomize=True, phases=(Phase.explicit, Phase.generate),
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=hostile_text, name=hostile_name)
def test_property_arbitrary_unicode_in_cells_and_names(text, name, clean_month_figures, tmp_path_factory):
    """Any text in a free-text cell of a refused and of a valid return, any file name: the month loads or
    refuses with a reason, the feedback opens, the Data Docs hold no markup of ours, the figures stand."""
    from pipeline.validation.validate import build_data_docs

    root = tmp_path_factory.mktemp("prop")
    # A file name as bytes: what the file system allows (no "/", no NUL, 255 bytes), anything else goes.
    raw_name = name.replace(b"\x00", b"").replace(b"/", b"_")[:200].decode("utf-8", "ignore").encode()
    raw_name = (raw_name.lstrip(b".~") or b"x") + b".xlsx"
    files = clean_files()
    del files["市场监管局.xlsx"]
    write_month(root, files)
    folder = root / "inbox" / PERIOD
    (folder / os.fsdecode(raw_name)).write_bytes(with_cell("SCJG", "行政检查", "任务名称", text))
    refused = with_cell("TJJ", "执法培训", "持证执法人员数", text)
    (folder / "统计局.xlsx").write_bytes(refused)
    os.utime(folder / "统计局.xlsx", (RECEIVED.timestamp(),) * 2)
    settings = month_settings(root)
    report = run_month(PERIOD, settings)
    engine = make_engine(settings.warehouse_url)
    with engine.connect() as conn:
        rows = {r.file_name: r.status for r in conn.execute(sa.select(return_file))}
    scjg = rows[os.fsdecode(raw_name)]
    if scjg != "accepted":
        assert any(f.file_name == os.fsdecode(raw_name) and f.problems for f in open_problems(engine, PERIOD))
    assert rows["统计局.xlsx"] != "accepted"
    written = write_month_feedback(PERIOD, settings)
    feedback_opens(written)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", "\n".join(report.lines()) + month_problems_text(
        engine, PERIOD))
    build_data_docs(settings.data_docs)
    pages, handlers = data_docs_text(settings.data_docs)
    assert handlers == [] and "<script>alert" not in pages and "<svg/onload" not in pages
    if scjg == "accepted":
        # 统计局's training return refused: only its training figures may differ from the clean month.
        now = figures_now(settings.warehouse_url)
        training = {c for c, d in FIGURE_DEFS.items() if d.form == "training"}
        assert {c: v for c, v in now.items() if c not in training} == {
            c: v for c, v in clean_month_figures.items() if c not in training}
    shutil.rmtree(root, ignore_errors=True)


# --- kill and re-run ----------------------------------------------------------------------------

KILLER = r"""
import os, signal, sys
point, url, period = sys.argv[1:4]
import pipeline.atomic as atomic, pipeline.warehouse.load as warehouse
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
replace = os.replace
def replace_or_die(src, dst):
    if point in str(dst):
        die()
    return replace(src, dst)
if point == "load":
    warehouse.settle_supersession = die  # inside the load's transaction
elif point == "consolidate":
    import pipeline.figures.consolidate as figures
    figures.bulk_insert = die  # inside the consolidation's transaction, figures written
else:
    atomic.os.replace = replace_or_die  # a temporary file written whole, not yet renamed
from pipeline.annual import consolidate_year
from pipeline.config import settings
from pipeline.outputs.feedback import write_month_feedback
from pipeline.ingest import run_month
s = settings(url)
run_month(period, s)
write_month_feedback(period, s)
consolidate_year(int(period[:4]), s)
"""
KILL_POINTS = ("archive", "load", "feedback", "figures.xlsx", "consolidate")


def _run_all(settings) -> None:
    from pipeline.annual import consolidate_year

    run_month(PERIOD, settings)
    write_month_feedback(PERIOD, settings)
    consolidate_year(YEAR, settings)


def _state(settings) -> tuple:
    """Warehouse rows (no timestamps of the run itself) and every file's name, and its bytes where they
    do not carry the time of writing."""
    from pipeline.warehouse.schema import completeness, consolidation

    rows = dump(make_engine(settings.warehouse_url))
    rows.pop(consolidation.name, None)  # its out_dir is the run's folder
    rows[completeness.name] = [r[:-1] for r in rows[completeness.name]]
    files = {}
    for base in (settings.archive, settings.feedback, settings.out):
        for path in sorted(base.rglob("*")):
            if path.is_file():
                rel = str(path.relative_to(settings.data))
                files[rel] = path.read_bytes() if base == settings.archive or path.suffix == ".csv" else None
    return rows, files


@pytest.mark.integration
@pytest.mark.slow
def test_kill_at_named_points_then_rerun_equals_a_clean_run(warehouse_url, tmp_path, tmp_path_factory):
    from pipeline.warehouse.schema import metadata

    files = clean_files()
    files["统计局.xlsx"] = with_cell("TJJ", "执法培训", "持证执法人员数", "很多\x0b")
    clean_root = tmp_path_factory.mktemp("clean-run")
    write_month(clean_root, files)
    clean = month_settings(clean_root)
    _run_all(clean)
    expected = _state(clean)
    for point in KILL_POINTS:
        root = tmp_path / point
        write_month(root, files)
        s = month_settings(root, warehouse_url)
        env = {**os.environ, "DISTRICT_DATA": str(root / "data"), "DISTRICT_INBOX": str(root / "inbox")}
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", KILLER, point, warehouse_url, PERIOD], env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == -signal.SIGKILL, (point, proc.stderr[-2000:], time.monotonic() - started)
        _run_all(s)
        assert _state(s) == expected, point
        leftovers = [p for p in s.data.rglob(".*") if p.name.startswith((INCOMING_PREFIX, atomic.TEMP_PREFIX))]
        assert leftovers == [], point
        if warehouse_url.startswith("postgresql"):
            with make_engine(warehouse_url).begin() as conn:
                for table in reversed(metadata.sorted_tables):
                    conn.execute(table.delete())
