"""The annual DAG's wait for pending monthly runs: deferred to Airflow's triggerer, holding no worker slot.

A sensor in reschedule mode also frees its slot between pokes, but each poke is a task process whose
end Airflow's supervisor may report only at its next heartbeat check (5 s): on a 2-slot machine that
kept a slot from the monthly runs it waited for, and a poke interval under ~6 s let the scheduler
requeue a poke before the last one was reported, which then failed. Here one task process looks once;
if monthly runs are pending it defers, the triggerer polls the count cheaply, and the task resumes once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

from pipeline.orchestration.airflow_glue import monthly_runs_settled, pending_monthly_runs

log = logging.getLogger(__name__)

TRIGGER_PATH = "pipeline.orchestration.triggers.MonthlyRunsSettledTrigger"


class MonthlyRunsSettledTrigger(BaseTrigger):
    """Fires when no monthly run is queued or running, or after ``timeout_s`` seconds of waiting.

    The event says which: ``{"settled": True}`` or ``{"settled": False, "pending": n}``.
    """

    def __init__(self, poll_interval_s: float = 2.0, timeout_s: float = 2 * 3600) -> None:
        super().__init__()
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return TRIGGER_PATH, {"poll_interval_s": self.poll_interval_s, "timeout_s": self.timeout_s}

    async def run(self) -> AsyncIterator[Any]:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async

        count = sync_to_async(pending_monthly_runs)
        deadline = time.monotonic() + self.timeout_s
        while True:
            pending = await count(RuntimeTaskInstance.get_dr_count)
            if not pending:
                yield TriggerEvent({"settled": True})
                return
            if time.monotonic() >= deadline:
                yield TriggerEvent({"settled": False, "pending": pending})
                return
            await asyncio.sleep(self.poll_interval_s)


class WaitForMonthlyRunsOperator(BaseOperator):
    """Succeed at once when no monthly run is queued or running; else wait for that in the triggerer.

    After ``wait_timeout`` it succeeds anyway and logs a warning: the wait only saves work, it never
    stands between a load and its figures.
    """

    def __init__(self, *, poll_interval_s: float = 2.0, wait_timeout: timedelta = timedelta(hours=2),
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.poll_interval_s = poll_interval_s
        self.wait_timeout = wait_timeout

    def execute(self, context: Any) -> None:
        if monthly_runs_settled(context["ti"]):
            return
        self.defer(
            trigger=MonthlyRunsSettledTrigger(self.poll_interval_s, self.wait_timeout.total_seconds()),
            method_name="execute_complete",
            # Only if no triggerer runs the trigger: the task fails, and its retries look again.
            timeout=self.wait_timeout + timedelta(minutes=10),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> None:
        if not (event or {}).get("settled"):
            log.warning("monthly runs still pending after %s (%s); consolidating anyway",
                        self.wait_timeout, (event or {}).get("pending"))
