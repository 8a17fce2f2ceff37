"""Backfills against real Airflow services, as an operator runs them.

Each test talks to api-server, scheduler, dag-processor and triggerer (and a Celery worker) started
by ``airflow_services`` on loopback ports, with a PostgreSQL metadata database, the 2020 sample inbox
and a fresh PostgreSQL warehouse per test:

* (a) LocalExecutor: ``POST /api/v2/backfills`` for 2020, several months at once; the asset-triggered
  annual DAG then gives the report's figures; a second backfill with reprocess "completed" leaves the
  warehouse unchanged.
* (b) the same on the CeleryExecutor with a Celery worker on Redis.
* (c) the Airflow UI in headless Chromium: log in, open the monthly DAG, Trigger → Backfill for
  three months; the warehouse gets exactly those months.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from airflow_services import ANNUAL, MONTHLY, AirflowStack, StackPool, pg_available, redis_available, utc
from helpers import assert_matches_report

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.postgres,
              pytest.mark.timeout(900, method="signal")]

SEVEN = ["inspection_units", "inspection_tasks", "inspection_entities", "joint_inspections", "transfers_filed",
         "exam_takers", "trained_officers"]
MONTHS_2020 = [f"2020-{m:02d}" for m in range(1, 13)]
SHANGHAI = ZoneInfo("Asia/Shanghai")
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def _require(available: bool, what: str) -> None:
    if not available:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is not available (CI must provide it)")
        pytest.skip(f"{what} is not available")


@pytest.fixture(scope="module")
def stacks(tmp_path_factory, sample_inbox_2020):
    """One running service stack at a time, reused by the tests of the same executor."""
    _require(pg_available(), "PostgreSQL on 127.0.0.1:5432")
    pool = StackPool(tmp_path_factory.mktemp("airflow-services"), sample_inbox_2020)
    yield pool
    pool.close()


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _month_of(logical_date: str) -> str:
    """The reporting month docs/operator-guide.md promises for a run: its logical date's month in Shanghai."""
    return utc(logical_date).astimezone(SHANGHAI).strftime("%Y-%m")


def _runs_in(stack: AirflowStack, start: str, end: str) -> list[dict]:
    """Backfill runs of the monthly DAG whose logical date lies in [start, end)."""
    return sorted((r for r in stack.dag_runs(MONTHLY, run_type=["backfill"])
                   if start <= utc(r["logical_date"]).isoformat() < end), key=lambda r: r["logical_date"])


def _most_concurrent(runs: list[dict]) -> int:
    """The largest number of runs that were executing at the same moment."""
    edges = sorted([(utc(r["start_date"]), 1) for r in runs] + [(utc(r["end_date"]), -1) for r in runs],
                   key=lambda e: (e[0], e[1]))
    now = best = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


def _check_year_of_runs(stack: AirflowStack, not_before: dt.datetime | None = None) -> list[dict]:
    """Twelve successful backfill runs, one per month of 2020, each having processed its own month."""
    runs = _runs_in(stack, "2020-01-01", "2021-01-01")
    assert [r["state"] for r in runs] == ["success"] * 12, [(r["dag_run_id"], r["state"]) for r in runs]
    assert [_month_of(r["logical_date"]) for r in runs] == MONTHS_2020
    assert [stack.xcom(MONTHLY, r["dag_run_id"], "ingest_returns")["period"] for r in runs] == MONTHS_2020
    if not_before:
        assert all(utc(r["start_date"]) > not_before for r in runs), "a run was not re-processed"
    return runs


