"""Real Airflow services for the service tests: api-server, scheduler, dag-processor, triggerer (and a
Celery worker), started as subprocesses on free loopback ports with a PostgreSQL metadata database
that is created here and dropped on stop.

Every service runs in its own process group; ``stop()`` kills the groups and every descendant (task
processes put themselves in groups of their own), whatever happened before. Logs go to files under
the stack's root and ``diagnostics()`` prints their tails when the block it guards fails.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import sqlalchemy as sa

from pipeline.orchestration.airflow_glue import AIRFLOW_SETTINGS

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("DISTRICT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PYCACHE = Path(tempfile.gettempdir()) / "district-airflow-pycache"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# A Redis database of its own, flushed before and after: the Celery test never sees another's messages.
REDIS_DB = int(os.environ.get("DISTRICT_TEST_REDIS_DB", "13"))
ADMIN_USER = "admin"
MONTHLY = "district_returns_monthly"
ANNUAL = "district_annual_statistics"
TERMINAL = {"success", "failed"}
# What the preloading workers import (pipeline.orchestration.executors.PRELOAD), compiled while the
# metadata DB migrates.
WARM_UP = "import airflow.sdk, pipeline.orchestration.executors; pipeline.orchestration.executors.preload()"
#: The deployment's executors: their workers import the pipeline's heavy modules once for all their tasks.
PRELOADING_EXECUTOR = {"LocalExecutor": "pipeline.orchestration.executors.PreloadingLocalExecutor",
                       "CeleryExecutor": "CeleryExecutor"}
CELERY_CONFIG = "pipeline.orchestration.celery_config.CELERY_CONFIG"


class ServiceError(RuntimeError):
    """A service died, or did not become healthy in time."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (never 8080: the OS hands out ephemeral ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _admin_engine() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def create_database(prefix: str) -> str:
    """Create a fresh PostgreSQL database; returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return name


def drop_database(name: str) -> None:
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def pg_url(database: str, driver: str = "psycopg") -> str:
    """URL of ``database`` on the test server, with the given SQLAlchemy driver."""
    base = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    return f"postgresql+{driver}://{base}/{database}"


def pg_available() -> bool:
    try:
        engine = _admin_engine()
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means: no server to test against
        return False


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=3).ping())
    except Exception:  # noqa: BLE001 - any failure means: no broker to test against
        return False


def _flush_redis() -> None:
    import redis

    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB).flushdb()


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the test process dies without its teardown (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 2.0,
             alive: Callable[[], None] | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; ServiceError after ``timeout`` seconds."""
    started = time.monotonic()
    last: Any = None
    while time.monotonic() < started + timeout:
        if alive:
            alive()
        last = check()
        if last:
            print(f"waited {time.monotonic() - started:.0f} s for {what}", flush=True)
            return last
        time.sleep(interval)
    raise ServiceError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


