"""How well the verification rules (核实性审核) catch typos, and how often they cry wolf on clean data.

    .venv/bin/python bench/verification_eval.py [--rate 0.03] [--seed 17] [--json out.json]

The clean data is the deterministic sample (``pipeline.samples.sample.sample_year_data``) for 2018–2020, every
form. Each month of each form with checks goes through the real path: history from the months before
(as the warehouse would hold it), ``verification.add_bounds``, the form's GX suite
(``validate.validate_frame``), ``verification.hits_from_failures``. Every hit on the clean years is
a false alarm. Then 2020 is seeded with typos at ``--rate`` per numeric cell the rules look at
(digit doubled, a zero dropped, a zero added, a stock entered as its month's change, a value in the
wrong column) and the same run reports, per rule, precision (hits on seeded cells / hits) and
recall (seeded cells it flags / seeded cells in the columns it covers), and recall per typo kind.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from pipeline.forms import FORMS, Form
from pipeline.periods import month_bounds, shift
from pipeline.samples.sample import sample_year_data
from pipeline.validation import verification
from pipeline.validation.validate import validate_frame

YEARS = (2018, 2019, 2020)
SEEDED_YEAR = 2020
KINDS = ("digit_doubled", "zero_dropped", "zero_added", "stock_as_flow", "wrong_column")
CHECKED = [f for f in FORMS.values() if f.checks]


def frame_of(form: Form, period: str, rows: list[tuple[str, dict]]) -> pd.DataFrame:
    """The frame ingest builds for a form's month: ``rows`` are (submission id, row by column code)."""
    start, end = month_bounds(period)
    data: dict[str, Any] = {"_row_id": range(len(rows)), "submission_id": [s for s, _ in rows]}
    for col in form.columns:
        values = [r.get(col.code) for _, r in rows]
        if col.type == "int":
            data[col.code] = pd.array(values, dtype="Int64")
        elif col.type == "date":
            data[col.code] = pd.to_datetime(pd.Series(values, dtype=object))
        else:
            data[col.code] = pd.Series(values, dtype=object)
    frame = pd.DataFrame(data)
    frame["period_start"], frame["period_end"] = pd.Timestamp(start), pd.Timestamp(end)
    return frame


def month_rows(data: dict, form: Form, period: str) -> list[tuple[str, str, int, dict]]:
    """(unit, submission id, row number, row) of every unit's sheet of ``form`` in ``period``."""
    out = []
    for (unit, month), sheets in sorted(data.items()):
        if month == period:
            for i, row in enumerate(sheets.get(form.code) or []):
                out.append((unit, f"{unit}:{period}:{form.code}", i, row))
    return out


def _typo(kind: str, value: int, rng: random.Random, prev: int | None, other: int | None) -> int | None:
    text = str(value)
    if kind == "digit_doubled":
        i = rng.randrange(len(text))
        return int(text[: i + 1] + text[i:])
    if kind == "zero_dropped":
        return int(text.replace("0", "", 1)) if "0" in text[1:] else None
    if kind == "zero_added":
        return value * 10
    if kind == "stock_as_flow":
        return value - prev if prev is not None and 0 <= value - prev != value else None
    if kind == "wrong_column":
        return other if other is not None and other != value else None
    raise ValueError(kind)


def seed(data: dict, rate: float, rng: random.Random) -> dict[tuple[str, int, str], str]:
    """Corrupt ``data`` (one year) in place; (submission id, row, column) → typo kind of every seeded cell.

    ``rate`` × the watched non-zero cells are seeded, the kinds in turn, each in a cell it applies to
    (a zero can only be dropped from a value that has one).
    """
    cells = []
    for form in CHECKED:
        watched = sorted({c.column for c in form.checks})
        for (unit, period), sheets in sorted(data.items()):
            for i, row in enumerate(sheets.get(form.code) or []):
                cells += [(form, unit, period, i, row, code) for code in watched if (row.get(code) or 0) > 0]
    seeded: dict[tuple[str, int, str], str] = {}
    for n in range(round(rate * len(cells))):
        kind = KINDS[n % len(KINDS)]
        for form, unit, period, i, row, code in rng.sample(cells, len(cells)):
            sub = f"{unit}:{period}:{form.code}"
            if (sub, i, code) in seeded or (kind == "stock_as_flow" and form.column(code).measure != "stock"):
                continue
            value = row[code]
            prev_rows = data.get((unit, shift(period, -1)), {}).get(form.code) or []
            prev = prev_rows[0].get(code) if prev_rows and form.kind == "aggregate" else None
            others = [c.code for c in form.numeric_columns
                      if c.code != code and row.get(c.code) not in (None, value) and (sub, i, c.code) not in seeded]
            other_code = rng.choice(others) if others else None
            new = _typo(kind, value, rng, prev, row.get(other_code) if other_code else None)
            if new is None or new == value:
                continue
            if kind == "wrong_column":
                row[code], row[other_code] = new, value
                seeded[(sub, i, other_code)] = kind
            else:
                row[code] = new
            seeded[(sub, i, code)] = kind
            break
    return seeded


