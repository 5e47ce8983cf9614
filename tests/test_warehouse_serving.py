"""Serving the warehouse while the pipeline writes: real spark-submit scoring runs, a second process
querying during them, and the Thrift/JDBC endpoint queried with beeline on loopback."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyspark
import pytest

from schemas.warehouse import CLEAN_IMAGES, IMAGE_PREDICTIONS
from shardline.storage import write_pointer
from spark_jobs.common.warehouse import replace_partitions, sync_partitions
from tests.conftest import BIN, REPO
from tests.helpers import cmdlines, random_pngs, save_image_model
from tests.hostile_sql import HOSTILE

pytestmark = pytest.mark.slow  # spark-submit, Airflow, training or servers: `make test`, not `make test-fast`

DT = "2032-01-01"
N = 300
BEELINE = Path(pyspark.__file__).parent / "bin" / "beeline"

READER = r"""
import json, os, sys, time
from spark_jobs.common.readonly import writer_thread
from spark_jobs.common.session import build_spark
from spark_jobs.common.warehouse import sync_partitions
from shardline.config import Paths
out, stop = sys.argv[1], sys.argv[2]
spark = build_spark("reader", master="local[1]", read_only=True)
sql = "SELECT run_id, count(*) n, count(DISTINCT id) d FROM ml.image_predictions WHERE dt = '%s' GROUP BY run_id"
done = False
while not done:
    done = os.path.exists(stop)  # one last query after the writer has finished
    with writer_thread(spark):
        sync_partitions(spark, Paths.from_env())
    rows = sorted(tuple(r) for r in spark.sql(sql % sys.argv[3]).collect())
    with open(out, "a") as f:
        f.write(json.dumps(rows) + "\n")
spark.stop()
"""


@pytest.fixture(scope="module")
def scored_home(spark, paths, tmp_path_factory):
    """Clean images for two dates and a champion model, in the tests' data directory."""
    version = "20320101-test-model"
    save_image_model(paths.models / "image" / version, [str(i) for i in range(10)], version=version)
    write_pointer(paths.models / "image" / "champion", version)
    _, pngs = random_pngs(N)
    for dt in (DT,):
        rows = [(f"img-{i:04d}", f"src/{i}.png", str(i % 10), b, 28, 28, 28, 28, "PNG", f"h{i}", i, dt)
                for i, b in enumerate(pngs)]
        replace_partitions(spark, spark.createDataFrame(rows, CLEAN_IMAGES.schema).repartition(4), CLEAN_IMAGES,
                           {"dt": dt})
    return paths


def score(dt, run_id, load_log):
    cmd = [str(BIN / "spark-submit"), "--master", "local[2]", str(REPO / "spark_jobs" / "batch_inference.py"),
           "--kind", "image", "--date", dt, "--run-id", run_id, "--batch-size", "16"]
    env = {**os.environ, "SHARDLINE_MODEL_LOAD_LOG": str(load_log), "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.mark.fault_injection
def test_readers_see_old_or_new_partition_while_scoring_runs_write(spark, scored_home, tmp_path):
    out, stop, load_log = tmp_path / "seen.jsonl", tmp_path / "stop", tmp_path / "loads.txt"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(out), str(stop), DT], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE, text=True)
    try:
        while not out.exists():  # the reader is up and querying before the first commit
            assert reader.poll() is None, reader.stderr.read()[-3000:]
            time.sleep(0.5)
        score(DT, "run-1", load_log)
        score(DT, "run-2", load_log)  # rerun of the same date
        stop.touch()
        assert reader.wait(timeout=300) == 0, reader.stderr.read()[-3000:]
    finally:
        reader.kill()

    seen = [tuple(map(tuple, json.loads(line))) for line in out.read_text().splitlines()]
    allowed = {(), (("run-1", N, N),), (("run-2", N, N),)}
    assert len(seen) >= 3
    assert set(seen) <= allowed, set(seen) - allowed  # never a mix, never a partial partition
    assert seen[-1] == (("run-2", N, N),)

    # the rerun replaced the date, leaving one copy of each row (other dates: tests/spark_jobs/test_warehouse.py)
    sync_partitions(spark, scored_home)
    rows = spark.sql("SELECT dt, run_id, count(*) n, count(DISTINCT id) d FROM ml.image_predictions "
                     f"WHERE dt = '{DT}' GROUP BY dt, run_id").collect()
    assert [tuple(r) for r in rows] == [(DT, "run-2", N, N)]
    runs = spark.sql("SELECT run_id, status, rows_in, rows_out, model_version FROM ml.scoring_runs "
                     "WHERE run_id LIKE 'run-%' ORDER BY run_id").collect()
    assert [tuple(r) for r in runs] == [(f"run-{i}", "success", N, N, "20320101-test-model") for i in (1, 2)]

    # each Python worker loaded the model once, however many 16-row batches it scored
    pids = [line.split()[0] for line in load_log.read_text().splitlines()]
    assert pids and len(pids) == len(set(pids)), pids
    assert len(pids) <= 2 * 2  # at most one per worker per run (local[2])


def beeline(url, sql, password_file=None, user="shardline", script=None, wait=True):
    """beeline as the docs show it: the password from a file (``-w``), never on the command line."""
    login = ["-n", user, "-w", str(password_file)] if password_file is not None else []
    what = ["-f", str(script), "--force=true"] if script else ["-e", sql]
    cmd = [str(BEELINE), "-u", url, *login, "--silent=true", "--outputformat=csv2", *what]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def predictions(spark, n, dt):
    return spark.range(n).selectExpr(
        "concat('id', id) AS id", "'src' AS source", "'3' AS predicted_label", "0.9D AS score",
        "array(named_struct('label', '3', 'probability', 0.9D)) AS top_k", "'m' AS model_name", "'v' AS model_version",
        "'d' AS dataset_version", "'r' AS run_id", "current_timestamp() AS scored_at", f"'{dt}' AS dt")


