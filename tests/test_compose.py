"""The bureau's deployment brought up for real: ``docker-compose.yml`` and the ``Dockerfile`` under Docker.

``make test-compose`` (the ``compose`` tier; ``make test`` leaves it out). ``deploy/test-images/docker.sh``
installs Docker, debootstrap and Docker Compose if missing, runs a private dockerd and builds the
stand-ins of the official base images from Debian packages (Docker Hub is unreachable here); the test
then builds the project's image with ``docker compose build`` and runs the compose file as the bureau
does, with a test ``.env`` that only substitutes the three base images. Through the REST API:

* a 2020 backfill from the sample inbox mounted as the bureau's inbox, the asset-triggered annual run,
  and the report's figures read from the warehouse database inside the PostgreSQL container;
* ``--scale airflow-worker=2`` and the backfill again with reprocess "completed": both workers run
  months, and the warehouse is unchanged;
* a worker container killed in the middle of a month: the task is retried on the other worker and the
  warehouse is unchanged.

``down -v`` at the end; the images stay cached in the dockerd's data folder for the next run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow_services import ANNUAL, MONTHLY, AirflowStack, free_port, utc, wait_for
from helpers import assert_matches_report, report_figures_2020

pytestmark = [pytest.mark.compose, pytest.mark.slow, pytest.mark.timeout(3600, method="signal")]

REPO = Path(__file__).resolve().parents[1]
DOCKER_SH = REPO / "deploy" / "test-images" / "docker.sh"
PROJECT = "district-compose-test"
MONTHS_2020 = [f"2020-{m:02d}" for m in range(1, 13)]
# The lowest appearance rate of three years: the 2020 sample alone cannot give the report's value.
NEEDS_2018_2019 = {"head_appearance_rate"}
STAND_INS = {"AIRFLOW_BASE_IMAGE": "district-test/airflow:latest",
             "POSTGRES_IMAGE": "district-test/postgres:latest",
             "REDIS_IMAGE": "district-test/redis:latest"}


def _why_docker_cannot_run() -> str | None:
    if sys.platform != "linux":
        return "the compose tier runs its own dockerd: Linux only"
    if os.geteuid() != 0:
        return "the compose tier installs Docker with apt and runs its own dockerd: it needs root"
    if not Path("/usr/sbin/dockerd").exists() and not shutil.which("apt-get"):
        return "no dockerd and no apt-get to install Docker (docker.io) with"
    return None


def _run(args: list[str], env: dict[str, str], *, timeout: float, check: bool = True,
         cwd: Path = REPO) -> subprocess.CompletedProcess:
    started = time.monotonic()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    print(f"[compose] {' '.join(args[:6])} … {time.monotonic() - started:.0f} s (exit {result.returncode})",
          flush=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


@pytest.fixture(scope="module")
def docker_env():
    """A private dockerd with the stand-in base images built; stopped at the end (images stay cached)."""
    if reason := _why_docker_cannot_run():
        pytest.skip(reason)
    env = {**os.environ, "PYTHON": sys.executable}
    started = time.monotonic()
    _run([str(DOCKER_SH), "start"], env, timeout=2400)
    exported = _run([str(DOCKER_SH), "env"], env, timeout=30).stdout
    for line in exported.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    print(f"[compose] dockerd and stand-ins ready in {time.monotonic() - started:.0f} s", flush=True)
    try:
        yield env
    finally:
        _run([str(DOCKER_SH), "stop"], env, timeout=120, check=False)


# What the bureau's folder holds: the compose file, the image's build context and .env.example.
BUREAU_FILES = ["docker-compose.yml", "Dockerfile", ".dockerignore", ".env.example", "requirements.lock",
                "pyproject.toml", "pipeline", "dags", "expectations", "deploy"]


class ComposeStack:
    """The bureau's folder: README's commands, run as written, with ``docker compose`` and the REST API."""

    # The same REST calls the native service tests make (tests/airflow_services.py).
    create_backfill = AirflowStack.create_backfill
    wait_backfill = AirflowStack.wait_backfill
    dag_runs = AirflowStack.dag_runs
    trigger = AirflowStack.trigger
    wait_run = AirflowStack.wait_run
    xcom = AirflowStack.xcom
    wait_quiet = AirflowStack.wait_quiet
    token = AirflowStack.token
    api = AirflowStack.api
    unpause = AirflowStack.unpause

    def __init__(self, root: Path, env: dict[str, str]):
        self.root = root
        for name in BUREAU_FILES:
            source, target = REPO / name, root / name
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, target)
        # `docker compose` without -p: the folder's name would be the project's; keep the test's apart.
        self.env = {**env, "COMPOSE_PROJECT_NAME": PROJECT}
        # README's defaults for the host folders (.env.example): ./var/bureau/inbox and ./var/bureau/data.
        self.inbox, self.data = root / "var" / "bureau" / "inbox", root / "var" / "bureau" / "data"
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self._client = None
        from cryptography.fernet import Fernet

        # README: `cp .env.example .env`, then fill in every empty value.
        secrets_ = {
            "POSTGRES_PASSWORD": secrets.token_hex(24), "WAREHOUSE_DB_PASSWORD": secrets.token_hex(24),
            "REDIS_PASSWORD": secrets.token_hex(24), "AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW_JWT_SECRET": secrets.token_hex(32), "AIRFLOW_API_SECRET_KEY": secrets.token_hex(32),
            "AIRFLOW_ADMIN_PASSWORD": self.password,
        }
        changed = {
            "AIRFLOW_WEB_PORT": str(self.port), "DISTRICT_IMAGE": "district-returns-airflow:compose-test",
            # A killed worker's task is failed (and retried) after 30 s without a heartbeat, not 5 min.
            "AIRFLOW_TASK_HEARTBEAT_TIMEOUT": "30",
            **STAND_INS,
        }
        shutil.copy(root / ".env.example", root / ".env")
        lines = []
        for line in (root / ".env").read_text(encoding="utf-8").splitlines():
            name, eq, value = line.partition("=")
            if eq and not line.startswith("#"):
                if name in secrets_:
                    assert value == "", f"{name} in .env.example must be empty"
                    value = secrets_.pop(name)
                value = changed.pop(name, value)
            lines.append(f"{name}={value}" if eq and not line.startswith("#") else line)
        assert not secrets_ and not changed, f".env.example lacks {sorted(secrets_) + sorted(changed)}"
        (root / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def check_alive(self) -> None:
        """Nothing to check between REST calls: a stopped service shows as a failed run or a timeout."""

    def compose(self, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
        return _run(["docker", "compose", *args], self.env, timeout=timeout, check=check, cwd=self.root)

    def docker(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return _run(["docker", *args], self.env, timeout=timeout, cwd=self.root)

    def psql(self, sql: str) -> list[list[str]]:
        """Rows of ``sql`` run in the warehouse database, inside the PostgreSQL container, as its owner."""
        out = self.compose("exec", "-T", "postgres", "psql", "-v", "ON_ERROR_STOP=1", "-U", "district",
                           "-d", "district_warehouse", "-A", "-t", "-F", "\t", "-c", sql, timeout=120).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def services(self) -> list[dict]:
        out = self.compose("ps", "--all", "--format", "json", timeout=60).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def workers(self) -> list[dict]:
        return [s for s in self.services() if s["Service"] == "airflow-worker" and s["State"] == "running"]

    def warehouse_digest(self) -> dict[str, tuple[str, str]]:
        """Table → (rows, md5 of its rows in a fixed order): equal digests, equal warehouse contents."""
        tables = [t for (t,) in self.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        assert {"submission", "figure"} <= set(tables), tables
        union = " UNION ALL ".join(
            f"SELECT '{t}', count(*), md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) "
            f"FROM public.\"{t}\" r" for t in tables)
        return {name: (rows, digest) for name, rows, digest in self.psql(union)}

    def figures(self, year: int) -> dict[str, float]:
        return {code: float(value) for code, value in
                self.psql(f"SELECT code, value FROM figure WHERE year = {int(year)}")}

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return self.api("GET", path).json()["task_instances"]

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "80", timeout=120, check=False).stdout


@pytest.fixture(scope="module")
def stack(docker_env, tmp_path_factory):
    """README's deployment commands in a bureau's folder, on the 2020 sample inbox; ``down -v`` afterwards."""
    stack = ComposeStack(tmp_path_factory.mktemp("bureau"), docker_env)
    # README's command for a sample year, into the inbox the compose file mounts read-only.
    _run([sys.executable, "-m", "pipeline", "sample", "--year", "2020", "--inbox", str(stack.inbox)],
         docker_env, timeout=300)
    started = time.monotonic()
    stack.compose("build", timeout=2400)
    print(f"[compose] project image built in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    try:
        stack.compose("up", "-d", "--wait", timeout=1200)
        print(f"[compose] stack healthy in {time.monotonic() - started:.0f} s", flush=True)
        yield stack
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.compose("down", "-v", "--remove-orphans", timeout=300, check=False)
        # Each service that builds leaves an untagged copy of the image behind; the layers stay cached.
        stack.docker("image", "prune", "-f")


@pytest.fixture(autouse=True)
def _logs_on_failure(request):
    """Service logs when a test fails (the containers are gone after ``down -v``)."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed and "stack" in request.fixturenames:
        print(request.getfixturevalue("stack").logs())


