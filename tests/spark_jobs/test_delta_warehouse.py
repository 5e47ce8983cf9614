"""The warehouse as Delta Lake tables (#42): what other engines read, time travel, history, vacuum, the migration
of a pre-Delta data folder, and what a killed appender leaves.

delta-rs's own query engine (``deltalake.QueryBuilder``, DataFusion: not Shardline's views, not DuckDB, not
Spark's catalog) reads the tables here, so "any Delta reader gets the same rows" is measured, not claimed."""
from __future__ import annotations

import datetime as _dt
import os
import shutil
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from schemas.warehouse import ALL_TABLES, IMAGE_PREDICTIONS, JOB_RUNS, QUARANTINE, SCORING_RUNS
from shardline.config import Paths, ShardlineError
from shardline.warehouse_files import is_delta, live_files, table_root
from shardline.warehouse_log import append_records, drop_uncommitted, ensure_tables, history, vacuum
from shardline.warehouse_migrate import migrate
from shardline_ops import duck
from shardline_ops.cli import main
from spark_jobs.common.warehouse import replace_partitions

DT = "2035-01-01"


def predictions(spark, n, dt, label="a", run_id="r1"):
    return (spark.range(n).selectExpr("concat('id', id) AS id", "'src' AS source", f"'{label}' AS predicted_label",
                                      "0.25 AS score",
                                      f"array(named_struct('label', '{label}', 'probability', 0.25D)) AS top_k",
                                      "'m' AS model_name", "'v1' AS model_version", "'d1' AS dataset_version",
                                      f"'{run_id}' AS run_id", "timestamp'2035-01-01 02:03:04.5' AS scored_at")
            .withColumn("dt", F.lit(dt)))


def delta_rs(paths: Paths, table, sql: str) -> list[dict]:
    """``sql`` over ``t`` = the table, run by delta-rs's own engine (DataFusion), rows as dicts."""
    from deltalake import DeltaTable, QueryBuilder

    result = QueryBuilder().register("t", DeltaTable(str(table_root(paths, table)))).execute(sql).read_all()
    columns = {name: result.column(name).to_pylist() for name in result.column_names}
    return [dict(zip(columns, values)) for values in zip(*columns.values())] if columns else []


def test_other_engines_read_the_same_rows_and_values(spark, paths):
    replace_partitions(spark, predictions(spark, 6, DT), IMAGE_PREDICTIONS, {"dt": DT})
    replace_partitions(spark, predictions(spark, 4, DT, label="b", run_id="r2"), IMAGE_PREDICTIONS, {"dt": DT})
    for table in ALL_TABLES:  # every table is a Delta table, created with the first writer
        assert is_delta(table_root(paths, table)), table.name
    ours = duck.query(paths, f"SELECT id, predicted_label, score, top_k, run_id, scored_at FROM ml.image_predictions "
                             f"WHERE dt = '{DT}' ORDER BY id")[1]
    theirs = delta_rs(paths, IMAGE_PREDICTIONS, f"SELECT id, predicted_label, score, top_k, run_id, scored_at FROM t "
                                               f"WHERE dt = '{DT}' ORDER BY id")
    assert len(ours) == len(theirs) == 4
    for mine, other in zip(ours, theirs):
        assert mine[:3] == (other["id"], other["predicted_label"], other["score"])
        assert [(k["label"], k["probability"]) for k in other["top_k"]] == [(k["label"], k["probability"]) for k in mine[3]]
        assert other["run_id"] == mine[4] == "r2"
        # one instant in both: Spark wrote microseconds since the epoch, UTC, as Delta wants
        assert other["scored_at"] == mine[5].replace(tzinfo=_dt.timezone.utc) == _dt.datetime(
            2035, 1, 1, 2, 3, 4, 500000, tzinfo=_dt.timezone.utc)
    # and counts per date agree for every table
    for table in ALL_TABLES:
        if "dt" not in table.schema.fieldNames():
            continue
        mine = dict(duck.query(paths, f"SELECT dt, count(*) FROM {table.qualified} GROUP BY dt")[1])
        other = {r["dt"]: r["n"] for r in delta_rs(paths, table, "SELECT dt, count(*) AS n FROM t GROUP BY dt")}
        assert mine == other, table.name


