import datetime as dt

import pytest
from airflow.utils.types import DagRunType

from pipeline.periods import PeriodConflict, deadline, month_bounds, resolve_run_period, shift, validate_period

pytestmark = pytest.mark.unit
UTC = dt.UTC


def test_param_wins_in_a_manual_run():
    assert resolve_run_period("2020-03", dt.datetime(2021, 5, 7, 22, tzinfo=UTC), "manual") == "2020-03"


def test_scheduled_run_uses_local_month_of_its_logical_date():
    # 2020-02-08 06:00 Asia/Shanghai is 2020-02-07 22:00 UTC: still February.
    assert resolve_run_period(None, dt.datetime(2020, 2, 7, 22, tzinfo=UTC), "scheduled") == "2020-02"
    # The UTC trap: midnight of 1 February in Shanghai is 31 January in UTC.
    assert resolve_run_period(None, dt.datetime(2020, 1, 31, 16, tzinfo=UTC), "backfill") == "2020-02"


@pytest.mark.parametrize("run_type", ["scheduled", "backfill", "manual", DagRunType.BACKFILL_JOB,
                                      DagRunType.MANUAL, DagRunType.SCHEDULED])
def test_same_logical_date_same_month_whoever_made_the_run(run_type):
    """dag.test() (manual), the scheduler and a backfill give March's run the same logical date."""
    march_8th = dt.datetime(2020, 3, 7, 22, tzinfo=UTC)  # 2020-03-08 06:00 Shanghai
    assert resolve_run_period(None, march_8th, run_type) == "2020-03"
    # A reprocessed run keeps the conf it was made with: a conf naming its own month is fine.
    assert resolve_run_period("2020-03", march_8th, run_type) == "2020-03"


@pytest.mark.parametrize("run_type", ["backfill", "scheduled", DagRunType.BACKFILL_JOB])
def test_conf_naming_another_month_fails_the_run_naming_both(run_type):
    start = dt.datetime(2020, 3, 7, 22, tzinfo=UTC)  # 2020-03-08 06:00 Shanghai
    with pytest.raises(PeriodConflict, match=r"2020-03.*2020-05"):
        resolve_run_period("2020-05", start, run_type)


def test_manual_run_without_period_takes_its_logical_month_else_the_last_month():
    now = dt.datetime(2021, 1, 5, 3, tzinfo=UTC)
    assert resolve_run_period(None, None, "manual", now=now) == "2020-12"
    assert resolve_run_period("", dt.datetime(2020, 6, 7, 22, tzinfo=UTC), "manual", now=now) == "2020-06"


@pytest.mark.parametrize("bad", ["2020-13", "2020-1", "../2020-01", "2020-01/..", "", "2020_01"])
def test_invalid_periods_never_pass(bad):
    with pytest.raises(ValueError):
        validate_period(bad)


def test_bounds_and_shift():
    assert month_bounds("2020-02") == (dt.date(2020, 2, 1), dt.date(2020, 2, 29))
    assert shift("2020-12", 1) == "2021-01"
    assert shift("2020-01", -1) == "2019-12"


def test_deadline_is_8th_of_next_month_0600_shanghai():
    d = deadline("2020-12")
    assert d.astimezone(UTC) == dt.datetime(2021, 1, 7, 22, tzinfo=UTC)


def test_a_contradicting_conf_fails_the_task_without_retries():
    """AirflowFailException: Airflow fails the task at once instead of retrying it twice, two minutes apart."""
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.orchestration.airflow_glue import run_period

    run = SimpleNamespace(logical_date=dt.datetime(2020, 2, 7, 22, tzinfo=UTC), run_type=DagRunType.BACKFILL_JOB)
    with pytest.raises(AirflowFailException, match=r"2020-02.*2020-03"):
        run_period(run, {"period": "2020-03"}, "Asia/Shanghai")
    assert run_period(run, {"period": None}, "Asia/Shanghai") == "2020-02"