def test_thrift_endpoint_serves_beeline_read_only_and_picks_up_commits(spark, paths, tmp_path):
    replace_partitions(spark, predictions(spark, 11, "2032-02-01"), IMAGE_PREDICTIONS, {"dt": "2032-02-01"})
    shardline = str(BIN / "shardline")
    probe = "hooks.example/services/T0/B0/probe-token"  # #44: an alert webhook in the server's environment
    started = subprocess.run([shardline, "warehouse", "start", "--detach", "--refresh", "1",
                              "--set", "query.spark_timeout_s=5"], capture_output=True, text=True, timeout=300,
                             cwd=REPO, env={**os.environ, "AIRFLOW_CONN_SHARDLINE_ALERTS": probe})
    assert started.returncode == 0, started.stderr[-3000:]
    url = started.stdout.strip().splitlines()[-1]
    state = json.loads((paths.home / "warehouse-server.json").read_text())
    try:
        assert url == f"jdbc:hive2://127.0.0.1:{state['port']}/ml"
        with socket.socket() as s:  # bound to loopback only
            assert s.connect_ex(("127.0.0.1", state["port"])) == 0

        secret = paths.home / "warehouse-server.secret"
        assert secret.stat().st_mode & 0o777 == 0o600
        password = secret.read_text().strip()
        log_file = paths.logs / "warehouse-server.log"
        assert password not in log_file.read_text() and log_file.stat().st_mode & 0o077 == 0
        count = "SELECT count(*) AS n FROM ml.image_predictions WHERE dt = '2032-02-01'"
        (tmp_path / "empty").write_text("")
        (tmp_path / "wrong").write_text(password[:-1] + "x")
        for login in ({}, {"password_file": tmp_path / "empty"}, {"password_file": tmp_path / "wrong"}):
            refused = beeline(url, count, **login)
            assert refused.returncode != 0 and "11" not in refused.stdout.splitlines(), login
        running = beeline(url, count, secret, wait=False)
        leaked = []
        while running.poll() is None:  # no process's command line holds the password (#44 door 6)
            leaked += [c[:120] for c in cmdlines() if password in c]
            time.sleep(0.05)
        out, err = running.communicate()
        assert running.returncode == 0 and leaked == [], err[-3000:]
        assert out.strip().splitlines()[-1] == "11"
        password = secret  # the file, from here on

        # #44: no ${env:...}/${system:...} substitution; a runaway query is cancelled at query.spark_timeout_s
        done = beeline(url, "SELECT '${env:AIRFLOW_CONN_SHARDLINE_ALERTS}' AS a, '${system:user.name}' AS b", password)
        assert done.stdout.strip().splitlines()[-1] == "${env:AIRFLOW_CONN_SHARDLINE_ALERTS},${system:user.name}", \
            done.stdout + done.stderr[-2000:]
        assert probe not in done.stdout + done.stderr
        started_at = time.monotonic()
        done = beeline(url, "SELECT count(*) FROM range(1000000000000)", password)
        assert done.returncode != 0 and time.monotonic() - started_at < 90, done.stdout + done.stderr[-2000:]
        assert "timed out" in (done.stdout + done.stderr).lower() or "cancel" in (done.stdout + done.stderr).lower()

        # the hostile statements, one connection, each refused by the guard, nothing changed on disk
        before = {str(f): f.stat().st_mtime_ns for f in (paths.warehouse).rglob("*") if f.is_file()}
        marker = tmp_path / "pwned"
        statements = [sql.format(marker=marker, warehouse=paths.warehouse / "ml.db", url="http://127.0.0.1:9/dtd")
                      for sql in HOSTILE if ";" not in sql]  # beeline splits scripts on ';' itself
        script = tmp_path / "hostile.sql"
        script.write_text("".join(f"{sql};\n" for sql in statements))
        done = beeline(url, None, password, script=script)  # --force: goes on after each error (exit code 0)
        # beeline glues some errors onto its previous output line: split on the error's own prefix
        errors = (done.stdout + done.stderr).split("Error: org.apache.hive.service.cli.HiveSQLException")[1:]
        assert len(errors) == len(statements), (len(errors), len(statements), done.stdout[-3000:])
        assert sum("read-only here" in e for e in errors) >= 25, errors
        assert not marker.exists()
        assert {str(f): f.stat().st_mtime_ns for f in (paths.warehouse).rglob("*") if f.is_file()} == before
        assert not any(marker.name in e and "magic" in e.lower() for e in errors)  # no file's bytes in an error

        # commits by another process show up without restarting the server: a new date, and a rerun
        replace_partitions(spark, predictions(spark, 7, "2032-02-02"), IMAGE_PREDICTIONS, {"dt": "2032-02-02"})
        replace_partitions(spark, predictions(spark, 5, "2032-02-01"), IMAGE_PREDICTIONS, {"dt": "2032-02-01"})
        time.sleep(3)
        done = beeline(url, "SELECT dt, count(*) FROM ml.image_predictions WHERE dt LIKE '2032-02-%' GROUP BY dt "
                            "ORDER BY dt", password)
        assert done.stdout.strip().splitlines()[-2:] == ["2032-02-01,5", "2032-02-02,7"], done.stdout + done.stderr[-2000:]
    finally:
        stopped = subprocess.run([shardline, "warehouse", "stop"], capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0
    assert not (paths.home / "warehouse-server.json").exists()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", state["port"])) != 0