def test_as_of_reads_the_previous_version_and_history_names_the_run(spark, paths, capsys):
    dt = "2035-01-02"
    replace_partitions(spark, predictions(spark, 5, dt, run_id="first"), IMAGE_PREDICTIONS, {"dt": dt})
    replace_partitions(spark, predictions(spark, 3, dt, run_id="second"), IMAGE_PREDICTIONS, {"dt": dt})
    rows = history(paths, IMAGE_PREDICTIONS)
    assert rows[0]["partition"] == f"dt={dt}" and (rows[0]["rows_added"], rows[0]["rows_removed"]) == (3, 5)
    previous = rows[0]["version"] - 1
    sql = f"SELECT run_id, count(*) AS n FROM ml.image_predictions WHERE dt = '{dt}' GROUP BY 1"
    assert main(["query", sql, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["second,3"]
    assert main(["query", sql, "--format", "csv", "--as-of", str(previous)]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["first,5"]
    # a time: every table as it was then (before the table existed: empty)
    assert main(["query", sql, "--format", "csv", "--as-of", "2001-01-01T00:00:00Z"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == []
    assert main(["query", sql, "--as-of", "999999"]) == 2
    assert "has no version 999999" in capsys.readouterr().err
    assert main(["query", sql, "--as-of", "yesterday"]) == 2
    assert "give a version number" in capsys.readouterr().err
    # history in the CLI: which run wrote which date, with rows added and removed
    assert main(["warehouse", "history", "ml.image_predictions", "--format", "csv", "--limit", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "version,time,operation,partition,job,run_id,rows_added,rows_removed"
    assert out[1].split(",")[3] == f"dt={dt}" and out[1].endswith(",3,5")
    assert main(["warehouse", "history", "ml.nope"]) == 2


def test_history_carries_the_job_and_run_of_each_commit(paths):
    from shardline.warehouse_log import set_commit_info

    set_commit_info(job="batch_inference_image", run_id="scheduled__x", dt="2035-01-03")
    try:
        append_records(paths, SCORING_RUNS, [{"run_id": "scheduled__x", "kind": "image", "status": "failed",
                                              "error": "boom", "started_at": _dt.datetime(2035, 1, 3)}])
    finally:
        set_commit_info()
    top = history(paths, SCORING_RUNS, 1)[0]
    assert (top["job"], top["run_id"], top["dt"], top["rows_added"]) == ("batch_inference_image", "scheduled__x",
                                                                          "2035-01-03", 1)
    got = duck.query(paths, "SELECT status, error, started_at FROM ml.scoring_runs WHERE run_id = 'scheduled__x'")[1]
    assert got == [("failed", "boom", _dt.datetime(2035, 1, 3))]


def test_a_killed_append_is_invisible_and_removed_by_the_next(paths):
    """An appender killed between moving its file in and committing: no reader of the log sees the file;
    the next append (holding the lock every appender takes) deletes it, so Spark's folder listing agrees."""
    root = table_root(paths, JOB_RUNS)
    ensure_tables(paths)
    orphan = root / "20350101T000000-deadbeef.parquet"
    pq.write_table(pa.table({"dt": ["2035-01-04"], "job": ["ghost"]}), orphan)
    assert orphan not in {f for _, f in live_files(paths, JOB_RUNS)}
    assert duck.query(paths, "SELECT count(*) FROM ml.job_runs WHERE job = 'ghost'")[1] == [(0,)]
    drop_uncommitted(paths, JOB_RUNS)
    assert not orphan.exists()


def test_vacuum_keeps_what_versions_in_retention_use(spark, paths, capsys):
    dt = "2035-01-05"
    replace_partitions(spark, predictions(spark, 2, dt), IMAGE_PREDICTIONS, {"dt": dt})
    replace_partitions(spark, predictions(spark, 3, dt), IMAGE_PREDICTIONS, {"dt": dt})
    live = {f for _, f in live_files(paths, IMAGE_PREDICTIONS)}
    replaced = [f for f in table_root(paths, IMAGE_PREDICTIONS).glob(f"dt={dt}/v-*/*.parquet") if f not in live]
    assert replaced
    stale = table_root(paths, IMAGE_PREDICTIONS) / f"dt={dt}" / "v-never-committed"
    stale.mkdir()
    pq.write_table(pa.table({"id": ["x"]}), stale / "part-0.parquet")
    # within retention (the default 7 days): nothing is deleted, the previous version stays readable
    assert main(["warehouse", "vacuum", "--dry-run"]) == 0
    assert "ml.image_predictions: would delete 0 file(s)" in capsys.readouterr().out
    assert all(f.exists() for f in replaced)
    # a write that never committed, 30 days ago: no version names it, it is older than retention -> deleted;
    # the files replaced just now are kept (the replacing commit is younger than the retention)
    old = time.time() - 30 * 86400
    os.utime(stale / "part-0.parquet", (old, old))
    done = vacuum(paths, retention_hours=24 * 7)
    assert not stale.exists() and "dt=2035-01-05/v-never-committed/part-0.parquet" in done[IMAGE_PREDICTIONS.qualified]
    assert all(f.exists() for f in replaced)
    vacuum(paths, retention_hours=0)  # no retention: only what the current version uses stays
    assert all(not f.exists() for f in replaced)
    assert all(f.exists() for f in live)
    assert duck.query(paths, f"SELECT count(*) FROM ml.image_predictions WHERE dt = '{dt}'")[1] == [(3,)]


@pytest.fixture
def legacy_home(tmp_path, monkeypatch):
    """A data folder in the pre-Delta layout, as the code before #42 wrote it: version folders with Spark's
    INT96 timestamps, ``_CURRENT`` pointers, an older version beside the live one, log files in the folder."""
    home = tmp_path / "old data"
    db = home / "warehouse" / "ml.db"
    preds = db / "image_predictions"
    for dt, live_rows in (("2030-01-01", 4), ("2030-01-02", 2)):
        part = preds / f"dt={dt}"
        for name, n in (("v-20300101T000000000000-old00000", 9), (f"v-20300102T000000000000-{uuid.uuid4().hex[:8]}", live_rows)):
            (part / name).mkdir(parents=True)
            data = pa.table({"id": [f"i{k}" for k in range(n)], "predicted_label": ["a"] * n,
                             "scored_at": pa.array([_dt.datetime(2030, 1, 1, 5)] * n, pa.timestamp("ns"))})
            pq.write_table(data, part / name / "part-00000.parquet", use_deprecated_int96_timestamps=True)
        (part / "_CURRENT").write_text(name + "\n")
    q = db / "quarantine" / "stage=clean_text" / "dt=2030-01-01"
    (q / "v-1").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["q1"], "source": ["s"], "reason": ["r"], "detail": ["d"]}), q / "v-1" / "p.parquet")
    (q / "_CURRENT").write_text("v-1\n")
    runs = db / "job_runs"
    runs.mkdir(parents=True)
    for k in range(3):
        pq.write_table(pa.table({"dt": ["2030-01-01"], "job": [f"j{k}"], "records_in": pa.array([k], pa.int64())}),
                       runs / f"2030010{k}T000000-abc-part-0.parquet")
    monkeypatch.setenv("SHARDLINE_HOME", str(home))
    return Paths.from_env()


def test_a_pre_delta_data_folder_migrates_once(legacy_home, capsys, caplog):
    paths = legacy_home
    with pytest.raises(ShardlineError, match="pre-Delta layout"):
        duck.query(paths, "SELECT count(*) FROM ml.image_predictions")
    moved = migrate(paths)
    assert moved == ["ml.quarantine", "ml.job_runs", "ml.image_predictions"]
    assert "migrated ml.image_predictions to Delta Lake: 6 rows in 2 partitions" in caplog.text
    assert migrate(paths) == []  # idempotent
    ensure_tables(paths)
    rows = duck.query(paths, "SELECT dt, count(*), min(scored_at) FROM ml.image_predictions GROUP BY dt ORDER BY dt")[1]
    assert rows == [("2030-01-01", 4, _dt.datetime(2030, 1, 1, 5)), ("2030-01-02", 2, _dt.datetime(2030, 1, 1, 5))]
    assert delta_rs(paths, IMAGE_PREDICTIONS, "SELECT count(*) AS n FROM t")[0]["n"] == 6
    assert duck.query(paths, "SELECT count(*) FROM ml.job_runs")[1] == [(3,)]
    assert duck.query(paths, "SELECT stage, count(*) FROM ml.quarantine GROUP BY 1")[1] == [("clean_text", 1)]
    # nothing of the old layout is left: no pointers, no old versions, no old log files
    db = paths.warehouse / "ml.db"
    assert not list(db.rglob("_CURRENT"))
    assert sorted(p.name.split("-")[0] + "-" + p.name.split("-")[1] for p in db.glob("image_predictions/dt=*/v-*")) == \
        ["v-migrated", "v-migrated"]
    assert len(list((db / "job_runs").glob("*.parquet"))) == 3
    assert history(paths, QUARANTINE)[-1]["operation"].startswith("CREATE TABLE")


def test_a_migration_killed_before_its_commit_is_redone(legacy_home):
    paths = legacy_home
    preds = table_root(paths, IMAGE_PREDICTIONS)
    copy = preds.parent / "copy"
    shutil.copytree(preds, copy)
    (preds / "dt=2030-01-01" / "v-migrated-dead0000").mkdir()  # what a killed attempt leaves: files, no log
    pq.write_table(pa.table({"id": ["zombie"]}), preds / "dt=2030-01-01" / "v-migrated-dead0000" / "part-00000.parquet")
    migrate(paths)
    assert duck.query(paths, "SELECT count(*) FROM ml.image_predictions")[1] == [(6,)]
    assert not (preds / "dt=2030-01-01" / "v-migrated-dead0000").exists()


def test_failed_and_killed_runs_leave_their_rows(spark, paths, capsys):
    """A scoring run that cannot start (no such model) still appends its ml.scoring_runs row; a job stopped
    by SIGTERM (Airflow's timeout) records itself as failed in ml.job_runs and exits 143."""
    import signal

    from spark_jobs import batch_inference
    from spark_jobs.common.job import Counts, base_parser, run_job

    assert batch_inference.main(["--date", "2035-02-01", "--kind", "text", "--model-version", "no-such",
                                 "--run-id", "doomed-scoring"]) == 2
    assert "no-such" in capsys.readouterr().err
    rows = duck.query(paths, "SELECT kind, dt, status, rows_in, error FROM ml.scoring_runs "
                             "WHERE run_id = 'doomed-scoring'")[1]
    assert len(rows) == 1 and rows[0][:4] == ("text", "2035-02-01", "failed", 0) and "no-such" in rows[0][4]

    def body(ctx):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the job works
        time.sleep(5)
        return Counts(0, 0, 0)

    args = base_parser("t").parse_args(["--date", "2035-02-02", "--run-id", "doomed-job"])
    before = signal.getsignal(signal.SIGTERM)
    assert run_job("sleeper", args, body) == 143
    assert signal.getsignal(signal.SIGTERM) == before  # the job's handler is gone again
    assert duck.query(paths, "SELECT job, status FROM ml.job_runs WHERE run_id = 'doomed-job'")[1] == [
        ("sleeper", "failed")]


def test_predictions_carry_the_split_of_the_models_dataset(spark, tmp_path):
    """with_split: train/val/test from the model's dataset files, unseen for anything else; the accuracy view
    then reports each split apart, so held-out accuracy is one WHERE away."""
    from spark_jobs.batch_inference import with_split

    dataset = tmp_path / "ds"
    for split, ids in (("train", ["a", "b"]), ("val", ["c"]), ("test", ["d", "e"])):
        spark.createDataFrame([(i, 1) for i in ids], "id string, x int").write.parquet(str(dataset / split))
    scored = spark.createDataFrame([(i,) for i in "abcdefg"], "id string")
    got = {r["id"]: r["split"] for r in with_split(scored, spark, {"dataset_path": str(dataset)}).collect()}
    assert got == {"a": "train", "b": "train", "c": "val", "d": "test", "e": "test", "f": "unseen", "g": "unseen"}
    assert {r["split"] for r in with_split(scored, spark, {}).collect()} == {"unseen"}


def test_a_column_added_to_the_schema_reaches_old_tables_as_null(tmp_path):
    """A table created before a column existed (predictions before `split`) gets it added to its Delta schema by
    the next writer; its old files read as null, in DuckDB's views and in delta-rs."""
    import json

    from deltalake import DeltaTable, Schema

    from schemas.warehouse import TEXT_PREDICTIONS
    from shardline.warehouse_files import add_action, file_schema
    from shardline.warehouse_log import ensure_table

    paths = Paths(tmp_path / "home")
    root = table_root(paths, TEXT_PREDICTIONS)
    old_schema = json.loads(TEXT_PREDICTIONS.schema.json())
    old_schema["fields"] = [f for f in old_schema["fields"] if f["name"] != "split"]
    DeltaTable.create(str(root), Schema.from_json(json.dumps(old_schema)), partition_by=["dt"])
    folder = root / "dt=2035-03-01" / "v-old"
    folder.mkdir(parents=True)
    schema = file_schema(TEXT_PREDICTIONS).remove(file_schema(TEXT_PREDICTIONS).get_field_index("split"))
    pq.write_table(pa.Table.from_pylist([{"id": "x", "predicted_label": "a"}, {"id": "y", "predicted_label": "b"}],
                                        schema=schema), folder / "part-0.parquet")
    DeltaTable(str(root)).create_write_transaction(
        [add_action(root, folder / "part-0.parquet", {"dt": "2035-03-01"})[0]], mode="append",
        schema=DeltaTable(str(root)).schema(), partition_by=["dt"])
    ensure_table(paths, TEXT_PREDICTIONS)
    assert "split" in {f.name for f in DeltaTable(str(root)).schema().fields}
    (paths.warehouse / "ml.db").mkdir(parents=True, exist_ok=True)
    assert duck.query(paths, "SELECT count(*), count(split) FROM ml.text_predictions")[1] == [(2, 0)]
    assert delta_rs(paths, TEXT_PREDICTIONS, "SELECT count(*) AS n, count(split) AS s FROM t") == [{"n": 2, "s": 0}]
