"""Pytest plugin: a test without exactly one tier marker is refused at collection.

The tiers are ``unit``, ``integration``, ``e2e``, ``services`` and ``compose`` (see docs/developer-guide.md, "Test
tiers"); ``postgres`` and ``slow`` are not tiers but say what a test needs, on top of its tier.
``make test-fast`` runs the unit tier, so a test that carries no tier would silently run in no
tier-selected run at all.
"""

from __future__ import annotations

import pytest

TIERS = ("unit", "integration", "e2e", "services", "compose")


def tier_problems(items: list[pytest.Item]) -> list[str]:
    """One line per collected test that carries no tier marker, or more than one."""
    problems = []
    for item in items:
        tiers = sorted({m.name for m in item.iter_markers()} & set(TIERS))
        if len(tiers) != 1:
            problems.append(f"{item.nodeid}: {'no tier marker' if not tiers else 'tiers ' + ', '.join(tiers)}")
    return problems


# tryfirst: before ``-m`` deselects, so ``make test-fast`` (``-m unit``) refuses an untiered test too.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = tier_problems(items)
    if problems:
        raise pytest.UsageError(
            f"every test needs exactly one tier marker ({', '.join(TIERS)}):\n  " + "\n  ".join(problems)
        )
