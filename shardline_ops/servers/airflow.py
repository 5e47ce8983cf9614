"""Airflow standalone (API server + UI, scheduler, DAG processor, triggerer) for the project's DAGs, on loopback.

``shardline airflow start`` runs ``airflow standalone`` with the same environment ``shardline run``
uses (data directory, ``spark_default`` connection, DAG folder), the API server bound to 127.0.0.1 on
a free port (or ``--port``), and the LocalExecutor. The UI is at the printed URL; the user is
``admin`` with the password Airflow generated into ``<airflow home>/simple_auth_manager_passwords.json.generated``.
State goes to ``<data>/airflow-standalone.json``; ``shardline airflow stop`` ends every component.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from shardline.config import REPO_ROOT, Paths, ShardlineError
from shardline.storage import ensure_private_file, open_private_log
from shardline_ops.servers import processes

HOST = "127.0.0.1"


def state_file(paths: Paths) -> Path:
    return paths.home / "airflow-standalone.json"


def standalone_env(paths: Paths, port: int, base_env: dict[str, str]) -> dict[str, str]:
    url = f"http://{HOST}:{port}"
    return {
        **os.environ, **base_env,
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "2"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": os.environ.get("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION",
                                                                     "True"),
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
    }


def read_state(paths: Paths) -> dict | None:
    return processes.read_state(state_file(paths))


def password_file(paths: Paths) -> Path:
    return paths.airflow_home / "simple_auth_manager_passwords.json.generated"


def ensure_password_file(paths: Paths) -> Path:
    """Write the admin password before Airflow does: created 0600 (Airflow's own file gets the default
    mode, and standalone prints a password it generates into its log); an existing file is narrowed to 0600."""
    return ensure_private_file(password_file(paths), lambda: json.dumps({"admin": secrets.token_urlsafe(18)}))


def api_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as resp:
            health = json.loads(resp.read())
    except OSError:
        return False
    return all((health.get(c) or {}).get("status") == "healthy" for c in ("metadatabase", "scheduler", "dag_processor"))


def start(paths: Paths, base_env: dict[str, str], port: int = 0, timeout_s: float = 240.0) -> dict:
    running = read_state(paths)
    if running:
        raise ShardlineError(f"Airflow is already running at {running['url']} (`shardline airflow stop`)")
    port = port or processes.free_port(HOST)
    url = f"http://{HOST}:{port}"
    paths.logs.mkdir(parents=True, exist_ok=True)
    log_path = paths.logs / "airflow-standalone.log"
    ensure_password_file(paths)
    with open_private_log(log_path) as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("airflow")), "standalone"], cwd=REPO_ROOT,
                                env=standalone_env(paths, port, base_env), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    state = {"pid": proc.pid, "url": url, "port": port, "log": str(log_path),
             "password_file": str(password_file(paths))}
    processes.write_state(state_file(paths), state)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            state_file(paths).unlink(missing_ok=True)
            raise ShardlineError(f"airflow standalone exited with {proc.returncode}; see {log_path}")
        if api_ready(url):
            return state
        time.sleep(1)
    stop(paths)
    raise ShardlineError(f"Airflow did not become healthy in {timeout_s:.0f}s; see {log_path}")


def stop(paths: Paths, timeout_s: float = 60.0) -> dict | None:
    """Ctrl-C to standalone (it stops its components), then whatever is left of its process group
    (task runners, uvicorn) is killed."""
    return processes.stop_processes(state_file(paths), signal.SIGINT, group=False, timeout_s=timeout_s)
