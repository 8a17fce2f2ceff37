"""The fenced GX patches: every internal they touch still exists, and an untested GX version is left as shipped."""

from __future__ import annotations

import importlib
import logging
from typing import Any

import pytest

from pipeline.validation import gx_tuning

pytestmark = pytest.mark.unit


def _resolve(module: str, path: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in path.split("."):
        call = part.endswith("()")
        obj = getattr(obj, part.removesuffix("()"))  # AttributeError names the attribute that went away
        if call:
            obj = obj()
    return obj


@pytest.mark.parametrize(("module", "path"), gx_tuning.PATCHED, ids=[p for _, p in gx_tuning.PATCHED])
def test_every_patched_gx_attribute_still_exists(module: str, path: str) -> None:
    try:
        _resolve(module, path)
    except (AttributeError, ImportError) as exc:
        pytest.fail(f"great_expectations {gx_tuning.gx_version()} no longer has {module}.{path}: "
                    f"review pipeline/validation/gx_tuning.py and docs/decisions/0005 ({exc})")


def test_the_locked_gx_version_is_one_the_patches_were_tested_on() -> None:
    assert gx_tuning.gx_version() in gx_tuning.TESTED_VERSIONS, "new GX version: re-run the patch tests and bench"


class _Source:
    def __init__(self) -> None:
        from great_expectations.execution_engine import PandasExecutionEngine

        self.engine = PandasExecutionEngine()

    def get_execution_engine(self) -> Any:
        return self.engine


def test_the_scope_skips_the_fingerprint_on_a_tested_version_and_restores_it() -> None:
    from great_expectations.execution_engine import pandas_execution_engine

    shipped = pandas_execution_engine.HASH_THRESHOLD
    with gx_tuning.validation_scope(_Source()):
        assert pandas_execution_engine.HASH_THRESHOLD == 0
    assert pandas_execution_engine.HASH_THRESHOLD == shipped > 0


def test_an_untested_gx_version_is_left_unpatched_with_a_warning(monkeypatch, caplog) -> None:
    from great_expectations.execution_engine import pandas_execution_engine

    monkeypatch.setattr(gx_tuning, "gx_version", lambda: "99.0.0")
    monkeypatch.setattr(gx_tuning, "_WARNED", [])
    shipped = pandas_execution_engine.HASH_THRESHOLD
    with caplog.at_level(logging.WARNING, logger=gx_tuning.__name__):
        with gx_tuning.validation_scope(None):
            assert shipped == pandas_execution_engine.HASH_THRESHOLD
            assert getattr(gx_tuning._SCOPE, "memo", None) is None
        gx_tuning.install_configuration_memo()
    assert "99.0.0" in caplog.text and "unpatched" in caplog.text
