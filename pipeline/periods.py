"""Reporting months: how an Airflow run, a date range or a command-line flag names one."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from zoneinfo import ZoneInfo

from pipeline.config import DEFAULT_TZ

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


def local_month(moment: dt.datetime, tz: str = DEFAULT_TZ) -> str:
    """``YYYY-MM`` of ``moment`` in the bureau's time zone (Airflow's dates are UTC)."""
    local = moment.astimezone(ZoneInfo(tz)) if moment.tzinfo else moment
    return f"{local.year:04d}-{local.month:02d}"


class PeriodConflict(ValueError):
    """A run's conf names a month other than the one its logical date fixes: retrying cannot help."""


#: Run types whose logical date the timetable fixed (one per month): their month is not negotiable.
TIMETABLE_RUN_TYPES = ("scheduled", "backfill")


def run_type_name(run_type: object) -> str | None:
    """``"scheduled"``, ``"backfill"``, ``"manual"``, …: the value of a DagRunType, or the string given."""
    if run_type is None:
        return None
    return str(getattr(run_type, "value", run_type))


def resolve_run_period(
    param: str | None,
    logical_date: dt.datetime | None,
    run_type: str | None,
    now: dt.datetime | None = None,
    tz: str = DEFAULT_TZ,
) -> str:
    """The reporting month a monthly-DAG run processes.

    The month is the month of the run's logical date in the bureau's time zone, whoever made the run:
    the schedule gives month M's run the logical date of M's 8th, 06:00 (its data interval start),
    and so does a backfill, a reprocessed run and ``python -m pipeline run``. The data interval is not
    used: Airflow infers different intervals for the same logical date depending on how the run was made.

    1. Scheduled and backfill runs: their logical date's month. A ``period`` in the conf that names
       another month raises PeriodConflict naming both (the run must fail at once, not retry).
    2. Other runs (manual, ``dag.test()``): the ``period`` Param when given, else the logical date's
       month, else (a manual run without a logical date) the month before ``now``'s.
    """
    kind = run_type_name(run_type)
    own = local_month(logical_date, tz) if logical_date is not None else None
    asked = validate_period(str(param).strip()) if param else None
    if kind in TIMETABLE_RUN_TYPES and own:
        if asked and asked != own:
            raise PeriodConflict(
                f"{kind} 运行的逻辑日期对应报告期 {own}，但运行参数 period 为 {asked}：两者不一致，本次运行不重试。"
                f"请在回填的运行参数中将“报告期”留空（每个运行处理自己的月份），或手动触发并填写报告期 {asked}。"
                f" ({kind} run of {own} was given period={asked})"
            )
        return own
    if asked:
        return asked
    if own:
        return own
    now = now or dt.datetime.now(dt.UTC)
    return shift(local_month(now, tz), -1)


def deadline(period: str, day: int = 8, hour: int = 6, tz: str = DEFAULT_TZ) -> dt.datetime:
    """Submission deadline of month ``period``: ``day`` of the next month at ``hour``:00, in ``tz``."""
    year, month = (int(x) for x in shift(period, 1).split("-"))
    return dt.datetime(year, month, day, hour, 0, tzinfo=ZoneInfo(tz))

def local_time(moment: dt.datetime | None, tz: str = DEFAULT_TZ) -> str:
    """A naive UTC time as the bureau reads it, e.g. ``2021-01-07 16:59（北京时间）``."""
    if moment is None:
        return "—"
    local = moment.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz))
    return f"{local:%Y-%m-%d %H:%M}（北京时间）"


def utc_now() -> dt.datetime:
    """Now as naive UTC to the second, as the warehouse stores times."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