def _backfill_year_twice(stack: AirflowStack, warehouse_url: str) -> None:
    """Backfill 2020, check runs and figures, backfill it again with "completed": nothing changes."""
    from pipeline.figures.consolidate import stored_figures
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.load import dump
    from pipeline.warehouse.schema import submission

    stack.unpause(MONTHLY, ANNUAL)
    # The operator's dates, in Shanghai: every month M whose 8th (its data interval start) lies in the range.
    backfill = stack.create_backfill(MONTHLY, "2020-01-01T00:00:00+08:00", "2020-12-31T00:00:00+08:00",
                                     max_active_runs=3)
    first = stack.wait_backfill(backfill["id"], timeout=600)
    runs = _check_year_of_runs(stack)
    assert _most_concurrent(runs) >= 2, "the backfill never ran two months at once"
    stack.wait_quiet(timeout=300)

    annual = stack.dag_runs(ANNUAL)
    assert annual and all(r["state"] == "success" for r in annual), [(r["dag_run_id"], r["state"]) for r in annual]
    assert any(r["run_type"] == "asset_triggered" for r in annual), "the monthly runs never triggered the annual DAG"
    engine = make_engine(warehouse_url)
    assert_matches_report({f["code"]: f["value"] for f in stored_figures(engine, 2020)}, SEVEN)
    before = dump(engine)
    period = [c.name for c in submission.columns].index("period")
    assert {row[period] for row in before["submission"]} == set(MONTHS_2020)

    again = stack.create_backfill(MONTHLY, "2020-01-01T00:00:00+08:00", "2020-12-31T00:00:00+08:00",
                                  max_active_runs=3, reprocess="completed")
    stack.wait_backfill(again["id"], timeout=600)
    _check_year_of_runs(stack, not_before=utc(first["completed_at"]))
    stack.wait_quiet(timeout=300)
    assert all(r["state"] == "success" for r in stack.dag_runs(ANNUAL))
    # Every table, verification_hit included: the first backfill ran months side by side, and each load
    # re-judged the months whose history it changed (verification.MonthJudge), so the hits are those of
    # the stored facts, as a month-by-month run stores them.
    assert dump(engine) == before
    engine.dispose()


def test_backfill_2020_with_the_local_executor(stacks, pg_url):
    stack = stacks.get("LocalExecutor", pristine=True)
    with stack.diagnostics():
        # The warehouse is the Airflow connection `district_warehouse`, kept in the metadata database.
        stack.set_connection("district_warehouse", _database(pg_url))
        _backfill_year_twice(stack, pg_url)


