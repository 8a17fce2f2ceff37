"""A month and a year through ingest and consolidation, on SQLite and PostgreSQL (no Airflow)."""

from __future__ import annotations

import os
import shutil

import pytest
import sqlalchemy as sa
from helpers import assert_matches_report
from openpyxl import load_workbook

from pipeline.figures.consolidate import consolidate
from pipeline.ingest import run_month
from pipeline.intake.archive import archive_path
from pipeline.periods import months_of
from pipeline.registry import units
from pipeline.warehouse.connect import make_engine
from pipeline.warehouse.load import dump
from pipeline.warehouse.schema import submission

pytestmark = pytest.mark.integration
# The sample sends every form a unit owes (registry `forms`) every month, nil when nothing happened.
RETURNS_A_MONTH = sum(len(u.forms) for u in units())
SEVEN = ["inspection_units", "inspection_tasks", "inspection_entities", "joint_inspections", "transfers_filed",
         "exam_takers", "trained_officers"]


def run_year(settings, engine, year=2020):
    for period in months_of(year):
        run_month(period, settings, engine=engine)
    return {f["code"]: f["value"] for f in consolidate(engine, year)}


def test_sample_year_reproduces_the_report(inbox_copy, warehouse_url, make_settings):
    settings = make_settings(inbox_copy, warehouse_url)
    engine = make_engine(warehouse_url)
    figures = run_year(settings, engine)
    assert_matches_report(figures, SEVEN)
    with engine.connect() as conn:
        query = sa.select(submission.c.status, sa.func.count()).group_by(submission.c.status)
        statuses = dict(conn.execute(query).all())
    assert statuses == {"loaded": 12 * RETURNS_A_MONTH}


def test_rerun_changes_nothing(inbox_copy, warehouse_url, make_settings):
    settings = make_settings(inbox_copy, warehouse_url)
    engine = make_engine(warehouse_url)
    run_year(settings, engine)
    before = dump(engine)
    run_month("2020-06", settings, engine=engine)
    consolidate(engine, 2020)
    assert dump(engine) == before


def test_archive_holds_every_byte_and_inbox_is_untouched(inbox_copy, make_settings, tmp_path):
    settings = make_settings(inbox_copy, f"sqlite:///{tmp_path / 'w.sqlite'}")
    files = sorted((inbox_copy / "2020-03").iterdir())
    before = {p: (p.read_bytes(), p.stat().st_mtime) for p in files}
    run_month("2020-03", settings)
    import hashlib

    for path, (data, mtime) in before.items():
        archived = archive_path(settings.archive, hashlib.sha256(data).hexdigest())
        assert archived.read_bytes() == data
        assert path.read_bytes() == data and path.stat().st_mtime == mtime


def _edit(path, sheet, cell, value, newer_by=3600):
    """Change one cell as a clerk would and save as a new, later workbook beside the original."""
    wb = load_workbook(path)
    wb[sheet][cell] = value
    target = path.with_name(path.stem + "_更正.xlsx")
    wb.save(target)
    stat = path.stat()
    os.utime(target, (stat.st_atime, stat.st_mtime + newer_by))
    return target


def test_correction_supersedes_and_figures_follow(inbox_copy, warehouse_url, make_settings):
    settings = make_settings(inbox_copy, warehouse_url)
    engine = make_engine(warehouse_url)
    original = next((inbox_copy / "2020-12").glob("区人力资源和社会保障局_*"))
    wb = load_workbook(original, read_only=True)
    takers_cell = next(c for c in wb["执法培训"][4] if c.value == "参加执法资格考试人数")
    cell = f"{takers_cell.column_letter}5"
    old = load_workbook(original)["执法培训"][cell].value
    passed_cell = cell.replace(takers_cell.column_letter, chr(ord(takers_cell.column_letter) + 1))
    corrected = _edit(original, "执法培训", cell, old + 10)
    # keep exam_passed ≤ exam_takers true: the correction adds takers only.
    assert load_workbook(corrected)["执法培训"][passed_cell].value <= old + 10
    figures = run_year(settings, engine)
    assert figures["exam_takers"] == 607 + 10
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(submission.c.file_name, submission.c.status)
            .where(submission.c.period == "2020-12", submission.c.unit_code == "RSJ")
            .where(submission.c.form_code == "training")
        ).all()
    assert sorted(rows) == sorted([(original.name, "superseded"), (corrected.name, "loaded")])
    # Withdrawing the correction's effect: an even later resend of the original content wins again.
    again = inbox_copy / "2020-12" / "重报.xlsx"
    shutil.copy(original, again)
    os.utime(again, (corrected.stat().st_mtime + 60, corrected.stat().st_mtime + 60))
    run_month("2020-12", settings, engine=engine)
    assert {f["code"]: f["value"] for f in consolidate(engine, 2020)}["exam_takers"] == 607


