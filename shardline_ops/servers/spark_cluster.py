"""A real Spark standalone cluster on this machine: one Master and N Workers, bound to 127.0.0.1.

``shardline spark-cluster start`` runs ``spark-class org.apache.spark.deploy.master.Master`` and
``...deploy.worker.Worker`` from the pyspark wheel as background processes, waits until every worker
has registered, and prints the master URL. Point jobs at it with ``spark-submit --master URL`` or the
``spark_default`` Airflow connection. State (URLs, pids) is kept in ``<data>/spark-cluster.json``; logs
go to ``<data>/logs/spark-cluster/``. ``shardline spark-cluster stop`` ends every process it started.

Authentication: every start generates a shared secret, ``<data>/spark-cluster.secret`` (0600, never
printed or logged). Master and workers run with ``spark.authenticate=true`` and get the secret in their
environment (``_SPARK_AUTH_SECRET``: not on a command line another user can read in ``ps``), so a driver
without it cannot register an application, i.e. cannot run code as the cluster's owner. The project's
jobs add the secret themselves when their master is this cluster (``spark_jobs.common.session``); any
other driver needs ``--conf spark.authenticate=true --conf spark.authenticate.secret=$(cat <file>)`` or
a properties file holding both.
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

from shardline.cluster_auth import secret_file, state_file
from shardline.config import Paths, ShardlineError
from shardline.storage import ensure_private_file, open_private_log
from shardline_ops.servers import processes

HOST = "127.0.0.1"


def read_state(paths: Paths) -> dict | None:
    return processes.read_state(state_file(paths))


def _spark_class() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


def _status(webui: int) -> dict:
    with urllib.request.urlopen(f"http://{HOST}:{webui}/json/", timeout=5) as resp:
        return json.loads(resp.read())


def start(paths: Paths, workers: int = 1, cores: int | None = None, memory: str = "2g",
          timeout_s: float = 120.0) -> dict:
    running = read_state(paths)
    if running:
        raise ShardlineError(f"a cluster is already running: {running['master']} (`shardline spark-cluster stop`)")
    if workers < 1:
        raise ShardlineError(f"--workers must be >= 1, got {workers}")
    cores = cores or max(1, (os.cpu_count() or 2) // workers)
    logs = paths.logs / "spark-cluster"
    logs.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    secret_file(paths).unlink(missing_ok=True)  # a new secret per cluster: the old one stops working
    ensure_private_file(secret_file(paths), lambda: secret + "\n")
    # authentication on; the UI's kill links off (unauthenticated POST /app/kill/ would end any application)
    auth = "-Dspark.authenticate=true -Dspark.ui.killEnabled=false"
    env = {**os.environ, "SPARK_LOCAL_IP": HOST, "SPARK_MASTER_HOST": HOST, "PYSPARK_PYTHON": sys.executable,
           "SPARK_NO_DAEMONIZE": "1", "_SPARK_AUTH_SECRET": secret,
           "SPARK_MASTER_OPTS": f"{os.environ.get('SPARK_MASTER_OPTS', '')} {auth}".strip(),
           "SPARK_WORKER_OPTS": f"{os.environ.get('SPARK_WORKER_OPTS', '')} {auth}".strip()}
    port, webui = processes.free_port(HOST), processes.free_port(HOST)
    procs = []

    def launch(name: str, args: list[str]) -> None:
        with open_private_log(logs / f"{name}.log") as out:
            procs.append(subprocess.Popen([_spark_class(), *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True))

    launch("master", ["org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(port),
                      "--webui-port", str(webui)])
    master = f"spark://{HOST}:{port}"
    for i in range(workers):
        work = paths.home / "spark-cluster" / f"worker-{i}"
        work.mkdir(parents=True, exist_ok=True)
        launch(f"worker-{i}", ["org.apache.spark.deploy.worker.Worker", master, "--host", HOST,
                               "--cores", str(cores), "--memory", memory, "--webui-port", str(processes.free_port(HOST)),
                               "--work-dir", str(work)])
    state = {"master": master, "webui": f"http://{HOST}:{webui}", "pids": [p.pid for p in procs],
             "workers": workers, "cores_per_worker": cores, "memory_per_worker": memory, "authenticate": True,
             "secret_file": str(secret_file(paths))}
    processes.write_state(state_file(paths), state)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if any(p.poll() is not None for p in procs):
            stop(paths)
            raise ShardlineError(f"a cluster process exited at start; see {logs}")
        try:
            if _status(webui).get("aliveworkers", 0) >= workers:
                return state
        except OSError:
            pass
        time.sleep(0.5)
    stop(paths)
    raise ShardlineError(f"the cluster did not come up in {timeout_s:.0f}s; see {logs}")


def stop(paths: Paths, timeout_s: float = 30.0) -> dict | None:
    """SIGTERM to every process group, workers first, then the master; SIGKILL what is left."""
    return processes.stop_processes(state_file(paths), signal.SIGTERM, group=True, timeout_s=timeout_s)


def code_zip(paths: Paths) -> Path:
    """The project's Python packages as one zip for ``--py-files``/``addPyFile`` (executors on other
    machines import the jobs' functions from it). Rebuilt when any source file changes."""
    import hashlib
    import zipfile

    from shardline.config import REPO_ROOT

    files = sorted(p for pkg in ("shardline", "spark_jobs", "schemas", "training") for p in (REPO_ROOT / pkg).rglob("*")
                   if p.suffix in (".py", ".properties") and "__pycache__" not in p.parts)
    digest = hashlib.sha1()
    for f in files:
        digest.update(str(f.relative_to(REPO_ROOT)).encode())
        digest.update(f.read_bytes())
    out = paths.home / "lib" / f"shardline-code-{digest.hexdigest()[:12]}.zip"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for f in files:
                z.write(f, f.relative_to(REPO_ROOT))
        os.replace(tmp, out)
    return out
