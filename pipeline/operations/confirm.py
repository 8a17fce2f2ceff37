"""``python -m pipeline confirm``: the operator records why a unit's flagged values stand (核实说明)."""

from __future__ import annotations

import argparse
import sys

from pipeline.config import Settings


def run_confirm(args: argparse.Namespace, settings: Settings) -> int:
    """Record the note; print how many stored hits it confirms and what is still 待核实 for the unit."""
    from pipeline.figures.publish import default_publisher
    from pipeline.periods import validate_period
    from pipeline.registry import resolve_unit, units
    from pipeline.validation.verification import ANY, confirm, stored_hits
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema

    try:
        validate_period(args.period)
    except ValueError:
        print(f"报告期“{args.period}”格式不对，应为 YYYY-MM", file=sys.stderr)
        return 2
    unit = resolve_unit(args.unit) or next((u for u in units() if u.code == args.unit), None)
    if unit is None:
        print(f"单位“{args.unit}”不在单位名录中", file=sys.stderr)
        return 2
    if not args.note.strip():
        print("请用 --note 写明核实情况", file=sys.stderr)
        return 2
    engine = make_engine(settings.warehouse_url)
    ensure_schema(engine)
    n = confirm(engine, args.period, unit.code, args.note, by=args.by or default_publisher(),
                form_code=args.form or ANY, column_code=args.column or ANY, rule=args.rule or ANY)
    with engine.connect() as conn:
        left = [h for h in stored_hits(conn, period=args.period) if h.unit_code == unit.code and not h.confirmed]
    print(f"已记录{unit.name} {args.period} 的核实说明，确认 {n} 处核实提示；该单位本月仍待核实 {len(left)} 处")
    for h in left:
        print(f"  {h.describe_zh()}")
    return 0
