"""Reporting months: how an Airflow run, a date range or a command-line flag names one."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from zoneinfo import ZoneInfo

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def validate_period(period: str) -> str:
    """``YYYY-MM`` or ValueError; a period also names a folder, so nothing else gets through."""
    if not isinstance(period, str) or not _PERIOD.match(period):
        raise ValueError(f"reporting month must be YYYY-MM, got {period!r}")
    return period


def month_bounds(period: str) -> tuple[dt.date, dt.date]:
    year, month = (int(x) for x in validate_period(period).split("-"))
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def shift(period: str, months: int) -> str:
    year, month = (int(x) for x in validate_period(period).split("-"))
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_of(year: int) -> list[str]:
    return [f"{year:04d}-{m:02d}" for m in range(1, 13)]


def local_month(moment: dt.datetime, tz: str = "Asia/Shanghai") -> str:
    """``YYYY-MM`` of ``moment`` in the bureau's time zone (Airflow's dates are UTC)."""
    local = moment.astimezone(ZoneInfo(tz)) if moment.tzinfo else moment
    return f"{local.year:04d}-{local.month:02d}"


def resolve_run_period(
    param: str | None,
    data_interval_start: dt.datetime | None,
    run_type: str | None,
    now: dt.datetime | None = None,
    tz: str = "Asia/Shanghai",
) -> str:
    """The reporting month a monthly-DAG run processes.

    1. The ``period`` Param, when the operator gives one.
    2. Scheduled and backfill runs: the month, in the bureau's time zone, in which the run's data
       interval starts. The schedule is a data-interval cron on the deadline day, so month M's run
       has its interval start on the 8th of M and runs on the 8th of M+1; a backfill over
       2020-01-01 … 2020-12-31 processes 2020-01 … 2020-12.
    3. Anything else (a manual run with no period): the last month before ``now``.

    A backfill whose Run Parameters name a period different from a run's own month is refused:
    otherwise every run of the backfill would silently process that one month.
    """
    derived = (local_month(data_interval_start, tz)
               if data_interval_start is not None and run_type in ("scheduled", "backfill") else None)
    if param:
        period = validate_period(str(param).strip())
        if run_type == "backfill" and derived and period != derived:
            raise ValueError(
                f"backfill run for {derived} was given period={period}: leave 报告期 empty in a backfill's "
                "Run Parameters (each run processes its own month)"
            )
        return period
    if derived:
        return derived
    now = now or dt.datetime.now(dt.UTC)
    return shift(local_month(now, tz), -1)


def deadline(period: str, day: int = 8, hour: int = 6, tz: str = "Asia/Shanghai") -> dt.datetime:
    """Submission deadline of month ``period``: ``day`` of the next month at ``hour``:00, in ``tz``."""
    year, month = (int(x) for x in shift(period, 1).split("-"))
    return dt.datetime(year, month, day, hour, 0, tzinfo=ZoneInfo(tz))