def _chrome(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1400,1000", "--lang=en-US"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def _past_redirects(condition):
    """``condition`` for a WebDriverWait, not failing while the page navigates on its own.

    The UI redirects by itself (``/`` → ``/auth/login?next=…``); a lookup pending at that moment fails
    with "aborted by navigation" (seen once in CI at the login form). The wait then simply goes on.
    """
    from selenium.common.exceptions import WebDriverException

    def check(driver):
        try:
            return condition(driver)
        except WebDriverException as exc:
            if "aborted by navigation" in (exc.msg or ""):
                return False
            raise

    return check


def _ui_backfill(driver, stack: AirflowStack, start: tuple[str, str], end: tuple[str, str],
                 reprocess: str = "completed", login: bool = True) -> str:
    """Log in (unless ``login`` is False), open the monthly DAG, Trigger → Backfill over [start, end] with
    ``reprocess`` ("none": Missing Runs, "failed": Missing and Errored Runs, "completed": All Runs),
    max 3 runs; the dialog's text once Run Backfill was clicked."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 90)
    if login:
        driver.get(stack.base_url + "/")
        wait.until(_past_redirects(ec.visibility_of_element_located((By.NAME, "username")))).send_keys("admin")
        driver.find_element(By.NAME, "password").send_keys(stack.password)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: "/auth/login" not in d.current_url)

    driver.get(f"{stack.base_url}/dags/{MONTHLY}")
    wait.until(_past_redirects(ec.element_to_be_clickable((By.CSS_SELECTOR, "button[aria-label='Trigger Dag']")))
               ).click()
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "label[id$='radio:backfill']"))).click()

    def enter(index: int, day: str, hour: str) -> None:
        """The From/To pickers: a popover with a date field (YYYY/MM/DD) and a time field (HH:mm)."""
        picker = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=datetime-input]")[index])
        picker.click()
        popover = wait.until(ec.visibility_of_element_located(
            (By.ID, picker.get_attribute("id").replace(":trigger", ":content"))))
        for placeholder, value in (("YYYY/MM/DD", day), ("HH:mm", hour)):
            field = popover.find_element(By.CSS_SELECTOR, f"input[placeholder='{placeholder}']")
            field.send_keys(Keys.CONTROL, "a")
            field.send_keys(value)
        field.send_keys(Keys.ESCAPE)
        wait.until(ec.invisibility_of_element(popover))

    enter(0, *start)
    enter(1, *end)
    driver.find_element(By.CSS_SELECTOR, f"label[id$='radio:{reprocess}']").click()
    max_runs = driver.find_element(By.NAME, "max_active_runs")
    max_runs.send_keys(Keys.CONTROL, "a")
    max_runs.send_keys("3")
    run = driver.find_element(By.XPATH, "//button[normalize-space()='Run Backfill']")
    dialog = run.find_element(By.XPATH, "./ancestor::*[@role='dialog'][1]")
    wait.until(lambda d: "will be triggered" in dialog.text)  # the UI's dry run
    text = dialog.text
    wait.until(ec.element_to_be_clickable(run)).click()
    wait.until(ec.invisibility_of_element(dialog))
    return text


def test_backfill_three_months_from_the_airflow_ui(stacks, pg_url, tmp_path):
    import sqlalchemy as sa

    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import return_file, submission

    _require(CHROMIUM.exists() and CHROMEDRIVER.exists(), "Chromium and chromedriver (.ci/run installs them)")
    stack = stacks.get("LocalExecutor")
    stack.set_connection("district_warehouse", _database(pg_url))
    stack.unpause(ANNUAL)  # the monthly DAG is unpaused from the backfill dialog, as an operator does
    known = {b["id"] for b in stack.api("GET", "/api/v2/backfills", params={"dag_id": MONTHLY}).json()["backfills"]}
    driver = _chrome(Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)))

    def screenshot() -> None:
        path = tmp_path / "ui-failure.png"
        driver.save_screenshot(str(path))
        (tmp_path / "ui-failure.html").write_text(driver.page_source)
        print(f"screenshot: {path}", flush=True)

    try:
        with stack.diagnostics(on_failure=screenshot):
            dialog = _ui_backfill(driver, stack, ("2020/03/01", "00:00"), ("2020/05/31", "23:59"))
            assert "3 runs will be triggered." in dialog
            created = [b for b in stack.api("GET", "/api/v2/backfills", params={"dag_id": MONTHLY}).json()[
                "backfills"] if b["id"] not in known]
            assert len(created) == 1, created
            assert created[0]["reprocess_behavior"] == "completed" and created[0]["max_active_runs"] == 3
            stack.wait_backfill(created[0]["id"], timeout=600)
            runs = _runs_in(stack, "2020-03-01", "2020-06-01")
            assert [(_month_of(r["logical_date"]), r["state"]) for r in runs] == [
                ("2020-03", "success"), ("2020-04", "success"), ("2020-05", "success")]
            stack.wait_quiet(timeout=300)
            engine = make_engine(pg_url)
            with engine.connect() as conn:
                loaded = {p for (p,) in conn.execute(sa.select(submission.c.period).distinct())}
                files = {p for (p,) in conn.execute(sa.select(return_file.c.period).distinct())}
            engine.dispose()
            assert loaded == files == {"2020-03", "2020-04", "2020-05"}
    finally:
        driver.quit()


def test_backfill_2020_with_the_celery_executor(stacks, pg_url):
    _require(redis_available(), "Redis on 127.0.0.1:6379")
    # Here the warehouse comes from the environment, as in the docker-compose deployment.
    conn_uri = pg_url.replace("postgresql+psycopg://", "postgresql://")
    stack = stacks.get("CeleryExecutor", extra_env={"AIRFLOW_CONN_DISTRICT_WAREHOUSE": conn_uri})
    with stack.diagnostics():
        _backfill_year_twice(stack, pg_url)
