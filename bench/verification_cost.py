"""What the verification rules add to a city year's ingest (SQLite), measured interleaved in one run.

Three variants of the same ingest (``run.ingest_months`` over the city year ``run.py`` generated):
as is; without the load's re-judging (``verification.MonthJudge``); without it and without the
history bounds. Needs ``make bench`` (or ``bench/run.py``) to have written ``var/bench/city-300``.
Usage: ``.venv/bin/python bench/verification_cost.py [--rounds N] [--work DIR]``
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", default=str(HERE.parent / "var" / "bench"))
    args = parser.parse_args()
    work = Path(args.work)
    os.environ["DISTRICT_UNITS_CSV"] = str(work / "city-units.csv")
    import great_expectations  # noqa: F401 - paid once, as a worker does
    import pandas as pd
    from run import ingest_months

    from pipeline.validation import verification

    periods = [f"2020-{m:02d}" for m in range(1, 13)]
    judge, bounds, history = (verification.MonthJudge.after_write, verification.MonthJudge.before_write,
                              verification.MonthJudge.saw), verification.add_bounds, verification.load_history
    off = {
        "as is": {},
        "no re-judging": {"judge": True},
        "no re-judging, no bounds": {"judge": True, "bounds": True},
    }
    times: dict[str, list[float]] = {name: [] for name in off}
    for _ in range(args.rounds):
        for name, parts in off.items():
            j = parts.get("judge")
            verification.MonthJudge.after_write = (lambda self, conn: None) if j else judge[0]
            verification.MonthJudge.before_write = (lambda self, conn: None) if j else judge[1]
            verification.MonthJudge.saw = (lambda self, conn, form, units: None) if j else judge[2]
            b = parts.get("bounds")
            verification.add_bounds = (lambda form, period, frame, *a, **k: frame) if b else bounds
            verification.load_history = (lambda *a: pd.DataFrame()) if b else history
            times[name].append(ingest_months(work / "city-300" / "inbox", work / "data-vcost",
                                             f"sqlite:///{work / 'vcost.sqlite'}", periods))
    base = min(times["as is"])
    for name, ts in times.items():
        print(f"{name:28s} best {min(ts):6.2f} s  ({' / '.join(f'{t:.2f}' for t in ts)})  "
              f"as is / this: {base / min(ts):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
