"""Nothing lost (issue #19): committed versions are never rewritten, an empty pointer is an error that
prunes nothing, two writers of one partition take turns, a lock dies with its holder."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from shardline.config import ShardlineError
from shardline.storage import commit_dir, file_lock, read_pointer, staging_dir
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


def test_empty_pointer_is_an_error_and_prunes_nothing(spark, paths):
    from schemas.warehouse import TEXT_PREDICTIONS
    from shardline_ops import duck
    from spark_jobs.common.warehouse import replace_partitions, table_root

    df = spark.sql("SELECT 'a' AS id, 's' AS source, 'x' AS predicted_label, 0.5D AS score, "
                   "array(named_struct('label', 'x', 'probability', 0.5D)) AS top_k, 'm' AS model_name, "
                   "'v' AS model_version, 'd' AS dataset_version, 'r' AS run_id, current_timestamp() AS scored_at, "
                   "'2034-02-01' AS dt")
    replace_partitions(spark, df, TEXT_PREDICTIONS, {"dt": "2034-02-01"})
    replace_partitions(spark, df, TEXT_PREDICTIONS, {"dt": "2034-02-01"})
    part = table_root(paths, TEXT_PREDICTIONS) / "dt=2034-02-01"
    versions = sorted(p.name for p in part.iterdir() if p.name.startswith("v-"))
    assert len(versions) == 2
    (part / "_CURRENT").write_text("")  # what a power cut can leave of an unsynced pointer write
    with pytest.raises(ShardlineError, match="is empty"):
        replace_partitions(spark, df, TEXT_PREDICTIONS, {"dt": "2034-02-01"})
    assert sorted(p.name for p in part.iterdir() if p.name.startswith("v-")) == versions  # nothing pruned
    with pytest.raises(ShardlineError, match="is empty"):
        duck.query(paths, "SELECT count(*) FROM ml.text_predictions")
    (part / "_CURRENT").write_text(versions[-1] + "\n")  # the repair the message asks for
    assert read_pointer(part / "_CURRENT") == versions[-1]


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
    staging takes seconds): both succeed, the partition holds exactly one writer's complete rows, no
    staging is left, and the other version is the previous one."""
    from schemas.warehouse import TEXT_PREDICTIONS
    from shardline_ops import duck
    from spark_jobs.common.warehouse import table_root

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
    part = table_root(paths, TEXT_PREDICTIONS) / "dt=2034-01-01"
    assert not [p for p in part.iterdir() if p.name.startswith("_staging")]
    assert len([p for p in part.iterdir() if p.name.startswith("v-")]) == 2


@pytest.mark.fault_injection
def test_sigkill_mid_write_keeps_the_last_good_partition(paths):
    """A writer SIGKILLed (with its JVM) while staging a new version: readers keep the previous version,
    the lock is free, and the next write succeeds and removes the dead writer's staging."""
    import signal

    from schemas.warehouse import TEXT_PREDICTIONS
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
    doomed = write("doomed", 400, 60, start_new_session=True)
    deadline = time.time() + 240
    while not any(p.name.startswith("_staging") for p in part.iterdir()):
        assert time.time() < deadline and doomed.poll() is None, "the writer never started staging"
        time.sleep(0.5)
    time.sleep(2)
    os.killpg(doomed.pid, signal.SIGKILL)  # the Python driver and its JVM
    doomed.wait(timeout=60)
    assert rows() == [("good", 300)]  # the last good version, whole
    again = write("next", 200, 0)
    assert again.wait(timeout=300) == 0, again.stderr.read()[-3000:]
    assert rows() == [("next", 200)]
    assert not [p for p in part.iterdir() if p.name.startswith("_staging")]
