"""All 32 figures from the sample returns, their provenance down to the cell, the report text, the
check of a draft, and figures.xlsx for report authors, on SQLite and PostgreSQL.

The 2018–2020 sample (2018 and 2019: 行政应诉 only) is loaded once per engine for the module: a
year takes a minute to ingest, so the per-test ``warehouse_url`` fixture would cost too much here.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import PG_ADMIN_URL, REPO, _pg_available, assert_matches_report, report_figures_2020
from openpyxl import load_workbook

from pipeline.annual import consolidate_year
from pipeline.archive import archive_path
from pipeline.config import settings as make_settings_
from pipeline.figures import FIGURE_DEFS, monthly_values, stored_contributions, stored_figures
from pipeline.ingest import run_month
from pipeline.periods import months_of
from pipeline.provenance import provenance
from pipeline.registry import units
from pipeline.sample import LOOKBACK_FORMS, sample_year_data, write_sample_year
from pipeline.warehouse import make_engine, submission

pytestmark = pytest.mark.integration
REPORT = REPO / "tests" / "data" / "zhonglou-2020-rule-of-law-report.txt"
YEARS = (2018, 2019, 2020)


@pytest.fixture(scope="module")
def sample_inbox(sample_inbox_2020: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    inbox = tmp_path_factory.mktemp("inbox-2018-2020") / "inbox"
    shutil.copytree(sample_inbox_2020, inbox, copy_function=shutil.copy2)
    for year in YEARS[:-1]:
        write_sample_year(year, inbox, forms=LOOKBACK_FORMS)
    return inbox


def _load(url: str, inbox: Path, data: Path):
    s = dataclasses.replace(make_settings_(url), inbox=inbox, data=data)
    engine = make_engine(url)
    for year in YEARS:
        for period in months_of(year):
            run_month(period, s, engine=engine)
    for year in YEARS[1:]:
        consolidate_year(year, s)
    return s, engine


@pytest.fixture(scope="module")
def sqlite_loaded(sample_inbox: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("sqlite-warehouse")
    return _load(f"sqlite:///{folder / 'warehouse.sqlite'}", sample_inbox, folder / "data")


@pytest.fixture(scope="module")
def pg_loaded(sample_inbox: Path, tmp_path_factory: pytest.TempPathFactory):
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (CI must start it)")
        pytest.skip("PostgreSQL is not reachable")
    name = f"district_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    s, engine = _load(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", sample_inbox,
                      tmp_path_factory.mktemp("pg-warehouse") / "data")
    yield s, engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], scope="module")
def loaded(request):
    """(settings, engine) of the loaded warehouse, on both engines."""
    return request.getfixturevalue("sqlite_loaded" if request.param == "sqlite" else "pg_loaded")


def _figures(engine, year: int = 2020) -> dict[str, dict]:
    return {f["code"]: f for f in stored_figures(engine, year)}


# --- figures ---------------------------------------------------------------------------------


def test_all_32_figures_equal_the_report(loaded) -> None:
    _, engine = loaded
    with engine.connect() as conn:
        statuses = dict(conn.execute(
            sa.select(submission.c.status, sa.func.count()).group_by(submission.c.status)).all())
    # Every sample return passes its suite: 79 a month in 2020, 行政应诉 only in 2018 and 2019.
    assert statuses == {"loaded": 12 * sum(len(u.forms) for u in units()) + 2 * 12}
    figures = {code: f["value"] for code, f in _figures(engine).items()}
    assert list(figures) == list(report_figures_2020())
    assert_matches_report(figures, list(figures))


def test_contributions_add_up_to_each_figure(loaded) -> None:
    _, engine = loaded
    by_code: dict[str, float] = {}
    for c in stored_contributions(engine, 2020):
        by_code[c["code"]] = by_code.get(c["code"], 0.0) + c["value"]
    for code, f in _figures(engine).items():
        assert math.isclose(by_code.get(code, 0.0), f["value"], abs_tol=1e-9), code
    contributions = {(c["code"], c["unit_code"]): c for c in stored_contributions(engine, 2020)}
    # Joint inspections are reported by every participant and counted once: a negative adjustment.
    assert contributions[("inspection_entities", "*")]["value"] < 0
    assert contributions[("joint_inspections", "*")]["value"] < 0
    assert "2018年" in contributions[("head_appearance_rate", "*")]["note_zh"]


def test_every_figure_is_the_sum_of_its_source_cells(loaded) -> None:
    """Consolidation and provenance read the same rows: the cells add up to the stored figure."""
    _, engine = loaded
    figures = _figures(engine)
    with engine.connect() as conn:
        for code, fdef in FIGURE_DEFS.items():
            cells = provenance(conn, code, 2020)
            assert cells, code
            assert all(c.cell and re.fullmatch(r"[A-Z]+\d+", c.cell) for c in cells), code
            counted = sum(c.counted for c in cells)
            if fdef.measure == "rate":
                value = 100 * counted / sum(c.base for c in cells)
            elif fdef.measure == "rate3":
                years = {c.period[:4] for c in cells}
                assert years == {"2018", "2019", "2020"}
                value = min(100 * sum(c.counted for c in cells if c.period[:4] == y)
                            / sum(c.base for c in cells if c.period[:4] == y) for y in years)
            else:
                value = counted * fdef.scale
            assert math.isclose(value, figures[code]["value"]), code


def test_source_cells_are_the_archived_workbooks_cells(sqlite_loaded) -> None:
    settings, engine = sqlite_loaded
    opened: dict[str, object] = {}
    with engine.connect() as conn:
        for code in ("inspection_entities", "legal_review_items", "head_appearance_rate", "transfers_filed",
                     "e_registration_rate", "grids_covered", "litigation_closed"):
            for c in provenance(conn, code, 2020):
                if c.sha256 not in opened:
                    data = archive_path(settings.archive, c.sha256).read_bytes()
                    opened[c.sha256] = load_workbook(io.BytesIO(data))
                value = opened[c.sha256][c.sheet][c.cell].value
                shown = value.date().isoformat() if hasattr(value, "date") else str(value)
                assert shown == c.value, (code, c.file_name, c.cell)
    with engine.connect() as conn:
        entities = {c.note for c in provenance(conn, "inspection_entities", 2020) if c.note}
    assert "联合抽查：其他参与单位重复填报，不重复计" in entities


def test_monthly_trend_adds_up_to_each_flow_figure(sqlite_loaded) -> None:
    _, engine = sqlite_loaded
    figures = _figures(engine)
    with engine.connect() as conn:
        for code, fdef in FIGURE_DEFS.items():
            if fdef.measure == "flow":
                months = monthly_values(conn, code, 2020)
                assert list(months) == months_of(2020)
                assert math.isclose(sum(months.values()), figures[code]["value"]), code


def test_explain_prints_cells_with_addresses_and_hashes(sqlite_loaded, capsys) -> None:
    from pipeline.cli import main

    settings, engine = sqlite_loaded
    assert main(["explain", "joint_inspections", "--year", "2020", "--warehouse", settings.warehouse_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2020年 联合抽查次数（joint_inspections）：14次")
    with engine.connect() as conn:
        cells = provenance(conn, "joint_inspections", 2020)
    first = cells[0]
    line = next(line for line in out.splitlines() if first.sha256 in line and f"{first.sheet}!{first.cell}" in line)
    assert first.unit_name in line and first.value in line
    assert first.submission_id in out
    assert main(["explain", "no_such_figure", "--year", "2020", "--warehouse", settings.warehouse_url]) == 2


# --- report text and the check of a draft --------------------------------------------------------


def test_report_sentences_with_year_on_year(sqlite_loaded, tmp_path: Path) -> None:
    from docx import Document

    from pipeline.cli import main

    settings, _ = sqlite_loaded
    assert main(["report", "--year", "2020", "--out", str(tmp_path), "--warehouse", settings.warehouse_url]) == 0
    markdown = (tmp_path / "report-figures.md").read_text(encoding="utf-8")
    sentence = "全区共有17个部门制定检查任务104项，抽取检查对象1976户，实施联合抽查14次"
    assert sentence in markdown
    assert "## 五、加强行政复议，全面提升复议应诉水平" in markdown
    assert "区司法局审核区级文件、合同80余项" in markdown and "全程电子化比例达90%以上" in markdown
    assert "【缺数" not in markdown
    # 2019 is in the warehouse for 行政应诉 only: year-on-year for those figures, and only those.
    received_2019 = len({row["case_id"] for (_, _), sheets in sample_year_data(2019).items()
                         for row in sheets.get("litigation") or [] if row["received_on"].year == 2019})
    assert f"收到行政诉讼案件数 8件（2019年：{received_2019}件" in markdown
    assert "检查任务数 104项（2019年" not in markdown
    paragraphs = [p.text for p in Document(str(tmp_path / "report-figures.docx")).paragraphs]
    assert any(sentence in p for p in paragraphs)
    assert "六、创新服务模式，助推提升基层治理能力" in paragraphs


def test_check_report_confirms_the_real_2020_report(sqlite_loaded, capsys) -> None:
    from pipeline.cli import main

    settings, _ = sqlite_loaded
    code = main(["check-report", str(REPORT), "--year", "2020", "--warehouse", settings.warehouse_url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[0].startswith("2020年报告核对：一致 32 处，不一致 0 处，无数据支撑 0 处")


def test_check_report_flags_a_changed_number_in_a_docx(sqlite_loaded, tmp_path: Path, capsys) -> None:
    from docx import Document

    from pipeline.cli import main

    settings, _ = sqlite_loaded
    doc = Document()
    text = REPORT.read_text(encoding="utf-8").replace("共受理行政复议案件27件", "共受理行政复议案件29件")
    for line in text.splitlines():
        doc.add_paragraph(line)
    draft = tmp_path / "初稿.docx"
    doc.save(draft)
    code = main(["check-report", str(draft), "--year", "2020", "--warehouse", settings.warehouse_url, "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert "不一致 1 处" in out.splitlines()[0]
    assert "不一致：报告写“29件”，数据为“27件”（受理行政复议案件数）" in out


# --- figures.xlsx -----------------------------------------------------------------------------


def test_figures_xlsx_for_report_authors(sqlite_loaded) -> None:
    settings, _ = sqlite_loaded
    path = settings.out / "2020" / "figures.xlsx"
    wb = load_workbook(path)
    assert wb.sheetnames[:2] == ["封面", "指标"]
    assert {"报送情况", "月度趋势"} <= set(wb.sheetnames)
    cover = {r[0]: r[1] for r in wb["封面"].iter_rows(values_only=True) if r[0]}
    assert cover["年度"] == "2020年" and "北京时间" in cover["数据截至"]
    assert cover["已发布版本"].startswith("尚未发布")
    assert cover["报送完整性"].startswith("已汇入12个月")
    table = [r for r in wb["指标"].iter_rows(min_row=3, values_only=True)]
    headings = [r[0] for r in table if r[1] is None]
    assert [h[:2] for h in headings] == ["一、", "二、", "三、", "四、", "五、", "六、"]
    assert [r[0] for r in table if r[1] is not None] == list(report_figures_2020())
    flows = [code for code, d in FIGURE_DEFS.items() if d.measure == "flow"]
    assert len(wb["月度趋势"]._charts) == len(flows)
    for ws in (wb["指标"], wb["月度趋势"], wb["inspection_entities"], wb["封面"]):
        assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
        assert "&P" in ws.oddFooter.center.text
    assert wb["指标"].print_title_rows == "$1:$2"
    sheet = wb["inspection_entities"]
    rows = list(sheet.iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if r[:4] == ("单位", "报告期", "单元格", "栏目"))
    sources = [r for r in rows[header + 1:] if r[0]]
    assert len(sources) == 104
    assert all(re.fullmatch(r"行政检查!D\d+", r[2]) and re.fullmatch(r"[0-9a-f]{64}", r[7]) for r in sources)


def test_figures_xlsx_opens_in_libreoffice(sqlite_loaded, tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice (soffice) is missing: .ci/run installs libreoffice-calc")
        pytest.skip("LibreOffice is not installed (apt-get install -y libreoffice-calc)")
    settings, _ = sqlite_loaded
    source = settings.out / "2020" / "figures.xlsx"
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=300,
    )
    pdf = (tmp_path / "figures.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    # Cover, the figure table, completeness, the trend table with its charts, and a sheet per figure.
    assert pages >= 2 + len(FIGURE_DEFS)
