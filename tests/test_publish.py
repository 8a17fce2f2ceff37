"""Published versions: frozen figures, corrections after publication, and what they would change."""

from __future__ import annotations

import json
import logging
import os

import pytest
import sqlalchemy as sa
from helpers import LogCollector
from openpyxl import load_workbook

from pipeline.annual import consolidate_year
from pipeline.cli import main
from pipeline.figures.consolidate import stored_figures
from pipeline.figures.publish import PublishError, compare, format_comparison, publications, publish, published_figures
from pipeline.ingest import run_month
from pipeline.warehouse.connect import make_engine
from pipeline.warehouse.schema import publication_submission, submission

pytestmark = pytest.mark.integration
MONTHS = ("2020-11", "2020-12")


def _correct_exam_takers(inbox, add: int):
    """A clerk's correction of 区人力资源和社会保障局's December return: ``add`` more exam takers, sent later."""
    original = next((inbox / "2020-12").glob("区人力资源和社会保障局_*"))
    wb = load_workbook(original)
    ws = wb["执法培训"]
    header = {c.value: c.column_letter for c in ws[4]}
    ws[f"{header['参加执法资格考试人数']}5"] = ws[f"{header['参加执法资格考试人数']}5"].value + add
    target = original.with_name(original.stem + "_更正.xlsx")
    wb.save(target)
    stat = original.stat()
    os.utime(target, (stat.st_atime, stat.st_mtime + 3600))
    return original, target


def _values(rows: list[dict]) -> dict[str, float]:
    return {r["code"]: r["value"] for r in rows}


def _rsj_training_files(engine, version: int) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(
            sa.select(publication_submission.c.file_name).where(
                publication_submission.c.version == version, publication_submission.c.unit_code == "RSJ",
                publication_submission.c.form_code == "training", publication_submission.c.period == "2020-12",
            )
        ).scalars())


def test_correction_after_publication(inbox_copy, warehouse_url, make_settings, capsys):
    settings = make_settings(inbox_copy, warehouse_url)
    engine = make_engine(warehouse_url)
    for period in MONTHS:
        run_month(period, settings, engine=engine)
    consolidate_year(2020, settings)
    assert "与已发布版本比较" not in load_workbook(settings.out / "2020" / "figures.xlsx").sheetnames
    before = _values(stored_figures(engine, 2020))
    takers = before["exam_takers"]

    v1 = publish(engine, 2020, by="张三", note="报区政府审定稿")
    assert (v1.version, v1.published_by, v1.note, v1.same_as_version) == (1, "张三", "报区政府审定稿", None)
    assert _values(published_figures(engine, 2020, 1)) == before
    with engine.connect() as conn:
        in_force = conn.execute(sa.select(sa.func.count()).select_from(submission).where(
            submission.c.status == "loaded")).scalar()
    # Every submission in force feeds the 2020 figures (there is no other year in this warehouse).
    assert v1.submissions == in_force > 0

    original, corrected = _correct_exam_takers(inbox_copy, 10)
    run_month("2020-12", settings, engine=engine)

    # The warehouse follows the correction; the published version does not.
    assert _values(published_figures(engine, 2020, 1))["exam_takers"] == takers
    with pytest.raises(PublishError, match="consolidate"):
        publish(engine, 2020, by="张三")  # the stored figures predate the correction

    comparison = compare(engine, 2020)
    assert comparison is not None and comparison.version == 1
    [change] = comparison.figure_changes
    assert (change.code, change.old_value, change.new_value, change.delta) == ("exam_takers", takers, takers + 10, 10)
    [cause] = change.causes
    assert (cause.unit_code, cause.form_code, cause.periods) == ("RSJ", "training", ["2020-12"])
    assert [s["file_name"] for s in cause.added] == [corrected.name]
    assert [s["file_name"] for s in cause.superseded] == [original.name]
    # The correction resent RSJ's other sheets unchanged: listed, but as changing no figure.
    assert all(c.unit_code == "RSJ" and c.form_code != "training" for c in comparison.unexplained)

    assert main(["changes", "--year", "2020", "--warehouse", warehouse_url]) == 0
    out = capsys.readouterr().out
    assert "已发布第1版" in out and "张三" in out and "exam_takers" in out
    assert f"（{int(takers)}）" in out and f"（{int(takers) + 10}）" in out and "+10" in out
    assert "区人力资源和社会保障局 · 执法培训 · 2020-12" in out and corrected.name in out

    # The next consolidation logs the change and adds the comparison sheet.
    handler = LogCollector()
    logger = logging.getLogger("pipeline.figures.publish")
    logger.addHandler(handler)
    try:
        result = consolidate_year(2020, settings)
    finally:
        logger.removeHandler(handler)
    assert result["published_version"] == 1 and result["changed_since_publication"] == ["exam_takers"]
    [logged] = [m for m in handler.messages if "exam_takers" in m]
    assert f"has {int(takers)}, now {int(takers) + 10}" in logged and "RSJ" in logged and corrected.name in logged
    ws = load_workbook(settings.out / "2020" / "figures.xlsx")["与已发布版本比较"]
    [row] = [r for r in ws.iter_rows(values_only=True) if r[0] == "exam_takers"]
    assert (row[2], row[4], row[6]) == (takers, takers + 10, 10)
    assert corrected.name in row[7] and "区人力资源和社会保障局" in row[7]
    assert _values(published_figures(engine, 2020, 1))["exam_takers"] == takers

    # Version 2 only on request; both stay queryable.
    v2 = publish(engine, 2020, by="李四")
    assert (v2.version, v2.same_as_version) == (2, None)
    assert _values(published_figures(engine, 2020, 2))["exam_takers"] == takers + 10
    assert _values(published_figures(engine, 2020, 1))["exam_takers"] == takers
    assert _rsj_training_files(engine, 1) == [original.name]
    assert _rsj_training_files(engine, 2) == [corrected.name]
    assert compare(engine, 2020).figure_changes == []
    assert [c.code for c in compare(engine, 2020, version=1).figure_changes] == ["exam_takers"]
    assert "没有变化" in format_comparison(compare(engine, 2020))

    for version, expected in ((1, takers), (2, takers + 10)):
        assert main(["figures", "--year", "2020", "--version", str(version), "--format", "json",
                     "--warehouse", warehouse_url]) == 0
        printed = {f["code"]: f["value"] for f in json.loads(capsys.readouterr().out)}
        assert printed["exam_takers"] == expected

    # Publishing again with nothing changed is a new version, recorded as identical to the previous.
    v3 = publish(engine, 2020, by="李四")
    assert (v3.version, v3.same_as_version) == (3, 2)
    assert [(p["version"], p["published_by"], p["same_as_version"]) for p in publications(engine, 2020)] == [
        (1, "张三", None), (2, "李四", None), (3, "李四", 2)]


