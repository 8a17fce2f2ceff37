"""Synthetic inboxes for the benchmarks: a city-size registry and year, and one very large return."""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

from pipeline.forms import FORMS, INSPECTION, NO, YES
from pipeline.outputs.workbook import period_text, write_return
from pipeline.periods import month_bounds

DOMAINS = FORMS["transfer"].column("domain").choices
METHODS = INSPECTION.column("method").choices


def write_registry(path: Path, n_units: int) -> Path:
    """A registry of ``n_units`` units; two in three owe 行政检查, one in five 案件移送, all 执法培训."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["code", "name", "aliases", "kind", "forms"])
        for i in range(n_units):
            forms = [f for f, owed in (("inspection", i % 3 != 2), ("transfer", i % 5 == 0)) if owed] + ["training"]
            writer.writerow([f"U{i:04d}", f"测试单位{i:04d}", f"单位{i:04d}", "department", "|".join(forms)])
    return path


def _inspection_rows(rng: random.Random, code: str, period: str, n: int, first: int) -> list[dict]:
    start, end = month_bounds(period)
    return [
        {
            "task_id": f"{code}-{period}-{first + k:03d}", "task_name": "双随机抽查任务", "method": rng.choice(METHODS),
            "entities_sampled": rng.randint(1, 40), "joint": NO, "joint_id": None,
            "completed_on": start + dt.timedelta(days=rng.randint(0, (end - start).days)),
            "issues_found": rng.randint(0, 3),
        }
        for k in range(n)
    ]


def write_city_year(inbox: Path, registry: Path, year: int, n_units: int, seed: int = 7) -> int:
    """One workbook per unit per month, typical row counts (0–12 inspection rows); returns the count."""
    rng = random.Random(seed)
    count = 0
    with registry.open(encoding="utf-8") as fh:
        units = list(csv.DictReader(fh))[:n_units]
    for month in range(1, 13):
        period = f"{year:04d}-{month:02d}"
        start, end = month_bounds(period)
        for unit in units:
            sheets: dict[str, list[dict] | None] = {}
            forms = unit["forms"].split("|")
            if "inspection" in forms:
                n_rows = rng.choice([0, 1, 2, 3, 5, 8, 12])
                sheets["inspection"] = _inspection_rows(rng, unit["code"], period, n_rows, 1)
            if "transfer" in forms:
                sheets["transfer"] = [
                    {"transfer_id": f"{unit['code']}-{period}-{k}", "offence": "拒不支付劳动报酬",
                     "domain": rng.choice(DOMAINS), "transferred_on": start, "receiver": "公安分局",
                     "police_decision": "已立案", "filed_on": end}
                    for k in range(rng.choice([0, 0, 0, 1, 2]))
                ]
            takers = rng.choice([0, 0, 0, 4, 10])
            sessions = rng.choice([0, 1])
            sheets["training"] = [{
                "certified_officers": 20 + rng.randint(0, 30), "exam_takers": takers,
                "exam_passed": takers - rng.randint(0, takers) if takers else 0,
                "training_sessions": sessions, "trained_officers": sessions * rng.randint(5, 30),
            }]
            write_return(inbox / period / f"{unit['name']}_{period_text(period)}.xlsx", unit["name"], period, sheets)
            count += 1
    return count


def write_big_return(path: Path, unit_name: str, period: str, n_rows: int, seed: int = 11) -> Path:
    """One 行政检查 return of ``n_rows`` rows, written in streaming mode (the normal writer is too slow)."""
    from openpyxl import Workbook

    rng = random.Random(seed)
    start, end = month_bounds(period)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(INSPECTION.sheet)
    ws.append([INSPECTION.title])
    ws.append([f"填报单位：{unit_name}", None, None, None, f"报告期：{period_text(period)}"])
    ws.append([])
    ws.append([c.label for c in INSPECTION.columns])
    for k in range(n_rows):
        ws.append([
            f"T{k:07d}", "日常巡查", rng.choice(METHODS), rng.randint(1, 40), YES if k % 50 == 0 else NO,
            f"LH-{k // 50:05d}" if k % 50 == 0 else None,
            dt.datetime.combine(start + dt.timedelta(days=rng.randint(0, (end - start).days)), dt.time()),
            rng.randint(0, 3),
        ])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