def test_stack_is_healthy_and_init_created_the_warehouse(stack):
    # README: `docker compose ps` lists every long-running service as healthy.
    listed = stack.compose("ps").stdout.splitlines()[1:]
    assert len(listed) == 7 and all("(healthy)" in line for line in listed), listed
    services = {s["Service"]: s for s in stack.services()}
    assert services["airflow-init"]["State"] == "exited" and services["airflow-init"]["ExitCode"] == 0
    long_running = set(services) - {"airflow-init"}
    assert long_running == {"postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                            "airflow-triggerer", "airflow-worker"}
    assert all(services[s]["Health"] == "healthy" for s in long_running), {s: services[s]["Health"] for s in services}
    # deploy/postgres-init/ created the warehouse database, owned by its own login.
    assert stack.psql("SELECT current_user, pg_catalog.pg_get_userbyid(datdba) FROM pg_database "
                      "WHERE datname = current_database()") == [["district", "district"]]
    # The workers see the bureau's inbox, read-only, and run the project's image as AIRFLOW_UID.
    listing = stack.compose("exec", "-T", "airflow-worker", "bash", "-c",
                            "id -u; ls /data/inbox; touch /data/inbox/x 2>/dev/null && echo writable || true").stdout
    uid, *months = listing.split()
    assert uid == "50000" and months == MONTHS_2020
    # The compose file's own example of the debug profile.
    dags = stack.compose("run", "--rm", "airflow-cli", "airflow", "dags", "list", timeout=600).stdout
    assert MONTHLY in dags and ANNUAL in dags, dags


def test_backfill_2020_gives_the_reports_figures_in_the_warehouse(stack):
    stack.unpause(MONTHLY, ANNUAL)
    # Three months at a time: each load re-judges the months whose verification history (核实性审核) it
    # changed, so the reprocess below must change nothing (docs/decisions/0009-verification-rules.md).
    backfill = stack.create_backfill(MONTHLY, "2020-01-01T00:00:00+08:00", "2020-12-31T00:00:00+08:00",
                                     max_active_runs=3)
    started = time.monotonic()
    done = stack.wait_backfill(backfill["id"], timeout=2400)
    print(f"[compose] backfill of 2020 in {time.monotonic() - started:.0f} s", flush=True)
    runs = sorted(stack.dag_runs(MONTHLY, run_type=["backfill"]), key=lambda r: r["logical_date"])
    assert [r["state"] for r in runs] == ["success"] * 12, [(r["dag_run_id"], r["state"]) for r in runs]
    assert [stack.xcom(MONTHLY, r["dag_run_id"], "ingest_returns")["period"] for r in runs] == MONTHS_2020
    stack.wait_quiet(timeout=600)
    annual = stack.dag_runs(ANNUAL)
    assert annual and all(r["state"] == "success" for r in annual), [(r["dag_run_id"], r["state"]) for r in annual]
    assert any(r["run_type"] == "asset_triggered" for r in annual)

    # The figures, from the warehouse database inside the PostgreSQL container.
    figures = stack.figures(2020)
    assert set(figures) == set(report_figures_2020())
    assert_matches_report(figures, [c for c in report_figures_2020() if c not in NEEDS_2018_2019])
    periods = {p for (p,) in stack.psql("SELECT DISTINCT period FROM submission")}
    assert periods == set(MONTHS_2020)
    # The compose file's example: the pipeline's CLI in a container reads the same warehouse.
    table = stack.compose("run", "--rm", "airflow-cli", "python", "-m", "pipeline", "figures", "--year", "2020",
                          timeout=600).stdout
    assert {line.split()[0] for line in table.splitlines()[1:] if line.strip()} == set(figures), table
    # The workers wrote the year's outputs into the bureau's data folder on the host.
    assert (stack.data / "out" / "2020" / "figures.csv").is_file()
    stack.first_backfill_done = utc(done["completed_at"])


def test_second_backfill_on_two_workers_leaves_the_warehouse_unchanged(stack):
    before = stack.warehouse_digest()
    archived = sorted(p.name for p in (stack.data / "archive").rglob("*") if p.is_file())
    stack.compose("up", "-d", "--wait", "--wait-timeout", "600", "--scale", "airflow-worker=2", timeout=900)
    workers = stack.workers()
    assert len(workers) == 2
    hostnames = {w["ID"][:12] for w in workers}

    again = stack.create_backfill(MONTHLY, "2020-01-01T00:00:00+08:00", "2020-12-31T00:00:00+08:00",
                                  max_active_runs=3, reprocess="completed")
    started = time.monotonic()
    stack.wait_backfill(again["id"], timeout=2400)
    print(f"[compose] reprocessing backfill in {time.monotonic() - started:.0f} s", flush=True)
    runs = sorted(stack.dag_runs(MONTHLY, run_type=["backfill"]), key=lambda r: r["logical_date"])
    assert [r["state"] for r in runs] == ["success"] * 12
    assert all(utc(r["start_date"]) > stack.first_backfill_done for r in runs), "a month was not re-processed"
    ran_on = {ti["hostname"] for r in runs for ti in stack.task_instances(MONTHLY, r["dag_run_id"])}
    assert hostnames <= ran_on, (hostnames, ran_on)
    stack.wait_quiet(timeout=600)
    assert all(r["state"] == "success" for r in stack.dag_runs(ANNUAL))
    assert stack.warehouse_digest() == before
    assert sorted(p.name for p in (stack.data / "archive").rglob("*") if p.is_file()) == archived


def test_worker_killed_mid_month_loses_nothing(stack):
    before = stack.warehouse_digest()
    figures = stack.figures(2020)
    assert len(stack.workers()) == 2
    run = stack.trigger(MONTHLY, {"period": "2020-06"})

    def running_task() -> dict | None:
        return next((ti for ti in stack.task_instances(MONTHLY, run["dag_run_id"])
                     if ti["state"] == "running" and ti["hostname"]), None)

    victim = wait_for("a task of 2020-06 running on a worker", running_task, timeout=600, interval=0.5)
    container = next(w for w in stack.workers() if w["ID"].startswith(victim["hostname"]))
    # As a machine that dies: no restart, SIGKILL, nothing cleaned up.
    stack.docker("update", "--restart=no", container["ID"])
    stack.docker("kill", container["ID"])
    print(f"[compose] killed worker {victim['hostname']} running {victim['task_id']} (try {victim['try_number']})",
          flush=True)

    done = stack.wait_run(MONTHLY, run["dag_run_id"], timeout=1200)
    assert done["state"] == "success"
    retried = next(ti for ti in stack.task_instances(MONTHLY, run["dag_run_id"]) if ti["task_id"] == victim["task_id"])
    assert retried["try_number"] > victim["try_number"]
    assert retried["hostname"] != victim["hostname"], "the retry ran on the killed worker"
    assert stack.xcom(MONTHLY, run["dag_run_id"], "ingest_returns")["period"] == "2020-06"
    stack.wait_quiet(timeout=600)
    assert stack.warehouse_digest() == before
    assert stack.figures(2020) == figures