@dataclass
class AirflowStack:
    """One Airflow deployment on loopback: PostgreSQL metadata DB, the services, an admin login."""

    root: Path
    executor: str  # "LocalExecutor" or "CeleryExecutor"
    inbox: Path
    data: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    parallelism: int = 4
    preload: bool = True  # False: Airflow's stock executor, every task imports the pipeline itself
    port: int = 0
    log_ports: tuple[int, int] = (0, 0)
    password: str = ""
    meta_db: str = ""
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    used: bool = False
    _client: httpx.Client | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        return self.root / "airflow"

    def env(self) -> dict[str, str]:
        """The environment every service runs with (the test's own Airflow and district settings dropped)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DISTRICT_"))}
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": PRELOADING_EXECUTOR[self.executor] if self.preload else self.executor,
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_url(self.meta_db, "psycopg2"),
            # Workers reach the api-server here; the default (localhost:8080) would refuse every task.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__SECRET_KEY": self._secret("api"),
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt"),
            "AIRFLOW__CORE__AUTH_MANAGER":
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.root / "passwords.json"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_ports[0]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.log_ports[1]),
            "GX_ANALYTICS_ENABLED": "False",
            **AIRFLOW_SETTINGS,
            "DISTRICT_INBOX": str(self.inbox),
            "DISTRICT_DATA": str(self.data),
            "PYTHONUNBUFFERED": "1",
            # Compiled bytecode outside the venv: without it every task process recompiles
            # Great Expectations and SciPy from source (~15 s of CPU each) when PYTHONDONTWRITEBYTECODE is set.
            "PYTHONPYCACHEPREFIX": str(PYCACHE),
        })
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if self.executor == "CeleryExecutor":
            env.update({
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + pg_url(self.meta_db, "psycopg2"),
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.parallelism),
            })
            if self.preload:
                env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] = CELERY_CONFIG
        env.update(self.extra_env)
        return env

    def _secret(self, what: str) -> str:
        path = self.root / f".{what}-secret"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> AirflowStack:
        """Create the metadata DB, migrate it, start every service and wait until all are healthy."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        self.port = free_port()
        self.log_ports = (free_port(), free_port())
        self.password = secrets.token_urlsafe(12)
        (self.root / "passwords.json").write_text(json.dumps({ADMIN_USER: self.password}))
        self.meta_db = create_database("airflow_meta")
        if self.executor == "CeleryExecutor":
            _flush_redis()
        started = time.monotonic()
        # Fill the bytecode cache with what the tasks import while the metadata DB migrates.
        with (self.root / "warm-up.log").open("wb") as log:
            warm = subprocess.Popen([sys.executable, "-c", WARM_UP], env=self.env(), cwd=REPO,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        with (self.root / "db-migrate.log").open("wb") as log:
            done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=self.env(),
                                  stdout=log, stderr=subprocess.STDOUT, cwd=self.root, timeout=300)
        try:
            warm.wait(timeout=300)
        except subprocess.TimeoutExpired:
            warm.kill()
        if done.returncode:
            raise ServiceError(f"airflow db migrate failed:\n{self._tail(self.root / 'db-migrate.log')}")
        services = {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer", "--skip-serve-logs"],
        }
        if self.executor == "CeleryExecutor":
            services["celery-worker"] = [
                "celery", "worker", "--concurrency", str(self.parallelism), "--skip-serve-logs",
                "--celery-hostname", f"district-test-{uuid.uuid4().hex[:6]}@%h", "--without-gossip",
                "--without-mingle"]
        for name, args in services.items():
            log = (self.root / f"{name}.log").open("wb")
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args], env=self.env(), cwd=self.root,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=_die_with_parent)
            log.close()
        wait_for("healthy services", self._healthy, timeout=240, alive=self.check_alive)
        wait_for("both DAGs parsed", lambda: all(
            self.api("GET", f"/api/v2/dags/{d}", ok=(200, 404)).status_code == 200 for d in (MONTHLY, ANNUAL)),
            timeout=240, alive=self.check_alive)
        print(f"[{self.executor}] services up on {self.base_url} in {time.monotonic() - started:.0f} s", flush=True)
        return self

    def _descendants(self) -> set[psutil.Process]:
        found: set[psutil.Process] = set()
        for proc in self.procs.values():
            with contextlib.suppress(psutil.Error):
                parent = psutil.Process(proc.pid)
                found |= {parent, *parent.children(recursive=True)}
        return found

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise ServiceError(f"{name} exited with {proc.returncode}:\n{self._tail(self.root / f'{name}.log')}")

    def _healthy(self) -> bool:
        try:
            health = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=10).json()
        except (httpx.HTTPError, ValueError):
            return False
        parts = ["metadatabase", "scheduler", "triggerer", "dag_processor"]
        return all((health.get(p) or {}).get("status") == "healthy" for p in parts)

    def stop(self) -> None:
        """Kill every service, its process group and all descendants; drop the metadata DB."""
        started = time.monotonic()
        if self._client:
            self._client.close()
            self._client = None
        victims: set[psutil.Process] = set()
        for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            victims |= self._descendants()  # again before SIGKILL: orphans of the first round stay listed
            for proc in self.procs.values():
                if proc.poll() is None:  # not reaped yet, so the group id is still ours
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, sig)
            for victim in victims:
                with contextlib.suppress(psutil.Error, OSError):
                    # Task processes lead process groups of their own; is_running() checks it is still ours.
                    if victim.is_running() and os.getpgid(victim.pid) == victim.pid:
                        os.killpg(victim.pid, sig)
                    victim.send_signal(sig)
            _, alive = psutil.wait_procs(list(victims), timeout=grace)
            if not alive:
                break
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.procs.clear()
        if self.executor == "CeleryExecutor":
            with contextlib.suppress(Exception):
                _flush_redis()
        if self.meta_db:
            drop_database(self.meta_db)
            self.meta_db = ""
        print(f"[{self.executor}] services stopped in {time.monotonic() - started:.0f} s", flush=True)

    # -- REST API --------------------------------------------------------------------------------

    def token(self) -> str:
        response = httpx.post(f"{self.base_url}/auth/token", timeout=30,
                              json={"username": ADMIN_USER, "password": self.password})
        response.raise_for_status()
        return response.json()["access_token"]

    def api(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204), **kwargs) -> httpx.Response:
        """Call the REST API as the admin (JWT from ``/auth/token``); raise unless the status is in ``ok``."""
        if self._client is None:
            self._client = httpx.Client(base_url=self.base_url, timeout=60,
                                        headers={"Authorization": f"Bearer {self.token()}"})
        response = self._client.request(method, path, **kwargs)
        if response.status_code not in ok:
            raise ServiceError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response

    def unpause(self, *dag_ids: str) -> None:
        for dag_id in dag_ids:
            self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def set_connection(self, conn_id: str, database: str) -> None:
        """Point the Airflow connection ``conn_id`` (kept in the metadata DB) at a test database."""
        base = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
        login, _, hostport = base.rpartition("@")
        host, _, port = hostport.partition(":")
        body = {"connection_id": conn_id, "conn_type": "postgres", "host": host, "port": int(port or 5432),
                "login": login or None, "schema": database}
        if self.api("GET", f"/api/v2/connections/{conn_id}", ok=(200, 404)).status_code == 200:
            self.api("PATCH", f"/api/v2/connections/{conn_id}", json=body)
        else:
            self.api("POST", "/api/v2/connections", json=body)

    def create_backfill(self, dag_id: str, from_date: str, to_date: str, *, max_active_runs: int = 3,
                        reprocess: str = "none") -> dict:
        return self.api("POST", "/api/v2/backfills", json={
            "dag_id": dag_id, "from_date": from_date, "to_date": to_date, "max_active_runs": max_active_runs,
            "reprocess_behavior": reprocess}).json()

    def wait_backfill(self, backfill_id: int, timeout: float) -> dict:
        return wait_for(f"backfill {backfill_id}", lambda: (
            b if (b := self.api("GET", f"/api/v2/backfills/{backfill_id}").json())["completed_at"] else None),
            timeout=timeout, interval=3, alive=self.check_alive)

    def dag_runs(self, dag_id: str, **params) -> list[dict]:
        params.setdefault("limit", 100)
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", params=params).json()["dag_runs"]

    def trigger(self, dag_id: str, conf: dict) -> dict:
        return self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}).json()

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict:
        return wait_for(f"{dag_id} {run_id}", lambda: (
            r if (r := self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json())["state"] in TERMINAL
            else None), timeout=timeout, interval=3, alive=self.check_alive)

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.api("GET", path, params={"deserialize": True, "stringify": False}).json()["value"]

    def wait_quiet(self, timeout: float) -> None:
        """Wait until no run of either DAG is queued or running and no asset event awaits the annual DAG.

        Asset-triggered annual runs are created by the scheduler after the monthly runs finish: the
        state must hold for two polls in a row before the warehouse counts as settled.
        """
        def quiet() -> bool:
            busy = [r for d in (MONTHLY, ANNUAL) for r in self.dag_runs(d, state=["queued", "running"])]
            queued = self.api("GET", f"/api/v2/dags/{ANNUAL}/assets/queuedEvents", ok=(200, 404))
            return not busy and (queued.status_code == 404 or not queued.json()["queued_events"])

        calm = 0

        def settled() -> bool:
            nonlocal calm
            calm = calm + 1 if quiet() else 0
            return calm >= 2

        wait_for("the DAGs to go quiet", settled, timeout=timeout, interval=5, alive=self.check_alive)

    # -- diagnostics -----------------------------------------------------------------------------

    @staticmethod
    def _tail(path: Path, lines: int = 60) -> str:
        try:
            # Cut long lines: a failed task logs its traceback as one JSON line of many kilobytes.
            return "\n".join(line[:600] for line in path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"<{exc}>"

    def report(self) -> str:
        """Tails of every service log and of the task logs that recorded an error."""
        out = []
        for log in sorted(self.root.glob("*.log")):
            out.append(f"===== {log.name} =====\n{self._tail(log)}")
        task_logs = sorted(self.home.glob("logs/dag_id=*/**/*.log"), key=lambda p: p.stat().st_mtime)
        failed = [p for p in task_logs if '"level":"error"' in p.read_text(errors="replace")
                  or "Traceback" in p.read_text(errors="replace")]
        for log in failed[-6:]:
            out.append(f"===== task log {log.relative_to(self.home)} =====\n{self._tail(log, 40)}")
        return "\n".join(out)

    @contextlib.contextmanager
    def diagnostics(self, on_failure: Callable[[], None] | None = None) -> Iterator[None]:
        """Print the logs (and run ``on_failure``, e.g. a screenshot) when the guarded block fails."""
        try:
            yield
        except BaseException:
            if on_failure:
                with contextlib.suppress(Exception):
                    on_failure()
            print(self.report(), flush=True)
            raise


class StackPool:
    """At most one running stack at a time (the machine has two cores), reused per executor."""

    def __init__(self, root: Path, inbox: Path):
        self.root, self.inbox = root, inbox
        self.current: AirflowStack | None = None

    def get(self, executor: str, extra_env: dict[str, str] | None = None, *, pristine: bool = False) -> AirflowStack:
        """A running stack for ``executor``; ``pristine``: one no earlier test has run DAGs on."""
        current = self.current
        if current and current.executor == executor and not extra_env and not (pristine and current.used):
            current.used = True
            return current
        self.close()
        name = f"{executor.lower()}-{uuid.uuid4().hex[:4]}"
        inbox = self.root / name / "inbox"
        # A private copy of the sample inbox, mtimes kept: they are the receipt times.
        shutil.copytree(self.inbox, inbox, copy_function=shutil.copy2)
        stack = AirflowStack(root=self.root / name, executor=executor, inbox=inbox,
                             data=self.root / name / "data", extra_env=extra_env or {})
        self.current = stack
        try:
            stack.start()
        except BaseException:
            print(stack.report(), flush=True)
            self.close()
            raise
        stack.used = True
        return stack

    def close(self) -> None:
        if self.current:
            stack, self.current = self.current, None
            stack.stop()


def utc(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
