"""The collection hook refuses a test without exactly one tier marker (unit, integration, e2e, services)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parent


def collect(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text("import pytest\n\n" + textwrap.dedent(body), encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\nmarkers =\n    "
                                         + "\n    ".join(["unit", "integration", "e2e", "services", "postgres", "slow"])
                                         + "\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "tier_markers", "-p", "no:cacheprovider",
         "-c", str(tmp_path / "pytest.ini"), *args, str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(TESTS), "PATH": ""},
        timeout=120,
    )


def test_a_test_with_one_tier_is_collected(tmp_path: Path) -> None:
    result = collect(tmp_path, """
        pytestmark = pytest.mark.integration

        @pytest.mark.postgres
        def test_one():
            pass
    """)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_sample.py::test_one" in result.stdout


@pytest.mark.parametrize(
    ("marks", "says"),
    [("@pytest.mark.slow", "no tier marker"), ("@pytest.mark.unit\n@pytest.mark.e2e", "tiers e2e, unit")],
    ids=["none", "two"],
)
def test_a_test_without_exactly_one_tier_is_refused(tmp_path: Path, marks: str, says: str) -> None:
    result = collect(tmp_path, f"""
        @pytest.mark.unit
        def test_fine():
            pass

{textwrap.indent(marks, " " * 8)}
        def test_untiered():
            pass
    """)
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error
    assert f"test_sample.py::test_untiered: {says}" in result.stderr
    assert "test_fine" not in result.stderr


def test_an_untiered_test_is_refused_when_only_the_unit_tier_is_selected(tmp_path: Path) -> None:
    result = collect(tmp_path, """
        @pytest.mark.unit
        def test_fine():
            pass

        def test_untiered():
            pass
    """, "-m", "unit")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "test_sample.py::test_untiered: no tier marker" in result.stderr


def test_the_projects_own_configuration_refuses_an_untiered_test(tmp_path: Path) -> None:
    """The check is loaded by the project's pytest configuration itself, whatever conftest.py defines."""
    repo = TESTS.parent
    (tmp_path / "test_untiered.py").write_text("def test_one():\n    pass\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-c", str(repo / "pyproject.toml"), "--rootdir", str(repo), str(tmp_path)],
        capture_output=True, text=True, cwd=repo, timeout=120,
    )
    assert result.returncode != 0 and "test_untiered.py::test_one: no tier marker" in result.stdout + result.stderr
