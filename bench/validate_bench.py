"""Micro-benchmark of ``pipeline.validation.validate``: what one validation of a month frame costs, measured in one run.

Prints the first call (GX import, context, suite, first validation), the warm per-call cost of
行政检查 frames of 50, 3,000 and 100,000 rows (all valid, and with about 1 % bad rows; with and without
storing the result for Data Docs), GX's cost per expectation at the smallest size, and what
``build_data_docs`` costs: the first build and a build after one more stored result.

``python bench/validate_bench.py [--repeat N]``. Wall and CPU time are both shown: on a shared
machine wall time also counts other processes' turns, CPU time only this one's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = (50, 3_000, 100_000)


def inspection_frame(n: int, bad_share: float, seed: int = 7):
    """A 行政检查 month frame as ``pipeline.ingest`` builds it: object text, Int64 counts, datetime dates."""
    import numpy as np
    import pandas as pd

    from pipeline.forms import INSPECTION

    rng = np.random.default_rng(seed)
    start, end = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-31")
    joint = np.where(rng.random(n) < 0.2, "是", "否").astype(object)
    frame = pd.DataFrame({
        "_row_id": np.arange(n, dtype="int64"),
        "submission_id": [f"2024-01:{i // 200:016x}:inspection" for i in range(n)],
        "task_id": [f"JC-{i:06d}" for i in range(n)],
        "task_name": np.full(n, "双随机抽查任务", dtype=object),
        "method": rng.choice(np.array(INSPECTION.column("method").choices, dtype=object), n),
        "entities_sampled": pd.array(rng.integers(1, 40, n), dtype="Int64"),
        "joint": joint,
        "joint_id": np.where(joint == "是", "LH-1", None).astype(object),
        "completed_on": start + pd.to_timedelta(rng.integers(0, 31, n), unit="D"),
        "issues_found": pd.array(rng.integers(0, 4, n), dtype="Int64"),
    })
    bad = rng.choice(n, max(1, int(n * bad_share)), replace=False) if bad_share else []
    for k, row in enumerate(bad):
        column, value = [
            ("method", "抽查"), ("task_id", None), ("issues_found", -1), ("completed_on", pd.Timestamp("2023-12-31")),
        ][k % 4]
        frame.loc[row, column] = value
    frame["period_start"] = start
    frame["period_end"] = end
    return frame


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Median wall, minimum wall and median CPU seconds of ``repeat`` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), min(walls), statistics.median(cpus)


def show(label: str, wall: float, best: float, cpu: float) -> None:
    print(f"  {label:<46} wall {wall * 1e3:8.1f} ms (best {best * 1e3:8.1f})   cpu {cpu * 1e3:8.1f} ms", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="calls per warm measurement (100,000 rows: a third)")
    args = parser.parse_args()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

    started = time.perf_counter()
    from pipeline.forms import INSPECTION
    from pipeline.validation.suites import load_suite
    from pipeline.validation.validate import build_data_docs, validate_frame

    frames = {(n, share): inspection_frame(n, share) for n in SIZES for share in (0.0, 0.01)}
    print(f"frames built in {time.perf_counter() - started:.1f} s (pandas imported)")
    docs = Path(tempfile.mkdtemp(prefix="validate-bench-")) / "data_docs"

    print("first call")
    small = frames[(50, 0.01)]
    wall, cpu = time.perf_counter(), time.process_time()
    import great_expectations  # noqa: F401 - timed on its own: a worker process pays it once

    t_import = time.perf_counter() - wall
    wall2 = time.perf_counter()
    validate_frame(INSPECTION, small)
    t_first = time.perf_counter() - wall2
    print(f"  import great_expectations{'':<21} wall {t_import * 1e3:8.1f} ms")
    print(f"  first validate_frame after the import{'':<9} wall {t_first * 1e3:8.1f} ms")
    print(f"  total{'':<41} wall {(t_import + t_first) * 1e3:8.1f} ms   cpu "
          f"{(time.process_time() - cpu) * 1e3:8.1f} ms")

    print("warm calls (行政检查, one process, suite cached)")
    n_expectations = len(load_suite(INSPECTION).expectations)
    for n in SIZES:
        repeat = max(2, args.repeat // 3) if n >= 100_000 else args.repeat
        for share in (0.0, 0.01):
            frame = frames[(n, share)]
            failures = len(validate_frame(INSPECTION, frame))
            label = f"{n:>7,} rows, {failures:>5} failures"
            show(label, *timed(lambda f=frame: validate_frame(INSPECTION, f), repeat))
            if share:
                show(label + " + stored", *timed(
                    lambda f=frame: validate_frame(INSPECTION, f, data_docs_dir=docs, run_name="2024-01-inspection"),
                    repeat,
                ))
    wall, _, cpu = timed(lambda: validate_frame(INSPECTION, frames[(50, 0.0)]), args.repeat)
    print(f"  per expectation at 50 valid rows ({n_expectations} expectations): "
          f"wall {wall / n_expectations * 1e3:.1f} ms, cpu {cpu / n_expectations * 1e3:.1f} ms")

    print("Data Docs")
    stored = len(list((docs / "_validation_results").rglob("*.json")))
    wall, cpu = time.perf_counter(), time.process_time()
    build_data_docs(docs)
    show(f"first build ({stored} stored results, every suite)", time.perf_counter() - wall,
         time.perf_counter() - wall, time.process_time() - cpu)
    validate_frame(INSPECTION, small, data_docs_dir=docs, run_name="2024-02-inspection")
    show("next build (one new result; suites unchanged)", *timed(lambda: build_data_docs(docs), 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
