"""One home per figure fact: the catalogue beside the definitions; the 2020 list is only the tests' answer key."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pipeline import config
from pipeline.figures.definitions import FIGURE_DEFS, LABELS_ZH, figure_specs

pytestmark = pytest.mark.unit

SHARED = ("code", "section", "unit", "approx", "return", "report_phrase", "rule")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_the_catalogue_agrees_with_the_2020_answer_key() -> None:
    catalogue = [{k: r[k] for k in SHARED} for r in _rows(config.FIGURE_CATALOGUE)]
    key = [{k: r[k] for k in SHARED} for r in _rows(config.FIGURES_CSV)]
    assert catalogue == key


def test_every_catalogued_figure_has_one_definition_and_one_label() -> None:
    assert list(figure_specs()) == list(FIGURE_DEFS) == list(LABELS_ZH)
    assert all(LABELS_ZH.values()) and len(set(LABELS_ZH.values())) == len(LABELS_ZH)


def test_the_pipeline_never_reads_the_answer_key() -> None:
    package = Path(config.__file__).parent
    uses = ("FIGURES_CSV", '"figures-2020', "'figures-2020")
    readers = [str(p.relative_to(package)) for p in package.rglob("*.py")
               if p.name != "config.py" and any(u in p.read_text(encoding="utf-8") for u in uses)]
    assert readers == []
