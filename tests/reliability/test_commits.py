"""Nothing lost (issues #19, #42): committed versions are never rewritten, a failed write commits nothing,
two writers of one partition take turns, a lock dies with its holder, a SIGKILLed writer leaves no commit."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from shardline.config import ShardlineError
from shardline.storage import commit_dir, file_lock, staging_dir
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # spark-submit, Airflow, training or servers: `make test`, not `make test-fast`

WRITER = r"""
import os, sys, time
from pathlib import Path
from schemas.warehouse import TEXT_PREDICTIONS
from spark_jobs.common.session import build_spark
from spark_jobs.common.warehouse import replace_partitions
tag, n, start_at = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
dt, pause = (sys.argv[4], float(sys.argv[5])) if len(sys.argv) > 5 else ("2034-01-01", 3.0)
spark = build_spark("writer-" + tag, master="local[1]")
def slow(batches):
    for b in batches:
        time.sleep(pause)  # the writer is staging for a while (both writers at once; a kill mid-write)
        yield b
df = spark.range(n).selectExpr(
    f"concat('{tag}-', id) AS id", "'src' AS source", "'x' AS predicted_label", "0.5D AS score",
    "array(named_struct('label', 'x', 'probability', 0.5D)) AS top_k", "'m' AS model_name",
    "'v' AS model_version", "'d' AS dataset_version", f"'{tag}' AS run_id", "current_timestamp() AS scored_at",
    f"'{dt}' AS dt").repartition(2)
