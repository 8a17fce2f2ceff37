"""Acceptance on years nobody here tuned the parser to: two generators written from forms.md alone.

``tests/data/independent/corpus_a.py`` and ``corpus_b.py`` were written by two people who never read
``pipeline/``; each writes a full year of returns laid out by every habit and official layout forms.md
names and returns the seven figures by its own reading of the rules. The files are kept exactly as their
authors left them (SHA-256 in ``tests/data/independent/README.md``). The year goes through the real DAGs;
the figures must be exact and no return may be refused.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HERE = Path(__file__).resolve().parent / "data" / "independent"
#: corpus file, year and seed its author chose.
CORPORA = {"corpus_a": ("corpus_a.py", 2021, 1101), "corpus_b": ("corpus_b.py", 2022, 2207)}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"independent_{name}", HERE / CORPORA[name][0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_an_independent_year_gives_its_figures_through_the_dags(corpus, warehouse_url, make_settings, tmp_path):
    import sqlalchemy as sa
    from airflow.utils.state import DagRunState

    from pipeline.figures.consolidate import stored_figures
    from pipeline.forms import FORMS, SERIAL_LABEL
    from pipeline.intake.parse import normalise_label
    from pipeline.orchestration.runner import run_year_airflow
    from pipeline.validation.verification import stored_hits
    from pipeline.warehouse.connect import make_engine

    _, year, seed = CORPORA[corpus]
    inbox = tmp_path / "inbox"
    expected = _load(corpus).write_year(inbox, year=year, seed=seed)
    assert len(expected) == 7
    settings = make_settings(inbox, warehouse_url)
    runs = run_year_airflow(year, settings)
    assert [r.dag_id for r in runs] == ["district_returns_monthly"] * 12 + ["district_annual_statistics"]
    assert all(r.state == DagRunState.SUCCESS for r in runs)

    engine = make_engine(warehouse_url)
    figures = {f["code"]: f["value"] for f in stored_figures(engine, year)}
    assert {code: figures.get(code) for code in expected} == expected

    with engine.connect() as conn:
        files = conn.execute(sa.text("SELECT period, status, count(*) FROM return_file GROUP BY period, status")).all()
        problems = conn.execute(sa.text(
            "SELECT f.period, f.file_name, p.severity, p.rule, p.sheet, p.cell, p.value, p.message_zh "
            "FROM problem p JOIN return_file f ON f.file_id = p.file_id ORDER BY f.period, f.file_name, p.seq"
        )).all()
        quarantined = conn.execute(sa.text("SELECT count(*) FROM submission WHERE status <> 'loaded'")).scalar()
        hits = stored_hits(conn, year=year)
    written = {p.name: len(list(p.glob("*.xlsx"))) for p in inbox.iterdir()}
    assert {period: (status, n) for period, status, n in files} == {
        period: ("accepted", n) for period, n in written.items()}
    assert quarantined == 0
    # Nothing is refused and nothing is warned about but the extra columns the clerks added (备注, 承办科室 …):
    # never a 序号 column, a form's own column, or a 栏次/计量单位/合计 row.
    labels = {normalise_label(c.label) for f in FORMS.values() for c in f.columns} | {SERIAL_LABEL}
    unexpected = [p for p in problems if p.rule != "extra_column" or normalise_label(p.value) in labels]
    assert unexpected == [], unexpected[:10]
    # A clean year the rules were not tuned on asks the units to confirm a few values at most
    # (docs/decisions/0009-verification-rules.md: corpus A 0, corpus B 2 special campaigns).
    assert len(hits) <= 3, [h.describe_zh() for h in hits]
