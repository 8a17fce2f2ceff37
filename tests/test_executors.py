"""The preloading executors: Airflow resolves them, and their workers import the pipeline before any task."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import REPO

pytestmark = pytest.mark.unit


def _python(code: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> list[str]:
    """Run ``code`` in a fresh interpreter (Airflow reads its configuration once per process).

    Returns what it printed with ``=>`` (Airflow logs to stdout too).
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "GX_ANALYTICS_ENABLED": "False", **(env or {})},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [line[3:] for line in done.stdout.splitlines() if line.startswith("=> ")]


def test_airflow_resolves_the_preloading_local_executor_and_the_scheduler_stays_light(tmp_path):
    out = _python("""
        import sys
        from airflow.executors.executor_loader import ExecutorLoader
        executor = ExecutorLoader.get_default_executor()
        print("=>", type(executor).__module__, type(executor).__name__, executor.is_local)
        print("=>", "great_expectations" in sys.modules, "pandas" in sys.modules)
    """, {"AIRFLOW_HOME": str(tmp_path),
          "AIRFLOW__CORE__EXECUTOR": "pipeline.orchestration.executors.PreloadingLocalExecutor"})
    assert out == ["pipeline.orchestration.executors PreloadingLocalExecutor True", "False False"]


def test_every_preloaded_module_imports_and_leaves_no_thread_behind():
    # The worker forks every task after this: a thread or connection made here would not survive fork.
    out = _python("""
        import sys, threading
        from pipeline.orchestration.executors import PRELOAD, preload
        preload()
        print("=>", all(name in sys.modules for name in PRELOAD), "great_expectations" in PRELOAD,
              [t.name for t in threading.enumerate()])
    """)
    assert out == ["True True ['MainThread']"]


def test_local_executor_preloads_once_before_it_forks_its_workers(tmp_path):
    # A marker module stands in for the pipeline: its import records which process imported it.
    (tmp_path / "preload_marker.py").write_text(
        "import os, pathlib\npathlib.Path(os.environ['MARKER']).write_text(str(os.getpid()))\n")
    marker = tmp_path / "imported-by"
    out = _python("""
        import multiprocessing, os, pathlib, sys
        multiprocessing.set_start_method("fork")
        import pipeline.orchestration.executors as ex
        ex.PRELOAD = ("preload_marker",)
        executor = ex.PreloadingLocalExecutor(parallelism=2)
        print("=>", "preload_marker" in sys.modules)
        executor.start()
        print("=>", pathlib.Path(os.environ["MARKER"]).read_text() == str(os.getpid()), len(executor.workers),
              all(p.is_alive() for p in executor.workers.values()))
        executor.end()
        print("=>", "ended")
    """, {"AIRFLOW_HOME": str(tmp_path), "MARKER": str(marker), "PYTHONPATH": str(tmp_path)})
    # Imported by the scheduler's process itself (the workers, forked afterwards, inherit it), once.
    assert out == ["False", "True 2 True", "ended"]


def test_celery_config_is_airflows_with_a_preload_before_the_pool_forks(tmp_path):
    (tmp_path / "preload_marker.py").write_text("IMPORTED = True\n")
    out = _python("""
        import sys
        import pipeline.orchestration.executors as ex
        ex.PRELOAD = ("preload_marker",)
        from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
        from airflow.providers.celery.executors.celery_executor_utils import app
        from celery.signals import import_modules
        from pipeline.orchestration.celery_config import CELERY_CONFIG
        print("=>", CELERY_CONFIG == DEFAULT_CELERY_CONFIG, app.conf.broker_url == DEFAULT_CELERY_CONFIG["broker_url"])
        print("=>", "preload_marker" in sys.modules)
        import_modules.send(sender=app)  # what a Celery worker's main process sends before forking its pool
        print("=>", "preload_marker" in sys.modules)
    """, {"AIRFLOW_HOME": str(tmp_path), "PYTHONPATH": str(tmp_path),
          "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "pipeline.orchestration.celery_config.CELERY_CONFIG"})
    assert out == ["True True", "False", "True"]
