"""The package is grouped by stage and its dependencies run one way: no module imports a higher stage."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parent.parent / "pipeline"

#: Rank of each part of the package, lowest first; a module may import its own rank or lower ones only.
RANKS = {
    # the shared domain and helpers every stage uses
    "pipeline.config": 0, "pipeline.forms": 0, "pipeline.registry": 0, "pipeline.periods": 0,
    "pipeline.problems": 0, "pipeline.sanitise": 0, "pipeline.atomic": 0,
    "pipeline.intake": 1, "pipeline.warehouse": 1,  # move_map: keep (package names, not old modules)
    "pipeline.validation": 2,
    "pipeline.figures": 3,  # move_map: keep
    "pipeline.operations": 4,
    "pipeline.outputs": 5,  # move_map: keep
    # the stage runners and the jobs that call them
    "pipeline.ingest": 6, "pipeline.annual": 6, "pipeline.jobs": 7,
    "pipeline.orchestration": 8, "pipeline.samples": 8,
    "pipeline.cli": 9, "pipeline.__main__": 9,
}


def _rank(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in RANKS:
            return RANKS[".".join(parts[:n])]
    raise KeyError(f"{module} has no place in tests/test_layout.py RANKS")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline"):
            found.add(node.module)
            if node.module == "pipeline":
                found.update(f"pipeline.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pipeline"))
    found.discard("pipeline")
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "data" not in p.relative_to(PACKAGE).parts)


def test_every_module_has_a_stage() -> None:
    for path in MODULES:
        name = _module_name(path)
        if name != "pipeline":
            _rank(name)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_stage(path: Path) -> None:
    name = _module_name(path)
    if name == "pipeline":
        return
    upward = sorted(m for m in _imports(ast.parse(path.read_text(encoding="utf-8"))) if _rank(m) > _rank(name))
    assert not upward, f"{name} (stage {_rank(name)}) imports higher stages: {upward}"


def test_package_init_files_import_nothing() -> None:
    # DAG parsing imports pipeline.orchestration; its __init__ (and every other) must stay free.
    for init in PACKAGE.rglob("__init__.py"):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert not [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)], init


def test_the_rule_catches_an_upward_import() -> None:
    tree = ast.parse("def f():\n    from pipeline.outputs.report import report_text\n")
    assert any(_rank(m) > _rank("pipeline.figures.publish") for m in _imports(tree))


_READS_A_DISTRICT_SETTING = re.compile(
    r"""(os\.environ\.get|os\.getenv)\(\s*["']DISTRICT_|os\.environ\[\s*["']DISTRICT_\w+["']\s*\](?!\s*=)"""
)


def test_only_config_reads_the_district_settings() -> None:
    readers = [
        str(path.relative_to(PACKAGE.parent))
        for path in [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "dags").glob("*.py")]
        if path.name != "config.py" and _READS_A_DISTRICT_SETTING.search(path.read_text(encoding="utf-8"))
    ]
    assert readers == [], "read DISTRICT_* settings through pipeline.config"
    assert _READS_A_DISTRICT_SETTING.search('day = int(os.environ.get("DISTRICT_DEADLINE_DAY", "8"))')
    assert not _READS_A_DISTRICT_SETTING.search('os.environ["DISTRICT_DATA"] = str(settings.data)')
