"""The bureau's docker-compose deployment, checked as files (Docker does not run here), and `make airflow`."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import yaml
from helpers import PG_ADMIN_URL, REPO

COMPOSE_TEXT = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
POSTGRES_INIT = REPO / "deploy" / "postgres-init" / "10-district-warehouse.sh"
AIRFLOW_INIT = REPO / "deploy" / "airflow-init.sh"

OFFICIAL_SERVICES = {
    "postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
    "airflow-worker", "airflow-triggerer", "airflow-init",
}
AIRFLOW_SERVICES = sorted(s for s in OFFICIAL_SERVICES if s.startswith("airflow-"))
COMPONENTS = [s for s in AIRFLOW_SERVICES if s != "airflow-init"]  # long-running Airflow services
TASK_SERVICES = ["airflow-worker", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]

# ${VAR}, ${VAR:-default}, ${VAR:?error}; "$${…}" is compose's escape for a literal "$".
_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
_SECRET_KEY = re.compile(r"PASSWORD|SECRET|FERNET|JWT|TOKEN")


def _env_example() -> dict[str, str]:
    values = {}
    for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


ENV_EXAMPLE = _env_example()


def resolve(value: str) -> str:
    """Interpolate as docker compose does with .env.example, a still-empty secret VAR becoming ``var_VAR``."""

    def one(match: re.Match) -> str:
        name, op, arg = match.groups()
        if ENV_EXAMPLE.get(name):
            return ENV_EXAMPLE[name]
        return arg if op in (":-", "-") else f"var_{name}"

    return _VAR.sub(one, str(value)).replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_TEXT)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_of(services: dict, name: str) -> dict[str, str]:
    """A service's environment, compose variables resolved."""
    return {k: resolve(v) for k, v in (services[name].get("environment") or {}).items()}


def volumes_of(services: dict, name: str) -> dict[str, tuple[str, str]]:
    """Container path → (resolved host source or volume name, mode)."""
    mounts = {}
    for spec in services[name].get("volumes", []):
        parts = resolve(spec).split(":")
        mounts[parts[1]] = (parts[0], parts[2] if len(parts) > 2 else "rw")
    return mounts


def _url(value: str) -> sa.engine.URL:
    return sa.engine.make_url(value)


def _lock_pin(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)", (REPO / "requirements.lock").read_text(), re.M)
    assert match, package
    return match.group(1)


def _dockerfile_env() -> dict[str, str]:
    env = {}
    for block in re.findall(r"^ENV\s+((?:.*\\\n)*.*)$", DOCKERFILE, re.M):
        for key, value in re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", block):
            env[key] = value
    return env


def _dockerfile_copies() -> dict[str, str]:
    """Build-context source → destination of every COPY."""
    return {src: dst for src, dst in re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s+(\S+)\s*$", DOCKERFILE, re.M)}


def _dockerfile_runs() -> list[str]:
    return [" ".join(r.replace("\\\n", " ").split()) for r in re.findall(r"^RUN\s+((?:.*\\\n)*.*)$", DOCKERFILE, re.M)]


# --- the compose file ---------------------------------------------------------------------------


@pytest.mark.unit
def test_compose_has_every_service_of_the_official_layout(services):
    assert set(services) >= OFFICIAL_SERVICES, OFFICIAL_SERVICES - set(services)


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(OFFICIAL_SERVICES - {"airflow-init"}))
def test_long_running_services_have_healthchecks(services, name):
    check = services[name].get("healthcheck") or {}
    assert check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), name
    assert services[name].get("restart") == "always", name


