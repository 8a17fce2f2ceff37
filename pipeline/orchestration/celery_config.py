"""Celery configuration for Airflow's CeleryExecutor: Airflow's defaults, and workers that preload.

``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=pipeline.orchestration.celery_config.CELERY_CONFIG``. Airflow imports this
module wherever it builds its Celery app; in a Celery worker the ``import_modules`` signal then fires in
the main process before it forks its pool, so every pool child, and every task process those fork,
inherits the modules of :data:`pipeline.orchestration.executors.PRELOAD` (see :mod:`pipeline.orchestration.executors`).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import import_modules

from pipeline.orchestration.executors import preload_in_worker

CELERY_CONFIG: dict[str, Any] = dict(DEFAULT_CELERY_CONFIG)

# Sent once, in the worker's main process only (not in the scheduler or the api-server).
import_modules.connect(preload_in_worker, weak=False)
