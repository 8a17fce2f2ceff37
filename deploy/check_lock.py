"""Fail the image build unless every package pinned in the lock is installed at exactly its pinned version.

The base image ships Airflow and its providers already; this proves the project's lock, not the
image's own constraints, decided what is installed.  Usage: ``python check_lock.py requirements.lock`` (the
runtime lock; requirements-dev.lock adds the test tools the image must not need).
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def pins(lock_text: str) -> dict[str, str]:
    """``name → version`` of every ``name==version`` line of a pip/uv lock (names normalised)."""
    found = {}
    for line in lock_text.splitlines():
        if match := _PIN.match(line):
            found[_normalise(match.group(1))] = match.group(2)
    return found


def mismatches(lock_text: str) -> list[str]:
    """One line per locked package that is missing or installed at another version."""
    problems = []
    for name, pinned in sorted(pins(lock_text).items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name}: locked {pinned}, not installed")
            continue
        if installed != pinned:
            problems.append(f"{name}: locked {pinned}, installed {installed}")
    return problems


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(argv: list[str]) -> int:
    lock_text = Path(argv[1]).read_text(encoding="utf-8")
    problems = mismatches(lock_text)
    for line in problems:
        print(line, file=sys.stderr)
    print(f"{len(pins(lock_text))} locked packages, {len(problems)} not as locked")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