@pytest.mark.unit
def test_healthchecks_probe_the_right_endpoints(services):
    api = " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    container_port = resolve(services["airflow-apiserver"]["ports"][0]).rsplit(":", 1)[1]
    assert f"http://localhost:{container_port}/api/v2/monitor/health" in api
    assert "http://localhost:8974/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert env_of(services, "airflow-scheduler")["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"].lower() == "true"
    assert "DagProcessorJob" in " ".join(services["airflow-dag-processor"]["healthcheck"]["test"])
    assert "TriggererJob" in " ".join(services["airflow-triggerer"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["airflow-worker"]["healthcheck"]["test"])


@pytest.mark.unit
@pytest.mark.parametrize("name", ["airflow-dag-processor", "airflow-triggerer", "airflow-worker"])
def test_cli_healthchecks_allow_an_airflow_import(services, name):
    """A check that starts the airflow or celery CLI imports Airflow first: 30 s on a busy 2-core machine
    (make test-compose). The official file's 10 s left these services unhealthy there."""
    check = services[name]["healthcheck"]
    assert re.search(r"\b(airflow|celery)\b", " ".join(check["test"][1:]))
    assert int(check["timeout"].removesuffix("s")) >= 60


@pytest.mark.unit
@pytest.mark.parametrize("name", COMPONENTS)
def test_components_wait_for_healthy_services_and_a_finished_init(services, name):
    deps = services[name]["depends_on"]
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["redis"]["condition"] == "service_healthy"
    assert deps["airflow-init"]["condition"] == "service_completed_successfully"
    if name == "airflow-worker":  # tasks call the Execution API from their first second
        assert deps["airflow-apiserver"]["condition"] == "service_healthy"


@pytest.mark.unit
def test_init_migrates_after_the_database_is_healthy(services):
    init = services["airflow-init"]
    assert init["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert env_of(services, "airflow-init")["_AIRFLOW_DB_MIGRATE"] == "true"
    assert init["user"] == "0:0"  # it chowns the mounted folders


@pytest.mark.unit
@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_services_run_the_projects_image(services, name):
    service = services[name]
    assert (REPO / service["build"]["context"] / "Dockerfile").is_file()
    # The official image unless a test substitutes its stand-in (deploy/test-images/airflow).
    base = resolve(service["build"]["args"]["AIRFLOW_BASE_IMAGE"])
    assert base == re.search(r"^ARG AIRFLOW_BASE_IMAGE=(\S+)$", DOCKERFILE, re.M).group(1)
    assert resolve(service["image"]) == resolve(services["airflow-apiserver"]["image"])
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in (service.get("environment") or {})


@pytest.mark.unit
@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_celery_executor_on_the_composes_redis_and_postgres(services, name):
    env = env_of(services, name)
    pg = env_of(services, "postgres")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # Celery workers preload the pipeline: the option names a dict Airflow can import in the image.
    module, _, name = env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"].rpartition(".")
    assert (REPO / (module.replace(".", "/") + ".py")).is_file() and module.split(".")[0] == "pipeline"
    assert isinstance(getattr(importlib.import_module(module), name), dict)

    broker = _url(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.drivername == "redis" and broker.host == "redis" and broker.port == 6379
    assert "6379" in [str(p) for p in services["redis"]["expose"]]
    assert broker.password == env_of(services, "redis")["REDIS_PASSWORD"]

    for key, driver in (("AIRFLOW__CELERY__RESULT_BACKEND", "db+postgresql+psycopg2"),
                        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2")):
        url = _url(env[key])
        assert url.drivername == driver, key
        assert (url.host, url.database, url.username) == ("postgres", pg["POSTGRES_DB"], pg["POSTGRES_USER"]), key
        assert url.password == pg["POSTGRES_PASSWORD"], key


@pytest.mark.unit
@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_compose_runs_airflow_with_the_projects_settings(services, name):
    from pipeline.orchestration.airflow_glue import AIRFLOW_SETTINGS

    env = env_of(services, name)
    assert {key: env.get(key) for key in AIRFLOW_SETTINGS} == AIRFLOW_SETTINGS


@pytest.mark.unit
def test_make_airflow_runs_with_the_projects_settings(tmp_path):
    from pipeline.orchestration.airflow_glue import AIRFLOW_SETTINGS
    from pipeline.orchestration.standalone import standalone_environment

    env = standalone_environment({"PATH": "/usr/bin", "AIRFLOW_HOME": str(tmp_path)})
    assert {key: env.get(key) for key in AIRFLOW_SETTINGS} == AIRFLOW_SETTINGS


@pytest.mark.unit
def test_execution_api_url_is_the_api_servers_container_address(services):
    url = urlsplit(env_of(services, "airflow-worker")["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    container_port = resolve(services["airflow-apiserver"]["ports"][0]).rsplit(":", 1)[1]
    assert (url.hostname, str(url.port), url.path) == ("airflow-apiserver", container_port, "/execution/")


@pytest.mark.unit
def test_warehouse_connection_is_the_database_the_init_script_creates(services, monkeypatch):
    from airflow.sdk import Connection

    from pipeline.config import _warehouse_from_airflow_conn, normalise_url, settings

    pg = env_of(services, "postgres")
    raw = env_of(services, "airflow-worker")["AIRFLOW_CONN_DISTRICT_WAREHOUSE"]
    via_env = _url(_warehouse_from_airflow_conn(raw))
    via_airflow = _url(normalise_url(Connection.from_uri(raw, conn_id="district_warehouse").get_uri()))
    monkeypatch.delenv("DISTRICT_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_DISTRICT_WAREHOUSE", raw)
    via_settings = _url(settings().warehouse_url)
    for url in (via_env, via_airflow, via_settings):
        assert url.drivername == "postgresql+psycopg"
        assert url.host == "postgres" and url.port == 5432
        assert url.database == pg["DISTRICT_WAREHOUSE_DB"] != pg["POSTGRES_DB"]
        assert url.username == pg["DISTRICT_WAREHOUSE_USER"]
        assert url.password == pg["DISTRICT_WAREHOUSE_PASSWORD"]
    # The script that creates it is what the postgres image runs on an empty volume, fed every variable it needs.
    init_dir = {target: source for target, (source, _) in volumes_of(services, "postgres").items()}
    assert (REPO / init_dir["/docker-entrypoint-initdb.d"]).resolve() == POSTGRES_INIT.parent
    required = set(re.findall(r'"\$\{([A-Z_]+):\?\}"', POSTGRES_INIT.read_text()))
    assert required and required <= set(pg), required - set(pg)


@pytest.mark.unit
@pytest.mark.parametrize("name", TASK_SERVICES)
def test_inbox_and_data_folders_are_the_mounted_volumes(services, name, monkeypatch):
    from pipeline.config import settings

    env = env_of(services, name)
    mounts = volumes_of(services, name)
    monkeypatch.setenv("DISTRICT_INBOX", env["DISTRICT_INBOX"])
    monkeypatch.setenv("DISTRICT_DATA", env["DISTRICT_DATA"])
    current = settings()
    assert str(current.inbox) in mounts
    assert mounts[str(current.inbox)][0] == ENV_EXAMPLE["DISTRICT_INBOX_DIR"]
    data_source, data_mode = mounts[str(current.data)]
    assert data_source == ENV_EXAMPLE["DISTRICT_DATA_DIR"] and data_mode == "rw"
    for folder in (current.archive, current.feedback, current.out, current.data_docs):
        assert folder.is_relative_to(current.data), folder
    # airflow-init prepares (and chowns) the same host folder at the same place.
    assert volumes_of(services, "airflow-init")[str(current.data)] == (data_source, "rw")
    # The image's defaults agree, for `docker compose run` without the compose environment.
    assert _dockerfile_env()["DISTRICT_DATA"] == env["DISTRICT_DATA"]
    assert _dockerfile_env()["DISTRICT_INBOX"] == env["DISTRICT_INBOX"]


@pytest.mark.unit
def test_dags_folder_is_the_projects_dags_in_the_image(services):
    from pipeline.config import EXPECTATIONS_DIR, PROJECT_ROOT

    dags = env_of(services, "airflow-dag-processor")["AIRFLOW__CORE__DAGS_FOLDER"]
    assert _dockerfile_env()["AIRFLOW__CORE__DAGS_FOLDER"] == dags
    copies = _dockerfile_copies()
    root = Path(copies["dags"]).parent
    assert Path(copies["dags"]) == Path(dags)
    # pipeline/expectations links to ../expectations: the image keeps the repository's layout, so it resolves.
    assert Path(copies["pipeline"]) == root / "pipeline"
    assert os.readlink(PROJECT_ROOT / "pipeline" / "expectations") == "../expectations"
    assert Path(copies["expectations"]) == root / EXPECTATIONS_DIR.resolve().relative_to(PROJECT_ROOT)
    assert Path(copies["pyproject.toml"]) == root / "pyproject.toml"
    assert any(f"-e {root}" in run and "--no-deps" in run for run in _dockerfile_runs())
    for name in AIRFLOW_SERVICES:
        assert env_of(services, name)["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"


@pytest.mark.unit
def test_every_variable_the_compose_file_uses_is_in_env_example():
    used = {m.group(1) for m in _VAR.finditer(COMPOSE_TEXT)}
    assert used, "no ${VAR} found: the pattern is broken"
    assert used <= set(ENV_EXAMPLE), sorted(used - set(ENV_EXAMPLE))
    assert set(ENV_EXAMPLE) <= used, f"stale in .env.example: {sorted(set(ENV_EXAMPLE) - used)}"
    assert not re.search(r"(?<!\$)\$[A-Za-z_]", COMPOSE_TEXT), "use ${VAR}; a bare $VAR is easy to miss"


@pytest.mark.unit
def test_no_secret_is_committed(compose):
    required = r"\$\{[A-Z_][A-Z0-9_]*:\?[^}]*\}"
    blocks = [compose["x-airflow-common"]["environment"]]
    blocks += [s.get("environment") or {} for s in compose["services"].values()]
    checked = 0
    for env in blocks:
        for key, value in env.items():
            if _SECRET_KEY.search(key) and not key.endswith(("_FILE", "_USERNAME")):
                assert re.fullmatch(required, str(value)), f"{key}: a secret must be ${{VAR:?…}} from .env"
                checked += 1
            for password in re.findall(r"://[^:/@\s]*:((?:\$\{[^}]*\}|[^@\s$])*)@", str(value)):
                assert re.fullmatch(required, password), f"{key}: password in a URL must come from .env"
                checked += 1
    assert checked >= 8
    secrets = {m.group(1) for m in _VAR.finditer(COMPOSE_TEXT) if m.group(2) == ":?"}
    assert {"POSTGRES_PASSWORD", "WAREHOUSE_DB_PASSWORD", "REDIS_PASSWORD", "AIRFLOW_FERNET_KEY"} <= secrets
    assert all(ENV_EXAMPLE[name] == "" for name in secrets), "secrets in .env.example must stay empty"
    assert ".env" in (REPO / ".gitignore").read_text().split()
    assert ".env" in (REPO / ".dockerignore").read_text().split()


# --- the image -------------------------------------------------------------------------------------


@pytest.mark.unit
def test_dockerfile_starts_from_the_locked_airflow_and_python():
    base = re.search(r"^ARG AIRFLOW_BASE_IMAGE=apache/airflow:(\S+)-python(\d+\.\d+)\s*$", DOCKERFILE, re.M)
    assert base, "ARG AIRFLOW_BASE_IMAGE=apache/airflow:<version>-python<X.Y>"
    assert re.search(r"^FROM \$\{AIRFLOW_BASE_IMAGE\}$", DOCKERFILE, re.M), "FROM the base image argument"
    assert base.group(1) == _lock_pin("apache-airflow")
    assert f"--python-version {base.group(2)}" in (REPO / "requirements.lock").read_text().split("\n", 3)[1]
    assert f">={base.group(2)}" in (REPO / "pyproject.toml").read_text()


#: Tools only development and the tests need; the image must not carry them.
DEV_ONLY = ("pytest", "pytest-timeout", "hypothesis", "ruff", "selenium", "xlwt", "msoffcrypto-tool", "setuptools")


@pytest.mark.unit
def test_image_installs_the_runtime_lock_only():
    copied_to = _dockerfile_copies()["requirements.lock"]
    installs = [r for r in _dockerfile_runs() if f"-r {copied_to}" in r]
    assert installs, "the Dockerfile must install requirements.lock"
    assert "--require-hashes" in installs[0] and "--no-deps" in installs[0]
    assert any(f"check_lock.py {copied_to}" in r for r in _dockerfile_runs())
    assert not any("requirements-dev" in src for src in _dockerfile_copies())
    assert not any("requirements-dev" in run for run in _dockerfile_runs())
    assert not set(DEV_ONLY) & set(_check_lock().pins((REPO / "requirements.lock").read_text()))
    assert ".venv" in (REPO / ".dockerignore").read_text().split()


@pytest.mark.unit
def test_make_installs_the_dev_lock_which_keeps_every_runtime_pin():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"uv pip sync .*?(\S+\.lock)\s*$", makefile, re.M).group(1) == "requirements-dev.lock"
    check = _check_lock()
    runtime = check.pins((REPO / "requirements.lock").read_text())
    dev = check.pins((REPO / "requirements-dev.lock").read_text())
    assert {name: dev.get(name) for name in runtime} == runtime
    assert {"pytest", "ruff", "hypothesis", "selenium"} <= set(dev) - set(runtime)
    assert "-r requirements.in" in (REPO / "requirements-dev.in").read_text().splitlines()
    for lock in ("requirements.lock", "requirements-dev.lock"):
        assert f"uv pip compile {lock.replace('.lock', '.in')} " in makefile


@pytest.mark.integration
def test_a_plain_install_carries_the_suites_and_the_data(tmp_path):
    from pipeline.forms import FORMS

    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", str(REPO), "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--quiet", "--target", str(target)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    package = target / "pipeline"
    assert not (package / "expectations").is_symlink()
    assert sorted(p.stem for p in (package / "expectations").glob("*.json")) == sorted(FORMS)
    assert {p.name for p in (package / "data").iterdir()} >= {"units.csv", "figures-2020.csv", "report-text.toml"}
    assert (package / "intake" / "parse.py").is_file() and (package / "validation" / "gx_tuning.py").is_file()
    assert (package / "figures" / "catalogue.csv").is_file()
    code = (
        "import pipeline, pipeline.config as c, pipeline.registry as r; from pipeline.forms import FORMS; "
        "from pipeline.validation.suites import suite_path; "
        "print(pipeline.__file__); print(all(suite_path(f).is_file() for f in FORMS.values())); print(len(r.units()))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("DISTRICT_UNITS_CSV", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                         check=True, timeout=120).stdout.split()
    assert out[0].startswith(str(target)) and out[1] == "True" and int(out[2]) > 0


def _check_lock():
    spec = importlib.util.spec_from_file_location("check_lock", REPO / "deploy" / "check_lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.unit
def test_check_lock_names_missing_and_different_versions():
    check = _check_lock()
    lock = (
        "# via nothing\n"
        f"PyTest=={pytest.__version__} \\\n    --hash=sha256:{'a' * 64}\n    # via -r requirements.in\n"
        "no-such-package-district==1.0 \\\n    --hash=sha256:" + "b" * 64 + "\n"
        f"pyyaml=={yaml.__version__}.post9\n"
    )
    assert check.pins(lock) == {"pytest": pytest.__version__, "no-such-package-district": "1.0",
                                "pyyaml": f"{yaml.__version__}.post9"}
    assert check.mismatches(lock) == [
        "no-such-package-district: locked 1.0, not installed",
        f"pyyaml: locked {yaml.__version__}.post9, installed {yaml.__version__}",
    ]
    assert check.mismatches(f"pytest=={pytest.__version__}\n") == []


@pytest.mark.unit
def test_airflow_init_prepares_folders_and_the_admins_password(services, tmp_path):
    fake_entrypoint = tmp_path / "entrypoint"
    fake_entrypoint.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "called"}\n')
    fake_entrypoint.chmod(0o755)
    init_env = env_of(services, "airflow-init")
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "AIRFLOW_UID": str(os.getuid()), "AIRFLOW_GID": str(os.getgid()),
        "AIRFLOW_HOME": str(tmp_path / "home"), "DISTRICT_DATA": str(tmp_path / "data"),
        "DISTRICT_ADMIN_USERNAME": init_env["DISTRICT_ADMIN_USERNAME"], "DISTRICT_ADMIN_PASSWORD": "pa ss\"wörd",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "auth" / "passwords.json"),
        "AIRFLOW_ENTRYPOINT": str(fake_entrypoint),
    }
    subprocess.run(["bash", str(AIRFLOW_INIT)], env=env, check=True, capture_output=True, timeout=60)

    for sub in ("archive", "feedback", "out", "gx"):
        assert (tmp_path / "data" / sub).is_dir()
    assert (tmp_path / "home" / "logs").is_dir()
    passwords = tmp_path / "auth" / "passwords.json"
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    assert json.loads(passwords.read_text(encoding="utf-8")) == {"admin": "pa ss\"wörd"}
    assert (tmp_path / "called").read_text().split() == ["airflow", "version"]
    # The user SimpleAuthManager knows is the one whose password was written, and the UI sees the file.
    users = env_of(services, "airflow-apiserver")["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    assert users == f"{init_env['DISTRICT_ADMIN_USERNAME']}:admin"
    password_dir = str(Path(init_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).parent)
    assert volumes_of(services, "airflow-apiserver")[password_dir] == volumes_of(services, "airflow-init")[password_dir]
    assert password_dir not in volumes_of(services, "airflow-worker"), "tasks must not read the admin's password"
    assert services["airflow-init"]["command"] == [f"{_dockerfile_copies()['deploy']}/airflow-init.sh"]


@pytest.mark.integration
@pytest.mark.postgres
def test_postgres_init_script_creates_a_warehouse_its_owner_can_load(services):
    if not shutil.which("psql"):
        pytest.skip("psql is not installed")
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except sa.exc.OperationalError:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (CI must start it)")
        pytest.skip("PostgreSQL is not reachable")
    from pipeline.config import _warehouse_from_airflow_conn
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema, metadata

    suffix = uuid.uuid4().hex[:8]
    db, user = f"district_wh_{suffix}", f"district_{suffix}"
    pg_admin = _url(PG_ADMIN_URL)
    env = {**os.environ, "PGHOST": pg_admin.host, "PGPORT": str(pg_admin.port or 5432),
           "POSTGRES_USER": pg_admin.username, "POSTGRES_DB": pg_admin.database,
           "DISTRICT_WAREHOUSE_DB": db, "DISTRICT_WAREHOUSE_USER": user, "DISTRICT_WAREHOUSE_PASSWORD": "it's \"x\""}
    try:
        subprocess.run(["bash", str(POSTGRES_INIT)], env=env, check=True, capture_output=True, timeout=60)
        # The compose connection, pointed at this server and the names just created.
        conn = env_of(services, "airflow-worker")["AIRFLOW_CONN_DISTRICT_WAREHOUSE"]
        compose_url = _url(_warehouse_from_airflow_conn(conn))
        url = compose_url.set(host=pg_admin.host, port=pg_admin.port, database=db, username=user)
        engine = make_engine(url.render_as_string(hide_password=False))
        ensure_schema(engine)
        with engine.connect() as conn:
            assert conn.execute(sa.text("select current_user")).scalar() == user
            assert not conn.execute(sa.text("select rolsuper from pg_roles where rolname = current_user")).scalar()
            tables = set(sa.inspect(conn).get_table_names())
        engine.dispose()
        assert set(metadata.tables) <= tables
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{user}"'))
        admin.dispose()


# --- make airflow (pipeline.orchestration.standalone) ------------------------------------------------------------


@pytest.mark.unit
def test_standalone_environment_is_the_embedded_trial(tmp_path):
    from pipeline.orchestration.standalone import standalone_environment

    base = {"PATH": "/usr/bin", "AIRFLOW_HOME": str(tmp_path / "home"), "DISTRICT_DATA": str(tmp_path / "var"),
            "AIRFLOW_CONN_DISTRICT_WAREHOUSE": "postgresql://u:p@prod/db", "DISTRICT_WAREHOUSE_URL": "postgresql://x/y"}
    env = standalone_environment(base, port=18081)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO / "dags")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert "AIRFLOW_CONN_DISTRICT_WAREHOUSE" not in env and "DISTRICT_WAREHOUSE_URL" not in env
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "pipeline.orchestration.executors.PreloadingLocalExecutor"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(
        tmp_path / "home" / "simple_auth_manager_passwords.json.generated")
    assert env["AIRFLOW__API__PORT"] == "18081"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18081/execution/"
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert base["DISTRICT_WAREHOUSE_URL"] == "postgresql://x/y"  # the caller's mapping is left alone

    default = standalone_environment({"PATH": "/usr/bin"}, warehouse="sqlite:////tmp/w.sqlite")
    assert default["AIRFLOW_HOME"] == str(REPO / "var" / "airflow")
    assert default["DISTRICT_DATA"] == str(REPO / "var")
    assert default["DISTRICT_WAREHOUSE_URL"] == "sqlite:////tmp/w.sqlite"
    assert default["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8080/execution/"


@pytest.mark.unit
def test_admin_password_is_generated_once_and_read_by_simple_auth_manager(tmp_path):
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    from pipeline.orchestration.standalone import admin_password

    file = tmp_path / "home" / "simple_auth_manager_passwords.json.generated"
    first = admin_password(file)
    assert len(first) >= 12
    assert admin_password(file) == first
    with file.open("r+") as fh:
        assert SimpleAuthManager._get_passwords(fh) == {"admin": first}

    other = tmp_path / "other.json"
    other.write_text('{"viewer": "v"}')
    assert admin_password(other) != "v"
    assert set(json.loads(other.read_text())) == {"viewer", "admin"}


@pytest.mark.unit
def test_standalone_refuses_a_busy_port(capsys):
    from pipeline.orchestration.standalone import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["--port", str(busy.getsockname()[1])]) == 1
    assert "已被占用" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_make_airflow_starts_the_ui_and_its_login_works(tmp_path):
    port = _free_port()
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "DISTRICT_DATA": str(tmp_path / "var"),
           "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
           "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port())}
    log = (tmp_path / "standalone.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.orchestration.standalone", "--port", str(port)],
                            cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        health = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5) as resp:
                    health = json.load(resp)
                if all(health.get(c, {}).get("status") == "healthy" for c in ("scheduler", "dag_processor")):
                    break
            except OSError:
                pass
            time.sleep(3)
        output = (tmp_path / "standalone.log").read_text(encoding="utf-8", errors="replace")
        assert health and health["metadatabase"]["status"] == "healthy", output[-3000:]
        password = re.search(r"密码\s+(\S+)", output).group(1)
        assert base in output
        saved = json.loads((tmp_path / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())
        assert saved == {"admin": password}
        login = urllib.request.Request(f"{base}/auth/token", method="POST",
                                       data=json.dumps({"username": "admin", "password": password}).encode(),
                                       headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(login, timeout=10) as resp:
            token = json.load(resp)["access_token"]
        dags = urllib.request.Request(f"{base}/api/v2/dags", headers={"Authorization": f"Bearer {token}"})
        ids: set[str] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ids:
            with urllib.request.urlopen(dags, timeout=10) as resp:
                ids = {d["dag_id"] for d in json.load(resp)["dags"]}
            time.sleep(2)
        assert ids == {"district_returns_monthly", "district_annual_statistics"}  # the project's, no examples
    finally:
        _stop_group(proc)
        log.close()


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop standalone and every component it started (they share its process group), SIGKILL after 30 s."""
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.5)