df = df.mapInPandas(slow, df.schema)
time.sleep(max(0.0, start_at - time.time()))
replace_partitions(spark, df, TEXT_PREDICTIONS, {"dt": dt})
print("DONE", tag)
"""


def test_commit_never_replaces_a_version(tmp_path):
    final = tmp_path / "models" / "v1"
    stage = staging_dir(final)
    (stage / "model.json").write_text("{}")
    commit_dir(stage, final)
    again = staging_dir(final)
    (again / "model.json").write_text('{"other": 1}')
    with pytest.raises(ShardlineError, match="never replaced"):
        commit_dir(again, final)
    assert json.loads((final / "model.json").read_text()) == {}


def test_new_model_version_never_reuses_a_registered_one(tmp_path):
    from training.train import new_version

    first = new_version(tmp_path, "20260101-abc-123456")
    (tmp_path / first).mkdir()
    second = new_version(tmp_path, "20260101-abc-123456")
    assert second != first and second.startswith("20260101-abc-123456-") and sorted([first, second])[0] == first


def test_a_failure_in_one_of_two_writes_commits_neither(spark, paths):
    """replace_together (a run's rows and its quarantine): everything is written before the first commit, so
    a write that fails leaves both tables as they were, and no files of the attempt behind."""
    from pyspark.sql import functions as F

    from schemas.warehouse import QUARANTINE, TEXT_PREDICTIONS
    from shardline.warehouse_files import live_files
    from shardline_ops import duck
    from spark_jobs.common.warehouse import Write, quarantine_write, replace_together, table_root

    dt = "2034-02-01"
    good = spark.sql("SELECT 'a' AS id, 's' AS source, 'x' AS predicted_label, 0.5D AS score, "
                     "array(named_struct('label', 'x', 'probability', 0.5D)) AS top_k, 'm' AS model_name, "
                     "'v' AS model_version, 'd' AS dataset_version, 'r' AS run_id, current_timestamp() AS scored_at, "
                     f"'{dt}' AS dt")
    bad = spark.createDataFrame([("q", "s", "r", "d")], "id string, source string, reason string, detail string")
    replace_together(spark, [quarantine_write(bad, "t", dt), Write(good, TEXT_PREDICTIONS, {"dt": dt})], paths)
    before = ({f for _, f in live_files(paths, TEXT_PREDICTIONS)}, {f for _, f in live_files(paths, QUARANTINE)})
    failing = good.withColumn("score", F.expr("raise_error('scoring broke')"))
    with pytest.raises(Exception, match="scoring broke"):
        replace_together(spark, [quarantine_write(bad.union(bad), "t", dt), Write(failing, TEXT_PREDICTIONS, {"dt": dt})],
                         paths)
    assert ({f for _, f in live_files(paths, TEXT_PREDICTIONS)}, {f for _, f in live_files(paths, QUARANTINE)}) == before
    assert duck.query(paths, f"SELECT count(*) FROM ml.quarantine WHERE dt = '{dt}'")[1] == [(1,)]
    part = table_root(paths, TEXT_PREDICTIONS) / f"dt={dt}"
    folders = {p for p in part.iterdir() if p.name.startswith("v-")}
    assert folders == {f.parent for f in before[0] if f.parent.parent == part}  # the failed attempt's folder is gone


def test_lock_waits_then_fails_clearly_and_dies_with_its_holder(tmp_path):
    lock = tmp_path / "_LOCK"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from shardline.storage import file_lock\n"
        "with file_lock(Path(sys.argv[1]), 'x'):\n    print('held', flush=True); time.sleep(60)"), str(lock)],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ShardlineError, match="another writer has held the test partition"):
            with file_lock(lock, "the test partition", timeout_s=1):
                pass
        holder.kill()  # SIGKILL: the kernel releases the lock
        holder.wait()
        with file_lock(lock, "the test partition", timeout_s=5):
            pass
    finally:
        holder.kill()


@pytest.mark.fault_injection
def test_two_writers_of_one_partition_take_turns(paths):
    """Two spark-submit-like processes replace the same partition at the same moment (each writer's
    staging takes seconds): both succeed (they take turns on the partition's lock; Delta alone would refuse
    the second commit), the partition holds exactly one writer's complete rows, and the other writer's rows
    are the previous version, readable with --as-of: nothing is lost."""
    from schemas.warehouse import TEXT_PREDICTIONS
    from shardline.warehouse_files import AsOf
    from shardline.warehouse_log import history
    from shardline_ops import duck

    env = {**os.environ, "SHARDLINE_HOME": str(paths.home)}
    start_at = time.time() + 25  # both JVMs are up by then
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, tag, "500", str(start_at)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in ("w1", "w2")]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and "DONE" in out, err[-3000:]
    (columns, rows) = duck.query(paths, "SELECT run_id, count(*) AS n, count(DISTINCT id) AS d FROM "
                                        "ml.text_predictions WHERE dt = '2034-01-01' GROUP BY run_id")
    assert len(rows) == 1 and rows[0][1:] == (500, 500), rows
    last = history(paths, TEXT_PREDICTIONS, 1)[0]
    assert (last["partition"], last["rows_added"], last["rows_removed"]) == ("dt=2034-01-01", 500, 500)
    earlier = duck.query(paths, "SELECT run_id, count(*) FROM ml.text_predictions WHERE dt = '2034-01-01' GROUP BY 1",
                         as_of=AsOf(version=last["version"] - 1))[1]
    assert earlier == [(({"w1", "w2"} - {rows[0][0]}).pop(), 500)]


@pytest.mark.fault_injection
def test_sigkill_mid_write_keeps_the_last_good_partition(paths):
    """A writer SIGKILLed (with its JVM) while writing a new version: no commit is made, readers keep the
    previous version, the lock is free, the next write succeeds, and vacuum removes the dead writer's files."""
    import signal

    from schemas.warehouse import TEXT_PREDICTIONS
    from shardline.warehouse_files import live_files
    from shardline.warehouse_log import history, vacuum
    from shardline_ops import duck
    from spark_jobs.common.warehouse import table_root

    env = {**os.environ, "SHARDLINE_HOME": str(paths.home)}
    dt, part = "2034-03-01", table_root(paths, TEXT_PREDICTIONS) / "dt=2034-03-01"

    def write(tag, n, pause, **kw):
        return subprocess.Popen([sys.executable, "-c", WRITER, tag, str(n), "0", dt, str(pause)], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)

    def rows():
        return duck.query(paths, f"SELECT run_id, count(*) FROM ml.text_predictions WHERE dt = '{dt}' GROUP BY 1")[1]

    first = write("good", 300, 0)
    assert first.wait(timeout=300) == 0, first.stderr.read()[-3000:]
    assert rows() == [("good", 300)]
    versions = len(history(paths, TEXT_PREDICTIONS))
    good_folder = {f.parent for _, f in live_files(paths, TEXT_PREDICTIONS) if f.parent.parent == part}
    doomed = write("doomed", 400, 60, start_new_session=True)
    deadline = time.time() + 240
    while not [p for p in part.iterdir() if p.name.startswith("v-") and p not in good_folder]:
        assert time.time() < deadline and doomed.poll() is None, "the writer never started writing"
        time.sleep(0.5)
    time.sleep(2)
    os.killpg(doomed.pid, signal.SIGKILL)  # the Python driver and its JVM
    doomed.wait(timeout=60)
    assert rows() == [("good", 300)]  # the last good version, whole
    assert len(history(paths, TEXT_PREDICTIONS)) == versions  # and no commit was made
    again = write("next", 200, 0)
    assert again.wait(timeout=300) == 0, again.stderr.read()[-3000:]
    assert rows() == [("next", 200)]
    live = {f.parent for _, f in live_files(paths, TEXT_PREDICTIONS) if f.parent.parent == part}
    vacuum(paths, retention_hours=0)  # what the dead writer left is no version's: vacuum removes it
    assert {p for p in part.iterdir() if p.name.startswith("v-")} == live
    assert rows() == [("next", 200)]
