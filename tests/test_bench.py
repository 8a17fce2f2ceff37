"""The benchmark harness runs (its figures are measured by `make bench`, never asserted in tests)."""

from __future__ import annotations

import subprocess

import pytest
from helpers import REPO

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.slow]


@pytest.mark.timeout(900)
def test_make_bench_quick_runs(tmp_path):
    out = subprocess.run(["make", "bench", "QUICK=1"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    table = out.stdout.split("measure", 1)[1]
    for measure in ("bare openpyxl read-only iteration", "ingest city year into SQLite / openpyxl",
                    "ingest city year into PostgreSQL / openpyxl", "return / bare calamine read",
                    "peak RSS of the large return", "consolidate one year of"):
        assert measure in table, measure
