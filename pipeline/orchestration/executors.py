"""Airflow executors whose workers import the pipeline's heavy modules once, for every task they run.

On Linux each task process is ``os.fork()``-ed by the Task SDK supervisor inside an executor worker
(LocalExecutor: a worker process forked from the scheduler; Celery: a prefork pool child). A worker
that has already imported Great Expectations (~6 s and ~240 MB per process), pandas and the pipeline
hands those modules to every task it forks, instead of each task importing them again.

``AIRFLOW__CORE__EXECUTOR=pipeline.orchestration.executors.PreloadingLocalExecutor`` selects the LocalExecutor
flavour; for Celery see :mod:`pipeline.orchestration.celery_config`. Both import once, before the worker processes
fork, so the workers share one copy of the modules.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from airflow.executors.local_executor import LocalExecutor

log = logging.getLogger(__name__)

#: What the tasks import. Imports only: nothing here may open a connection, create a
#: GX context or start a thread at import time, since the importing process forks every task.
PRELOAD = (
    "great_expectations",
    "pandas",
    "sqlalchemy",
    "openpyxl",
    "python_calamine",
    "docx",
    "airflow.sdk.execution_time.task_runner",
    "pipeline.orchestration.airflow_glue",
    "pipeline.periods",
    "pipeline.ingest",
    "pipeline.validation.validate",
    "pipeline.outputs.feedback",
    "pipeline.operations.problems_report",
    "pipeline.annual",
)


def preload() -> None:
    """Import :data:`PRELOAD` into this process, so that the processes it forks inherit the modules."""
    for name in PRELOAD:
        importlib.import_module(name)


def preload_in_worker(**_: Any) -> None:
    """:func:`preload` for a worker; a failure is logged, not raised: its tasks then import (and fail) alone."""
    try:
        preload()
    except Exception:
        log.exception("preloading the pipeline's modules failed; every task imports them itself")


class PreloadingLocalExecutor(LocalExecutor):
    """LocalExecutor that imports :data:`PRELOAD` once, in the scheduler, before it forks its workers.

    Importing in the parent rather than in each worker keeps one copy of the modules: the ``parallelism``
    workers (32 by default) share its pages copy-on-write instead of holding ~240 MB each. The price is
    the scheduler's: a few seconds at start and the modules' memory. Under a start method other than
    ``fork`` the workers do not inherit the modules and tasks import them as with the stock executor.
    """

    def start(self) -> None:
        preload_in_worker()
        super().start()