def test_publish_needs_consolidated_figures(tmp_path, warehouse_url, make_settings, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settings = make_settings(inbox, warehouse_url)
    engine = make_engine(warehouse_url)
    run_month("2020-01", settings, engine=engine)
    with pytest.raises(PublishError, match="consolidate"):
        publish(engine, 2020)
    assert main(["publish", "--year", "2020", "--warehouse", warehouse_url]) == 1
    assert "consolidate" in capsys.readouterr().err
    assert compare(engine, 2020) is None
    assert main(["changes", "--year", "2020", "--warehouse", warehouse_url]) == 0
    assert "尚未发布" in capsys.readouterr().out
    assert publications(engine, 2020) == []


def test_asset_triggered_consolidation_skips_only_a_year_whose_inputs_are_unchanged(
        inbox_copy, warehouse_url, make_settings):
    settings = make_settings(inbox_copy, warehouse_url)
    engine = make_engine(warehouse_url)
    run_month("2020-11", settings, engine=engine)
    first = consolidate_year(2020, settings, unless_unchanged=True)  # nothing recorded yet: consolidates
    xlsx = settings.out / "2020" / "figures.xlsx"
    written = xlsx.stat().st_mtime_ns
    assert first["unchanged"] is False
    figures = _values(stored_figures(engine, 2020))

    again = consolidate_year(2020, settings, unless_unchanged=True)
    assert again["unchanged"] is True and xlsx.stat().st_mtime_ns == written
    assert _values(stored_figures(engine, 2020)) == figures

    run_month("2020-12", settings, engine=engine)  # new submissions: the digest changes
    third = consolidate_year(2020, settings, unless_unchanged=True)
    assert third["unchanged"] is False and xlsx.stat().st_mtime_ns != written

    publish(engine, 2020, by="王科长", note=None)  # a publication is an input too (the comparison sheet)
    assert consolidate_year(2020, settings, unless_unchanged=True)["unchanged"] is False

    xlsx.unlink()  # a missing file is rewritten even when nothing else changed
    assert consolidate_year(2020, settings, unless_unchanged=True)["unchanged"] is False and xlsx.is_file()
    assert consolidate_year(2020, settings)["unchanged"] is False  # a manual run always consolidates
