"""The unit registry: who reports, under which names, and which forms each unit owes."""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from pipeline.config import units_csv


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    aliases: tuple[str, ...]
    kind: str
    forms: tuple[str, ...]


def normalise_name(text: str) -> str:
    """Fold width, drop every kind of white space: how a clerk's spelling of a name is compared."""
    folded = unicodedata.normalize("NFKC", str(text))
    return "".join(ch for ch in folded if not ch.isspace())


def units() -> tuple[Unit, ...]:
    """Every unit of the registry in force (``DISTRICT_UNITS_CSV`` or the bundled one)."""
    return _load(str(units_csv()))


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[Unit, ...]:
    with open(path, encoding="utf-8") as fh:
        return tuple(
            Unit(
                code=row["code"],
                name=row["name"],
                aliases=tuple(a for a in row["aliases"].split("|") if a),
                kind=row["kind"],
                forms=tuple(f for f in row["forms"].split("|") if f),
            )
            for row in csv.DictReader(fh)
        )


def _by_name() -> dict[str, Unit]:
    return _index(str(units_csv()))


@lru_cache(maxsize=4)
def _index(path: str) -> dict[str, Unit]:
    index: dict[str, Unit] = {}
    for unit in _load(path):
        for name in (unit.name, *unit.aliases, unit.code):
            index[normalise_name(name)] = unit
    return index


def resolve_unit(text: object) -> Unit | None:
    """The unit a clerk's ``填报单位`` names, through its name, aliases or code; None if unknown."""
    if text is None:
        return None
    return _by_name().get(normalise_name(str(text)))


def unit_by_code(code: str) -> Unit:
    for unit in units():
        if unit.code == code:
            return unit
    raise KeyError(code)
