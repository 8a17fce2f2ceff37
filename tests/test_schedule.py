"""The monthly schedule and backfill ranges, asked of Airflow's own timetable code.

Airflow's backfill (``POST /api/v2/backfills``, the UI's Trigger → Backfill) turns a date range into
runs with ``SerializedDAG.iter_dagrun_infos_between``; the scheduler asks the timetable for the next
``DagRunInfo``. The expected months and times below are the tables of docs/operator-guide.md, by hand.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from helpers import REPO

from pipeline.periods import resolve_run_period

pytestmark = pytest.mark.unit
SHANGHAI = ZoneInfo("Asia/Shanghai")
MONTHLY_DAG_FILE = REPO / "dags" / "district_returns_monthly.py"


def _monthly_dag():
    """The monthly DAG, parsed afresh (the file reads the deadline from the environment)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(MONTHLY_DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["district_returns_monthly"]


def _scheduler_view(dag):
    """The DAG as the scheduler and the backfill code see it: serialised and loaded back."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def _next_after(dag, earliest: dt.datetime, last=None):
    from airflow.timetables.base import TimeRestriction

    restriction = TimeRestriction(earliest=earliest, latest=None, catchup=True)
    return _scheduler_view(dag).timetable.next_dagrun_info_v2(last_dagrun_info=last, restriction=restriction)


def _months(infos) -> list[str]:
    return [resolve_run_period(None, info.logical_date, "backfill") for info in infos]


def _backfill_infos(dag, start: dt.datetime, end: dt.datetime) -> list:
    return list(_scheduler_view(dag).iter_dagrun_infos_between(start, end))


def test_schedule_is_the_deadline_cron_in_shanghai():
    from airflow.sdk import CronDataIntervalTimetable

    dag = _monthly_dag()
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    timetable = _scheduler_view(dag).timetable
    assert timetable.summary == "0 6 8 * *"
    assert timetable.periodic and not timetable.partitioned  # what a backfill needs
    assert str(timetable._timezone) in ("Asia/Shanghai", "Timezone('Asia/Shanghai')")


def test_january_runs_on_8_february_0600_shanghai_and_processes_january():
    info = _next_after(_monthly_dag(), dt.datetime(2020, 1, 1, tzinfo=SHANGHAI))
    assert info.run_after == dt.datetime(2020, 2, 8, 6, 0, tzinfo=SHANGHAI)
    assert info.data_interval.start == dt.datetime(2020, 1, 8, 6, 0, tzinfo=SHANGHAI)
    assert info.data_interval.end == info.run_after
    assert resolve_run_period(None, info.logical_date, "scheduled") == "2020-01"


def test_each_run_follows_the_previous_by_one_month():
    dag = _monthly_dag()
    january = _next_after(dag, dt.datetime(2020, 1, 1, tzinfo=SHANGHAI))
    february = _next_after(dag, dt.datetime(2020, 1, 1, tzinfo=SHANGHAI), last=january)
    assert february.run_after == dt.datetime(2020, 3, 8, 6, 0, tzinfo=SHANGHAI)
    assert resolve_run_period(None, february.logical_date, "scheduled") == "2020-02"


def test_december_runs_in_january_of_the_next_year():
    info = _next_after(_monthly_dag(), dt.datetime(2020, 12, 1, tzinfo=SHANGHAI))
    assert info.run_after == dt.datetime(2021, 1, 8, 6, 0, tzinfo=SHANGHAI)
    assert resolve_run_period(None, info.logical_date, "scheduled") == "2020-12"


@pytest.mark.parametrize("tz", [dt.UTC, SHANGHAI], ids=["utc", "shanghai"])
def test_backfill_of_2020_processes_exactly_its_twelve_months(tz):
    """2020-01-01 → 2020-12-31, whichever time zone the operator's dates are in."""
    infos = _backfill_infos(_monthly_dag(), dt.datetime(2020, 1, 1, tzinfo=tz), dt.datetime(2020, 12, 31, tzinfo=tz))
    assert _months(infos) == [f"2020-{m:02d}" for m in range(1, 13)]
    assert [i.run_after for i in infos][-1] == dt.datetime(2021, 1, 8, 6, 0, tzinfo=SHANGHAI)


def test_backfill_of_three_months_as_the_ui_test_enters_them():
    infos = _backfill_infos(_monthly_dag(), dt.datetime(2020, 3, 1, tzinfo=dt.UTC),
                            dt.datetime(2020, 5, 31, 23, 59, tzinfo=dt.UTC))
    assert _months(infos) == ["2020-03", "2020-04", "2020-05"]


def test_a_month_counts_only_when_its_8th_is_in_the_range():
    dag = _monthly_dag()
    # Ending on 1 December leaves out December (its interval starts on 8 December).
    assert _months(_backfill_infos(dag, dt.datetime(2020, 1, 1, tzinfo=SHANGHAI),
                                   dt.datetime(2020, 12, 1, tzinfo=SHANGHAI)))[-1] == "2020-11"
    # A single day: the 8th names its month, any other day none.
    assert _months(_backfill_infos(dag, dt.datetime(2020, 6, 8, tzinfo=SHANGHAI),
                                   dt.datetime(2020, 6, 8, 23, 59, tzinfo=SHANGHAI))) == ["2020-06"]
    assert _months(_backfill_infos(dag, dt.datetime(2020, 6, 9, tzinfo=SHANGHAI),
                                   dt.datetime(2020, 6, 30, tzinfo=SHANGHAI))) == []


def test_deadline_is_configurable(monkeypatch):
    monkeypatch.setenv("DISTRICT_DEADLINE_DAY", "15")
    monkeypatch.setenv("DISTRICT_DEADLINE_HOUR", "9")
    info = _next_after(_monthly_dag(), dt.datetime(2020, 1, 1, tzinfo=SHANGHAI))
    assert info.run_after == dt.datetime(2020, 2, 15, 9, 0, tzinfo=SHANGHAI)
    assert resolve_run_period(None, info.logical_date, "scheduled") == "2020-01"


def test_time_zone_is_configurable(monkeypatch):
    urumqi = ZoneInfo("Asia/Urumqi")  # UTC+6: the same wall-clock deadline, two hours later than Beijing
    monkeypatch.setenv("DISTRICT_TZ", "Asia/Urumqi")
    info = _next_after(_monthly_dag(), dt.datetime(2020, 1, 1, tzinfo=urumqi))
    assert info.run_after == dt.datetime(2020, 2, 8, 6, 0, tzinfo=urumqi)
    assert info.run_after == dt.datetime(2020, 2, 8, 0, 0, tzinfo=dt.UTC)
    assert resolve_run_period(None, info.logical_date, "scheduled", tz="Asia/Urumqi") == "2020-01"
