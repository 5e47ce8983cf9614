"""Warehouse storage: Delta Lake tables, per-date partition replacement in one commit, logs, history, the
live schemas, and readers that are not Shardline's."""
from pyspark.sql import functions as F

from schemas.warehouse import ALL_TABLES, SCORING_RUNS, TEXT_PREDICTIONS, VIEWS
from shardline.warehouse_files import AsOf, is_delta, live_files
from shardline.warehouse_log import history
from spark_jobs.common.warehouse import (
    append_rows,
    catalog_sql,
    replace_partitions,
    table_root,
    write_quarantine,
)


def preds(spark, n, dt, run_id="r"):
    return (spark.range(n).selectExpr("concat('id', id) AS id", "'src' AS source", "'a' AS predicted_label",
                                      "0.5 AS score", "array(named_struct('label', 'a', 'probability', 0.5D)) AS top_k",
                                      "'m' AS model_name", "'v1' AS model_version", "'d1' AS dataset_version",
                                      f"'{run_id}' AS run_id", "current_timestamp() AS scored_at")
            .withColumn("dt", F.lit(dt)))


def count(spark, table, dt):
    return spark.table(table).filter(F.col("dt") == dt).count()


def test_rerun_replaces_only_its_date(spark, paths):
    t = TEXT_PREDICTIONS.qualified
    replace_partitions(spark, preds(spark, 5, "2031-01-01"), TEXT_PREDICTIONS, {"dt": "2031-01-01"})
    replace_partitions(spark, preds(spark, 5, "2031-01-01"), TEXT_PREDICTIONS, {"dt": "2031-01-01"})
    replace_partitions(spark, preds(spark, 3, "2031-01-02"), TEXT_PREDICTIONS, {"dt": "2031-01-02"})
    assert (count(spark, t, "2031-01-01"), count(spark, t, "2031-01-02")) == (5, 3)
    replace_partitions(spark, preds(spark, 0, "2031-01-02"), TEXT_PREDICTIONS, {"dt": "2031-01-02"})
    assert (count(spark, t, "2031-01-01"), count(spark, t, "2031-01-02")) == (5, 0)
    replace_partitions(spark, preds(spark, 7, "2031-01-01"), TEXT_PREDICTIONS, {"dt": "2031-01-01"})
    assert count(spark, t, "2031-01-01") == 7
    # every write was one Delta commit that says what it did; the previous version stays readable
    root = table_root(paths, TEXT_PREDICTIONS)
    assert is_delta(root)
    mine = [h for h in history(paths, TEXT_PREDICTIONS) if h["partition"] in ("dt=2031-01-01", "dt=2031-01-02")]
    assert [(h["partition"], h["rows_added"], h["rows_removed"]) for h in mine] == [
        ("dt=2031-01-01", 7, 5), ("dt=2031-01-02", 0, 3), ("dt=2031-01-02", 3, 0),
        ("dt=2031-01-01", 5, 5), ("dt=2031-01-01", 5, 0)]
    before = AsOf(version=mine[0]["version"] - 1)
    assert sum(1 for spec, _ in live_files(paths, TEXT_PREDICTIONS, before) if spec == (("dt", "2031-01-01"),)) >= 1
    old_rows = sum(pq_rows(f) for spec, f in live_files(paths, TEXT_PREDICTIONS, before) if spec == (("dt", "2031-01-01"),))
    assert old_rows == 5


def pq_rows(f):
    import pyarrow.parquet as pq

    return pq.ParquetFile(f).metadata.num_rows


def test_quarantine_is_replaced_per_stage_and_date(spark):
    bad = spark.createDataFrame([("x", "s", "r", "d")], "id string, source string, reason string, detail string")
    write_quarantine(spark, bad, "stage_a", "2031-02-01")
    write_quarantine(spark, bad, "stage_a", "2031-02-01")
    write_quarantine(spark, bad.union(bad), "stage_b", "2031-02-01")
    rows = spark.sql("SELECT stage, count(*) n FROM ml.quarantine WHERE dt = '2031-02-01' GROUP BY stage").collect()
    assert {r["stage"]: r["n"] for r in rows} == {"stage_a": 1, "stage_b": 2}


def test_log_tables_append_whole_files(spark, paths):
    before = spark.table(SCORING_RUNS.qualified).count()
    row = spark.createDataFrame([tuple([None] * len(SCORING_RUNS.schema))], SCORING_RUNS.schema)
    append_rows(spark, row.withColumn("run_id", F.lit("x")), SCORING_RUNS)
    append_rows(spark, row.withColumn("run_id", F.lit("y")), SCORING_RUNS)
    assert spark.table(SCORING_RUNS.qualified).count() == before + 2
    assert not list((table_root(paths, SCORING_RUNS) / "_staging").iterdir())


def test_live_tables_and_views_match_schemas(spark, paths):
    for table in ALL_TABLES:
        live = spark.table(table.qualified).schema
        assert [(f.name, f.dataType) for f in live] == [(f.name, f.dataType) for f in table.schema], table.name
    names = {r["tableName"] for r in spark.sql("SHOW TABLES IN ml").collect()}
    assert names == {t.name for t in ALL_TABLES} | set(VIEWS)
    for view in VIEWS:
        spark.table(f"ml.{view}").count()  # every view resolves against the live tables
    # the init file spark-sql gets registers the same tables
    assert sum(s.startswith("CREATE TABLE") for s in catalog_sql(paths)) == len(ALL_TABLES)


def test_monitoring_views(spark):
    from schemas.warehouse import CLEAN_TEXT

    clean = spark.createDataFrame([(f"id{i}", "s", "a" if i < 3 else "b", "t", "h", "en", 1, 0, "2031-03-01")
                                   for i in range(4)], CLEAN_TEXT.schema)
    replace_partitions(spark, clean, CLEAN_TEXT, {"dt": "2031-03-01"})
    replace_partitions(spark, preds(spark, 4, "2031-03-01"), TEXT_PREDICTIONS, {"dt": "2031-03-01"})  # all 'a'
    acc = spark.sql("SELECT * FROM ml.prediction_accuracy WHERE dt = '2031-03-01'").collect()
    assert [(r["kind"], r["n_labeled"], r["n_correct"]) for r in acc] == [("text", 4, 3)]
    b = preds(spark, 4, "2031-03-02").withColumn("predicted_label", F.when(F.col("id") < "id2", "a").otherwise("b"))
    replace_partitions(spark, b, TEXT_PREDICTIONS, {"dt": "2031-03-02"})
    drift = spark.sql("SELECT * FROM ml.prediction_drift WHERE kind = 'text' AND dt = '2031-03-02'").collect()
    assert drift[0]["prev_dt"] == "2031-03-01" and abs(drift[0]["max_share_change"] - 0.5) < 1e-9
    assert drift[0]["psi"] > 0.2
