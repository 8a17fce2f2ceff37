"""``make airflow``: the Airflow UI on the embedded defaults, for an operator trying it without Docker.

Runs ``airflow standalone`` (api-server, scheduler, dag-processor, triggerer; SQLite metadata database;
the preloading LocalExecutor of :mod:`pipeline.orchestration.executors`) with ``AIRFLOW_HOME`` under ``var/airflow``,
the project's ``dags/``, no example DAGs, the embedded SQLite warehouse under ``DISTRICT_DATA``
(``var``) and SimpleAuthManager with one user ``admin`` whose password lives in
``$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated``. Prints the URL and the login, starts
Airflow as a child process and says "已就绪" only once the api-server answers on that address. One
Ctrl-C (or SIGTERM) stops every component: politely first, then by force after a grace period.

It refuses a port that is taken, and the ports Airflow's own log servers use (8793 and 8794 unless
``AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT`` / ``TRIGGER_LOG_SERVER_PORT`` say otherwise): the
api-server would die of "address already in use" while the other components went on.

``python -m pipeline.orchestration.standalone [--port 8080] [--host 127.0.0.1] [--warehouse URL]``; the port defaults
to ``AIRFLOW__API__PORT`` or 8080.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from pipeline.config import PROJECT_ROOT, Settings, settings
from pipeline.orchestration.airflow_glue import AIRFLOW_SETTINGS

ADMIN_USER = "admin"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
PRELOADING_LOCAL_EXECUTOR = "pipeline.orchestration.executors.PreloadingLocalExecutor"
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
        "  各组件启动约需一分钟；出现 “Airflow 已就绪” 后即可登录。按一次 Ctrl-C 停止全部组件。",
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


def log_server_ports(env: Mapping[str, str]) -> dict[int, str]:
    """Ports Airflow's own components listen on besides the api-server: port → what uses it."""
    return {
        int(env.get("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT") or 8793): "任务日志服务（worker log server）",
        int(env.get("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT") or 8794): "触发器日志服务（triggerer log server）",
    }


def port_problem(host: str, port: int, env: Mapping[str, str]) -> str | None:
    """Why the api-server cannot use ``port`` (Chinese, for the operator), or None."""
    reserved = log_server_ports(env)
    if port in reserved:
        return f"端口 {port} 是 Airflow 自身的{reserved[port]}使用的端口：请用 --port 指定其他端口（例如 8080）。"
    if not port_free(host, port):
        return f"端口 {port} 已被占用：请先停止占用它的程序，或用 --port 指定其他端口。"
    for other, what in reserved.items():
        if not port_free("0.0.0.0", other):
            return (f"Airflow 的{what}端口 {other} 已被占用（可能另一个 Airflow 正在运行）：请先停止它，"
                    f"或设置 AIRFLOW__LOGGING__{'WORKER' if other == min(reserved) else 'TRIGGER'}_LOG_SERVER_PORT。")
    return None


def api_server_answers(url: str, timeout: float = 5.0) -> bool:
    """Whether the api-server at ``url`` answers its health endpoint with a healthy metadata database."""
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=timeout) as resp:
            health = json.load(resp)
    except (OSError, ValueError):
        return False
    return (health.get("metadatabase") or {}).get("status") == "healthy"


def _copy_output(stream, out) -> None:
    """Airflow's output to ours, without its own "ready" line: ours comes when the api-server answers."""
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace")
        if "Airflow is ready" in line:
            continue
        out.write(line)
        out.flush()


def stop(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """Stop ``airflow standalone`` and every process it started: SIGINT, then SIGTERM, then SIGKILL."""
    import psutil

    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.Error:
        family = []
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            break
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.send_signal(sig)
        _, still = psutil.wait_procs(alive, timeout=wait)
        if not still:
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def supervise(cmd: list[str], env: dict[str, str], url: str, ready_timeout: float = 240.0) -> int:
    """Run Airflow; announce it once the api-server answers; stop everything on one Ctrl-C or SIGTERM."""
    stopping = threading.Event()

    def on_signal(signum, frame) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    threading.Thread(target=_copy_output, args=(proc.stdout, sys.stdout), daemon=True).start()
    started, ready, code = time.monotonic(), False, 0
    try:
        while not stopping.is_set():
            if proc.poll() is not None:
                print(f"\nAirflow 已退出（{proc.returncode}）：见上方日志。", file=sys.stderr, flush=True)
                return proc.returncode or 1
            if not ready and api_server_answers(url):
                ready = True
                print(f"\n{'=' * 72}\nAirflow 已就绪：{url} （{time.monotonic() - started:.0f} 秒）。"
                      f"按一次 Ctrl-C 停止。\n{'=' * 72}", flush=True)
            elif not ready and time.monotonic() - started > ready_timeout:
                print(f"\napi-server 在 {ready_timeout:.0f} 秒内没有在 {url} 应答：停止 Airflow，见上方日志。",
                      file=sys.stderr, flush=True)
                code = 1
                break
            stopping.wait(1.0 if ready else 2.0)
    finally:
        print("\n正在停止 Airflow 的全部组件……", file=sys.stderr, flush=True)
        stop(proc)
        print("Airflow 已停止。", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.orchestration.standalone", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="address the UI listens on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("AIRFLOW__API__PORT") or 8080))
    parser.add_argument("--warehouse", help="SQLAlchemy URL of the warehouse (default: the embedded SQLite file)")
    args = parser.parse_args(argv)

    env = standalone_environment(os.environ, host=args.host, port=args.port, warehouse=args.warehouse)
    problem = port_problem(args.host, args.port, env)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    Path(env["DISTRICT_DATA"]).mkdir(parents=True, exist_ok=True)
    password_file = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    password = admin_password(password_file)
    # The settings the banner shows are those the tasks will read from this environment.
    os.environ.clear()
    os.environ.update(env)
    banner = login_banner(base_url(args.host, args.port), password, password_file, env["AIRFLOW__CORE__DAGS_FOLDER"],
                          settings(args.warehouse))
    print(banner, flush=True)

    airflow = Path(sys.executable).parent / "airflow"
    executable = str(airflow) if airflow.exists() else "airflow"
    return supervise([executable, "standalone"], env, base_url(args.host, args.port))


if __name__ == "__main__":
    sys.exit(main())
