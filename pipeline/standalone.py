"""``make airflow``: the Airflow UI on the embedded defaults, for an operator trying it without Docker.

Runs ``airflow standalone`` (api-server, scheduler, dag-processor, triggerer; SQLite metadata database;
the preloading LocalExecutor of :mod:`pipeline.executors`) with ``AIRFLOW_HOME`` under ``var/airflow``,
the project's ``dags/``, no example DAGs, the embedded SQLite warehouse under ``DISTRICT_DATA``
(``var``) and SimpleAuthManager with one user ``admin`` whose password lives in
``$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated``. Prints the URL and the login, then
becomes the Airflow process: Ctrl-C stops everything.

``python -m pipeline.standalone [--port 8080] [--host 127.0.0.1] [--warehouse URL]``; the port defaults
to ``AIRFLOW__API__PORT`` or 8080.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

from pipeline.airflow_glue import AIRFLOW_SETTINGS
from pipeline.config import PROJECT_ROOT, Settings, settings

ADMIN_USER = "admin"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
PRELOADING_LOCAL_EXECUTOR = "pipeline.executors.PreloadingLocalExecutor"
PASSWORD_FILE_NAME = "simple_auth_manager_passwords.json.generated"


def standalone_environment(
    environ: Mapping[str, str], *, host: str = "127.0.0.1", port: int = 8080, warehouse: str | None = None
) -> dict[str, str]:
    """The environment ``airflow standalone`` runs in: project DAGs, no examples, SQLite warehouse, one admin."""
    env = dict(environ)
    home = Path(env.get("AIRFLOW_HOME") or PROJECT_ROOT / "var" / "airflow").resolve()
    data = Path(env.get("DISTRICT_DATA") or PROJECT_ROOT / "var").resolve()
    # The embedded warehouse unless one is asked for: a deployment's connection must not leak into a trial.
    env.pop("AIRFLOW_CONN_DISTRICT_WAREHOUSE", None)
    env.pop("DISTRICT_WAREHOUSE_URL", None)
    if warehouse:
        env["DISTRICT_WAREHOUSE_URL"] = warehouse
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "DISTRICT_DATA": str(data),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # A LocalExecutor whose workers import Great Expectations once, not once per task.
            "AIRFLOW__CORE__EXECUTOR": PRELOADING_LOCAL_EXECUTOR,
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORD_FILE_NAME),
            "AIRFLOW__API__HOST": host,
            "AIRFLOW__API__PORT": str(port),
            # Tasks call back to the api-server here; its default assumes port 8080, so any other port
            # without this setting leaves every task failing to reach the Execution API.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url(host, port)}/execution/",
            "GX_ANALYTICS_ENABLED": "False",
            **AIRFLOW_SETTINGS,
            # standalone starts its components as `airflow …`: this interpreter's scripts come first.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)]),
        }
    )
    return env


def base_url(host: str, port: int) -> str:
    """The URL a browser on this machine opens."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def admin_password(password_file: Path, username: str = ADMIN_USER) -> str:
    """The user's password from SimpleAuthManager's password file, generated and saved on first use."""
    passwords = json.loads(password_file.read_text(encoding="utf-8") or "{}") if password_file.exists() else {}
    if username not in passwords:
        passwords[username] = secrets.token_urlsafe(12)
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password_file.write_text(json.dumps(passwords) + "\n", encoding="utf-8")
        password_file.chmod(0o600)
    return passwords[username]


def login_banner(url: str, password: str, password_file: Path, dags: str, current: Settings) -> str:
    """What the operator reads before Airflow's own output scrolls by (Chinese, for the bureau)."""
    lines = [
        "=" * 72,
        "Airflow 本地试用（airflow standalone；仅供试用，请勿用于生产）",
        f"  地址      {url}",
        f"  用户名    {ADMIN_USER}",
        f"  密码      {password}",
        f"            （保存在 {password_file}）",
        f"  DAG 目录  {dags}",
        f"  数据仓库  {current.warehouse_url}",
        f"  收件箱    {current.inbox}/<YYYY-MM>/",
        "  各组件启动约需一分钟，日志中出现 “Airflow is ready” 后即可登录。按 Ctrl-C 停止。",
        "=" * 72,
    ]
    return "\n".join(lines)


def port_free(host: str, port: int) -> bool:
    """Whether the api-server could bind ``host:port`` now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.standalone", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address the UI listens on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("AIRFLOW__API__PORT") or 8080))
    parser.add_argument("--warehouse", help="SQLAlchemy URL of the warehouse (default: the embedded SQLite file)")
    args = parser.parse_args(argv)

    env = standalone_environment(os.environ, host=args.host, port=args.port, warehouse=args.warehouse)
    if not port_free(args.host, args.port):
        print(f"端口 {args.port} 已被占用：请先停止占用它的程序，或用 --port 指定其他端口。", file=sys.stderr)
        return 1
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    Path(env["DISTRICT_DATA"]).mkdir(parents=True, exist_ok=True)
    password_file = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    password = admin_password(password_file)
    # This process becomes Airflow next: its environment is the one the tasks will read settings from.
    os.environ.clear()
    os.environ.update(env)
    banner = login_banner(base_url(args.host, args.port), password, password_file, env["AIRFLOW__CORE__DAGS_FOLDER"],
                          settings(args.warehouse))
    print(banner, flush=True)

    airflow = Path(sys.executable).parent / "airflow"
    executable = str(airflow) if airflow.exists() else "airflow"
    os.execvpe(executable, [executable, "standalone"], env)
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())
