"""Airflow (API server + UI, scheduler, DAG processor, triggerer) for the project's DAGs, on loopback.

``shardline airflow start`` runs the four components ``airflow standalone`` would, with the same environment
``shardline run`` uses (data directory, ``spark_default`` connection, DAG folder), the API server bound to
127.0.0.1 on a free port (or ``--port``), and the LocalExecutor. Not ``airflow standalone`` itself: its
scheduler and triggerer each start a log server on all interfaces (``0.0.0.0``/``::``, hard-coded in Airflow
3.3) on fixed ports (8793, 8794) that two instances fight over. Here both run with ``--skip-serve-logs``:
with the LocalExecutor every task log is a local file the API server reads itself, so nothing listens but
the API server, on loopback. The UI is at the printed URL; the user is ``admin`` with the password in
``<airflow home>/simple_auth_manager_passwords.json.generated`` (0600). State goes to
``<data>/airflow-standalone.json``; ``shardline airflow stop`` ends every component.
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
from shardline.storage import ensure_private_file, file_lock, open_private_log
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
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    }


def components(port: int) -> dict[str, list[str]]:
    """The commands ``airflow standalone`` runs, with the log servers off and the API server on loopback."""
    return {"scheduler": ["scheduler", "--skip-serve-logs"], "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer", "--skip-serve-logs"],
            "api-server": ["api-server", "--host", HOST, "--port", str(port)]}


def ensure_db(paths: Paths, env: dict[str, str]) -> None:
    """Create (migrate) the Airflow database once. Two first runs at once take turns (the second saw a
    half-created ``airflow.db`` and failed); ``.db-ready`` is written only after a migration succeeded."""
    ready = paths.airflow_home / ".db-ready"
    if ready.exists():
        return
    with file_lock(paths.airflow_home / ".db-lock", "the Airflow database"):
        if ready.exists():
            return
        print(f"shardline: creating the Airflow database in {paths.airflow_home}", file=sys.stderr)
        done = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                              env={**os.environ, **env}, capture_output=True, text=True)
        if done.returncode != 0:
            raise ShardlineError(f"airflow db migrate failed: {done.stderr.strip().splitlines()[-1:]}")
        ready.write_text("airflow db migrate done\n")


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
    env = standalone_env(paths, port, base_env)
    ensure_db(paths, env)
    airflow, procs = str(Path(sys.executable).with_name("airflow")), {}
    with open_private_log(log_path) as out:
        for name, args in components(port).items():
            procs[name] = subprocess.Popen([airflow, *args], cwd=REPO_ROOT, env=env, stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True)
    state = {"pids": [p.pid for p in procs.values()], "components": {n: p.pid for n, p in procs.items()},
             "url": url, "port": port, "log": str(log_path), "password_file": str(password_file(paths))}
    processes.write_state(state_file(paths), state)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        exited = [n for n, p in procs.items() if p.poll() is not None]
        if exited:
            stop(paths)
            raise ShardlineError(f"airflow {exited[0]} exited with {procs[exited[0]].returncode}; see {log_path}")
        if api_ready(url):
            return state
        time.sleep(1)
    stop(paths)
    raise ShardlineError(f"Airflow did not become healthy in {timeout_s:.0f}s; see {log_path}")


def stop(paths: Paths, timeout_s: float = 60.0) -> dict | None:
    """SIGTERM to each component's process group (the scheduler's task runners, uvicorn's workers), then
    whatever is left of them is killed."""
    return processes.stop_processes(state_file(paths), signal.SIGTERM, group=True, timeout_s=timeout_s)
