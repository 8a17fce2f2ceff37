"""A year's consolidation: figures into the warehouse and out to the report authors' files."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pipeline.completeness import year_completeness
from pipeline.config import Settings
from pipeline.figures import consolidate, monthly_trends, stored_contributions
from pipeline.outputs import write_outputs
from pipeline.provenance import all_provenance
from pipeline.publish import compare, log_comparison
from pipeline.warehouse import ensure_schema, make_engine

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


def consolidate_year(year: int, settings: Settings) -> dict:
    """Compute and store ``year``'s figures, write ``out/<year>/figures.{csv,xlsx}``, log changes to published ones."""
    engine = make_engine(settings.warehouse_url)
    ensure_schema(engine)
    figures = consolidate(engine, year)
    comparison = compare(engine, year, figures=figures)
    folder = write_outputs(
        year, figures, stored_contributions(engine, year), settings.out,
        completeness=year_completeness(engine, year, settings), comparison=comparison,
        provenance=all_provenance(engine, year), trends=monthly_trends(engine, year),
    )
    for f in figures:
        log.info("%s %s = %s (%s)", year, f["code"], f["value"], f["display_zh"])
    if comparison is not None:
        log_comparison(comparison)
    return {
        "year": year, "figures": len(figures), "out": str(folder),
        "published_version": comparison.version if comparison else None,
        "changed_since_publication": [f.code for f in comparison.figure_changes] if comparison else [],
    }
