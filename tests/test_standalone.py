"""``make airflow`` (pipeline.orchestration.standalone): the ports it refuses, its "ready" line, and one Ctrl-C
stopping it all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from helpers import REPO


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def no_airflow(monkeypatch):
    """Fail the test if main() gets as far as starting Airflow."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"Airflow was started: {args}")

    monkeypatch.setattr(os, "execvpe", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


@pytest.mark.unit
@pytest.mark.parametrize("port", [8793, 8794])
def test_refuses_the_ports_of_airflows_own_log_servers(port, no_airflow, capsys, monkeypatch):
    from pipeline.orchestration.standalone import main

    for var in ("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"):
        monkeypatch.delenv(var, raising=False)
    assert main(["--port", str(port)]) == 1
    assert f"端口 {port} 是 Airflow 自身的" in capsys.readouterr().err


@pytest.mark.unit
def test_refuses_a_configured_log_server_port(no_airflow, capsys, monkeypatch):
    from pipeline.orchestration.standalone import main

    port = _free_port()
    monkeypatch.setenv("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", str(port))
    assert main(["--port", str(port)]) == 1
    assert "任务日志服务" in capsys.readouterr().err


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_ready_only_when_the_api_server_answers_and_one_ctrl_c_stops_everything(tmp_path):
    import psutil

    from pipeline.orchestration.standalone import api_server_answers

    port = _free_port()
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "DISTRICT_DATA": str(tmp_path / "var"),
           "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
           "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port())}
    log_path = tmp_path / "standalone.log"
    with log_path.open("wb") as log:
        # Its own process group, as a terminal's foreground job: Ctrl-C sends SIGINT to the whole group.
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.orchestration.standalone", "--port", str(port)],
                                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 280
        while time.monotonic() < deadline and proc.poll() is None and "Airflow 已就绪：http" not in log_path.read_text(
                errors="replace"):
            time.sleep(0.5)
        output = log_path.read_text(errors="replace")
        assert "Airflow 已就绪：http" in output, output[-3000:]
        assert api_server_answers(url), "said ready, but the api-server does not answer"
        assert "Airflow is ready" not in output  # Airflow's own line, printed even when the api-server died
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        assert len(family) >= 5  # supervisor, standalone, api-server, scheduler, dag-processor, triggerer…

        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # one Ctrl-C
        proc.wait(timeout=90)
        _, alive = psutil.wait_procs(family, timeout=10)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive
        print(f"stopped in {time.monotonic() - started:.1f} s")
        assert "Airflow 已停止" in log_path.read_text(errors="replace")
        assert not api_server_answers(url, timeout=2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