def run(data: dict, periods: list[str]) -> tuple[list[tuple[str, verification.Hit]], list[tuple[str, int, str]]]:
    """Every verification hit (form code, hit) and hard-rule failure cell of ``periods``, in order."""
    hits: list[tuple[str, verification.Hit]] = []
    hard: list[tuple[str, int, str]] = []
    history: dict[str, list[dict]] = defaultdict(list)
    for period in periods:
        for form in CHECKED:
            rows = month_rows(data, form, period)
            if not rows:
                continue
            past = pd.DataFrame(
                [h for h in history[form.code] if shift(period, -verification.WINDOW_MONTHS) <= h["period"] < period],
                columns=["unit_code", "period", *verification.history_columns(form)],
            )
            for c in verification.history_columns(form):
                past[c] = pd.to_numeric(past[c], errors="coerce").astype("float64")
            frame = frame_of(form, period, [(sub, row) for _, sub, _, row in rows])
            unit_of = {sub: unit for unit, sub, _, _ in rows}
            frame = verification.add_bounds(form, period, frame, unit_of, past)
            failures = validate_frame(form, frame)
            index = {k: (None, rows[k][2]) for k in range(len(rows))}
            warned = [f for f in failures if f.severity == verification.SEVERITY]
            hits += [(form.code, h) for h in verification.hits_from_failures(form, frame, warned, index)]
            hard += [(rows[f.row_id][1], rows[f.row_id][2], f.column) for f in failures
                     if f.severity != verification.SEVERITY]
            for unit, _, _, row in rows:
                history[form.code].append({"unit_code": unit, "period": period,
                                           **{c: row.get(c) for c in verification.history_columns(form)}})
    return hits, hard


def months(years: tuple[int, ...]) -> list[str]:
    return [f"{y:04d}-{m:02d}" for y in years for m in range(1, 13)]


def evaluate(rate: float, seed_value: int) -> dict[str, Any]:
    clean = {}
    for year in YEARS:
        clean.update(sample_year_data(year))
    clean_hits, _ = run(clean, months(YEARS))
    alarms: Counter[str] = Counter()
    per_year: Counter[str] = Counter()
    for form_code, h in clean_hits:
        alarms[f"{form_code}.{h.column}.{h.rule}"] += 1
        per_year[h.submission_id.split(":")[1][:4]] += 1

    dirty = {}
    for year in YEARS:
        dirty.update(sample_year_data(year))
    this_year = {k: v for k, v in dirty.items() if k[1].startswith(str(SEEDED_YEAR))}
    seeded = seed(this_year, rate, random.Random(seed_value))
    dirty_hits, hard = run(dirty, months(YEARS))
    dirty_hits = [(f, h) for f, h in dirty_hits if h.submission_id.split(":")[1].startswith(str(SEEDED_YEAR))]
    flagged: dict[tuple[str, int, str], set[str]] = defaultdict(set)
    for _, h in dirty_hits:
        flagged[(h.submission_id, h.excel_row, h.column)].add(h.rule)
    hard_cells = set(hard)

    per_rule: dict[str, dict[str, Any]] = {}
    for form in CHECKED:
        for check in form.checks:
            name = f"{form.code}.{check.column}.{check.rule}"
            mine = [h for f, h in dirty_hits if f == form.code and h.column == check.column and h.rule == check.rule]
            tp = sum(1 for h in mine if (h.submission_id, h.excel_row, h.column) in seeded)
            covered = [k for k in seeded if k[0].endswith(f":{form.code}") and k[2] == check.column]
            found = sum(1 for k in covered if check.rule in flagged.get(k, set()))
            per_rule[name] = {
                "hits": len(mine), "true_hits": tp, "precision": round(tp / len(mine), 3) if mine else None,
                "seeded_cells": len(covered), "recall": round(found / len(covered), 3) if covered else None,
                "clean_false_alarms_2018_2020": alarms.get(name, 0),
            }
    per_kind = {}
    for kind in KINDS:
        cells = [k for k, v in seeded.items() if v == kind]
        caught = [k for k in cells if k in flagged]
        per_kind[kind] = {"seeded": len(cells), "flagged": len(caught),
                          "recall": round(len(caught) / len(cells), 3) if cells else None,
                          "also_refused_by_hard_rules": sum(1 for k in cells if k in hard_cells)}
    tp_all = sum(1 for _, h in dirty_hits if (h.submission_id, h.excel_row, h.column) in seeded)
    return {
        "rate": rate, "seed": seed_value, "clean_years": list(YEARS), "seeded_year": SEEDED_YEAR,
        "clean_false_alarms_per_year": dict(sorted(per_year.items())),
        "seeded_cells": len(seeded), "seeded_flagged": sum(1 for k in seeded if k in flagged),
        "recall": round(sum(1 for k in seeded if k in flagged) / len(seeded), 3) if seeded else None,
        "hits_seeded_year": len(dirty_hits),
        "precision": round(tp_all / len(dirty_hits), 3) if dirty_hits else None,
        "per_rule": per_rule, "per_kind": per_kind,
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"clean sample {result['clean_years']}: false alarms per year {result['clean_false_alarms_per_year']}",
        f"seeded {result['seeded_year']} at rate {result['rate']} (seed {result['seed']}): "
        f"{result['seeded_cells']} cells seeded, {result['seeded_flagged']} flagged (recall {result['recall']}); "
        f"{result['hits_seeded_year']} hits (precision {result['precision']})",
        "",
        f"{'rule':58} {'hits':>5} {'true':>5} {'prec':>6} {'seeded':>6} {'recall':>6} {'clean FA 3y':>11}",
    ]
    for name, r in result["per_rule"].items():
        lines.append(f"{name:58} {r['hits']:5} {r['true_hits']:5} {r['precision']!s:>6} {r['seeded_cells']:6} "
                     f"{r['recall']!s:>6} {r['clean_false_alarms_2018_2020']:11}")
    lines += ["", f"{'typo kind':16} {'seeded':>6} {'flagged':>7} {'recall':>6} {'hard rule':>9}"]
    for kind, r in result["per_kind"].items():
        lines.append(f"{kind:16} {r['seeded']:6} {r['flagged']:7} {r['recall']!s:>6} "
                     f"{r['also_refused_by_hard_rules']:9}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--json", help="also write the result as JSON here")
    args = parser.parse_args()
    result = evaluate(args.rate, args.seed)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