def test_invalid_return_quarantined_while_month_loads(inbox_copy, warehouse_url, make_settings):
    settings = make_settings(inbox_copy, warehouse_url)
    engine = make_engine(warehouse_url)
    original = next((inbox_copy / "2020-12").glob("区人力资源和社会保障局_*"))
    wb = load_workbook(original)
    ws = wb["执法培训"]
    header = {c.value: c.column_letter for c in ws[4]}
    ws[f"{header['考试合格人数']}5"] = ws[f"{header['参加执法资格考试人数']}5"].value + 5
    ws[f"{header['持证执法人员数']}5"] = "很多"
    wb.save(original)
    report = run_month("2020-12", settings, engine=engine)
    assert report.quarantined == 1 and report.loaded == RETURNS_A_MONTH - 1
    [(name, messages)] = report.refused_files
    assert name == original.name
    assert any(f"{header['持证执法人员数']}5" in m and "很多" in m and "整数" in m for m in messages)
    assert any(f"{header['考试合格人数']}5" in m and "考试合格人数" in m for m in messages)
    with engine.connect() as conn:
        statuses = conn.execute(
            sa.select(submission.c.form_code, submission.c.status)
            .where(submission.c.period == "2020-12", submission.c.unit_code == "RSJ")
        ).all()
    assert dict(statuses) == {"training": "quarantined", "inspection": "loaded", "transfer": "loaded"}


@pytest.mark.postgres
def test_postgres_load_leaves_statistics_and_visibility_map(inbox_copy, pg_url, make_settings):
    """After a month's load the planner knows the tables' sizes, and their pages are marked all-visible."""
    settings = make_settings(inbox_copy, pg_url)
    engine = make_engine(pg_url)
    run_month("2020-03", settings, engine=engine)
    with engine.connect() as conn:
        for table in ("return_file", "submission", "submission_column", "fact_inspection", "fact_training"):
            rows = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            tuples, visible = conn.execute(sa.text(
                "SELECT reltuples, relallvisible FROM pg_class WHERE relname = :t"), {"t": table}).one()
            assert rows > 0 and (tuples, visible > 0) == (rows, True), table
    engine.dispose()


def _statistics(engine, tables: tuple[str, ...]) -> dict[str, tuple[int, float, int, bool]]:
    """Table → (rows, reltuples, changes since the last ANALYZE, analysed ever)."""
    with engine.connect() as conn:
        return {table: (
            conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one(),
            *conn.execute(sa.text(
                "SELECT c.reltuples, s.n_mod_since_analyze, s.last_analyze IS NOT NULL FROM pg_class c"
                " JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = :t"), {"t": table}).one(),
        ) for table in tables}


@pytest.mark.postgres
@pytest.mark.parametrize("base_rows", [500, 0])
def test_postgres_reanalyses_a_table_only_once_enough_of_it_changed(
        inbox_copy, pg_url, make_settings, monkeypatch, base_rows):
    """Row counts are fresh after every load; column statistics once half the table (plus a base) changed."""
    from pipeline.warehouse import load as warehouse

    monkeypatch.setattr(warehouse, "ANALYZE_BASE_ROWS", base_rows)
    settings = make_settings(inbox_copy, pg_url)
    engine = make_engine(pg_url)
    tables = ("submission", "fact_inspection")
    run_month("2020-03", settings, engine=engine)
    first = _statistics(engine, tables)
    assert all(analysed and changed == 0 and tuples == rows for rows, tuples, changed, analysed in first.values())
    run_month("2020-04", settings, engine=engine)  # about as many rows again: half the table is new
    for table, (rows, tuples, changed, _) in _statistics(engine, tables).items():
        assert tuples == rows > first[table][0], table
        added = rows - first[table][0]
        # Under the 500-row base the month's rows wait for a later ANALYZE; without it they were analysed.
        assert changed == (added if base_rows else 0), table
    engine.dispose()


@pytest.mark.postgres
def test_postgres_load_commits_when_the_statistics_flush_is_refused(inbox_copy, pg_url, make_settings, monkeypatch):
    """The flush before commit only makes the next ANALYZE decision exact: its failure must not cost the load."""
    from pipeline.warehouse import load as warehouse

    monkeypatch.setattr(warehouse, "FLUSH_STATISTICS_SQL", "SELECT no_such_function_district()")
    settings = make_settings(inbox_copy, pg_url)
    engine = make_engine(pg_url)
    run_month("2020-03", settings, engine=engine)
    with engine.connect() as conn:
        loaded = conn.execute(sa.text("SELECT count(*) FROM submission WHERE status = 'loaded'")).scalar_one()
    assert loaded > 0
    engine.dispose()
