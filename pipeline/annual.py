"""A year's consolidation: figures into the warehouse and out to the report authors' files."""

from __future__ import annotations

import hashlib
import logging
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.config import Settings
from pipeline.figures.consolidate import consolidate, monthly_trends, stored_contributions
from pipeline.figures.provenance import all_provenance
from pipeline.figures.publish import compare, log_comparison
from pipeline.operations.completeness import YearCompleteness, year_completeness
from pipeline.outputs.figure_files import write_outputs
from pipeline.outputs.verification_report import write_cover_checks
from pipeline.periods import months_of
from pipeline.warehouse.connect import make_engine, reading, session_lock, snapshot
from pipeline.warehouse.schema import consolidation, ensure_schema, publication, return_file, submission

log = logging.getLogger(__name__)


def years_to_consolidate(param: int | None, events: Mapping | None) -> list[int]:
    """The ``year`` Param if given, else every year the triggering asset events name."""
    if param:
        return [int(param)]
    years: set[int] = set()
    for asset_events in (events or {}).values():
        for event in asset_events:
            extra = getattr(event, "extra", None) or {}
            if extra.get("year"):
                years.add(int(extra["year"]))
    if not years:
        raise ValueError("no year to consolidate: give the 'year' Param or trigger from the monthly asset")
    return sorted(years)


def inputs_digest(engine: Engine | Connection, year: int, completeness: YearCompleteness) -> str:
    """SHA-256 of everything a consolidation of ``year`` reads: workbooks, submissions, completeness, publications.

    Facts need no part of their own: a submission's id is derived from its workbook's bytes.
    """
    months = months_of(year)
    digest = hashlib.sha256()
    with reading(engine) as conn:
        for table, where in ((return_file, return_file.c.period.between(months[0], months[-1])),
                             (submission, submission.c.period.between(months[0], months[-1])),
                             (publication, publication.c.year == year)):
            query = sa.select(table).where(where).order_by(*table.primary_key.columns)
            for row in conn.execute(query):
                digest.update(repr(tuple(row)).encode())
    for row in sorted(repr(sorted(r.items())) for r in completeness.rows):
        digest.update(row.encode())
    return digest.hexdigest()


def outputs_intact(folder: Path) -> bool:
    """Whether ``figures.xlsx`` is a whole workbook (every zip entry's CRC right) and ``figures.csv`` has
    its header: what a file cut short, emptied or overwritten with something else fails."""
    xlsx, csv_path = folder / "figures.xlsx", folder / "figures.csv"
    try:
        with zipfile.ZipFile(xlsx) as package:
            if "xl/workbook.xml" not in package.namelist() or package.testzip() is not None:
                return False
        return csv_path.read_text(encoding="utf-8-sig").startswith("指标代码,")
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, EOFError, ValueError):
        return False


def _unchanged(conn: Connection, year: int, digest: str, folder: str) -> bool:
    last = conn.execute(sa.select(consolidation).where(consolidation.c.year == year)).first()
    return (last is not None and last.inputs_sha256 == digest and last.out_dir == folder
            and outputs_intact(Path(folder)))


def consolidate_year(year: int, settings: Settings, *, unless_unchanged: bool = False,
                     guard: Callable[[list[dict], list[dict]], None] | None = None) -> dict:
    """Compute and store ``year``'s figures, write ``out/<year>/figures.{csv,xlsx}``, log changes to published ones.

    ``unless_unchanged``: do nothing when the year's inputs are those of its last consolidation, whose
    figures and files are then still exact (asset-triggered runs; a backfill's last events arrive
    after the consolidation that already read them). ``guard(figures, contributions)`` may refuse the new
    figures by raising: the transaction rolls back, so the previous figures stay and no file is written.
    """
    engine = make_engine(settings.warehouse_url)
    ensure_schema(engine)
    folder = str(settings.out / str(year))
    # One snapshot for everything read (figures, contributions, provenance, trends, completeness, the
    # digest): a load committing meanwhile is in none of them, and makes the next run consolidate again.
    with session_lock(engine, f"district-consolidate-{year}"), snapshot(engine) as conn:
        completeness = year_completeness(conn, year, settings)
        digest = inputs_digest(conn, year, completeness)
        if unless_unchanged and _unchanged(conn, year, digest, folder):
            log.info("%s: inputs unchanged since the last consolidation (%s); figures and files stand", year,
                     digest[:12])
            return {"year": year, "unchanged": True, "out": folder}
        figures = consolidate(conn, year)
        if guard is not None:
            # Raising here rolls the snapshot's transaction back: the stored figures and the files stay.
            guard(figures, stored_contributions(conn, year))
        comparison = compare(conn, year, figures=figures)
        cells = all_provenance(conn, year)
        out = write_outputs(
            year, figures, stored_contributions(conn, year), settings.out,
            completeness=completeness, comparison=comparison,
            provenance=cells, trends=monthly_trends(conn, year),
            cover_checks=lambda ws: write_cover_checks(ws, conn, year, figures, cells),
        )
        conn.execute(consolidation.delete().where(consolidation.c.year == year))
        conn.execute(consolidation.insert(), {"year": year, "inputs_sha256": digest, "out_dir": str(out)})
    for f in figures:
        log.info("%s %s = %s (%s)", year, f["code"], f["value"], f["display_zh"])
    if comparison is not None:
        log_comparison(comparison)
    return {
        "year": year, "unchanged": False, "figures": len(figures), "out": str(out),
        "published_version": comparison.version if comparison else None,
        "changed_since_publication": [f.code for f in comparison.figure_changes] if comparison else [],
    }
