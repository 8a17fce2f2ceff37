"""The patches to Great Expectations internals that make validation fast, fenced and version-guarded.

Why each exists and what would break it: docs/decisions/0005-gx-patches-in-validate.md. Every patch
touches a GX attribute that is not public API, so it is applied only on the GX versions listed in
``TESTED_VERSIONS``; on any other version GX runs as shipped (slower, same results) and a warning is
logged once. tests/test_validate.py fails loudly if an attribute in ``PATCHED`` disappears.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

#: GX versions the patches were measured and tested on (requirements.lock pins one of them).
TESTED_VERSIONS = ("1.24.1",)
#: (module, attribute path) of every GX internal the patches read or replace; ``()`` makes an instance.
_PANDAS_ENGINE = "great_expectations.execution_engine.pandas_execution_engine"
PATCHED = (
    ("great_expectations.expectations.expectation", "Expectation.configuration"),
    (_PANDAS_ENGINE, "HASH_THRESHOLD"),
    (_PANDAS_ENGINE, "PandasExecutionEngine()._metric_cache"),
    (_PANDAS_ENGINE, "PandasExecutionEngine().batch_manager.reset_batch_cache"),
    (_PANDAS_ENGINE, "PandasExecutionEngine().batch_manager.batch_data_cache"),
)

_SCOPE = threading.local()
_SHIPPED_HASH_THRESHOLD: dict[str, float] = {}
_WARNED: list[str] = []


def gx_version() -> str:
    from importlib.metadata import version

    return version("great_expectations")


def enabled() -> bool:
    """Whether the installed GX is one the patches were tested on; warns once when it is not."""
    installed = gx_version()
    if installed in TESTED_VERSIONS:
        return True
    if not _WARNED:
        _WARNED.append(installed)
        log.warning("great_expectations %s is not one of %s: GX internals left unpatched (validation is slower)",
                    installed, ", ".join(TESTED_VERSIONS))
    return False


def install_configuration_memo() -> None:
    """Memoise ``Expectation.configuration`` per expectation object, only inside ``validation_scope``.

    GX rebuilds the configuration (a pydantic ``dict()`` and a regex per call) about 80 times per
    expectation per validation, about 40 % of a small frame's validation. Inside one validation an
    expectation object is not changed after it is built (GX itself keeps the value in local variables),
    so the first value stands for the object's life; the memo holds the objects, so an ``id`` cannot be
    reused, and is dropped when the validation ends. Outside ``validation_scope`` GX behaves as shipped.
    """
    if not enabled():
        return
    from great_expectations.expectations.expectation import Expectation

    shipped = Expectation.__dict__.get("configuration")
    if not isinstance(shipped, property) or getattr(shipped.fget, "memoised", False):
        return
    build = shipped.fget

    def configuration(self: Any) -> Any:
        memo = getattr(_SCOPE, "memo", None)
        if memo is None:
            return build(self)
        hit = memo.get(id(self))
        if hit is None:
            hit = memo[id(self)] = (self, build(self))
        return hit[1]

    configuration.memoised = True  # type: ignore[attr-defined]
    Expectation.configuration = property(configuration, doc=shipped.__doc__)  # type: ignore[method-assign]


@contextmanager
def validation_scope(datasource: Any) -> Iterator[None]:
    """One validation's GX settings, undone afterwards.

    The batch fingerprint (an MD5 over every cell, 0.1 s at 100,000 rows) is only a batch marker in
    the stored result, and is skipped. Afterwards the data source's engine lets go of the frame and of
    the metrics it cached under the batch id, which is the same for every frame of a form.
    """
    if not enabled():
        yield
        return
    from great_expectations.execution_engine import pandas_execution_engine

    # Back to the shipped value, not to whatever this call found: no overlap can leave it at 0.
    shipped = _SHIPPED_HASH_THRESHOLD.setdefault("value", pandas_execution_engine.HASH_THRESHOLD)
    pandas_execution_engine.HASH_THRESHOLD = 0
    _SCOPE.memo = {}
    try:
        yield
    finally:
        _SCOPE.memo = None
        pandas_execution_engine.HASH_THRESHOLD = shipped
        engine = datasource.get_execution_engine()
        cache = getattr(engine, "_metric_cache", None)
        if isinstance(cache, dict):
            cache.clear()
        engine.batch_manager.reset_batch_cache()
        engine.batch_manager.batch_data_cache.clear()
