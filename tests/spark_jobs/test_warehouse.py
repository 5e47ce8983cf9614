from pyspark.sql import functions as F

from schemas.warehouse import ALL_TABLES, TEXT_PREDICTIONS
from spark_jobs.common.warehouse import ensure_tables, replace_partitions, write_quarantine


def preds(spark, n, dt):
    return (spark.range(n).selectExpr("concat('id', id) AS id", "'src' AS source", "'a' AS predicted_label",
                                      "0.5 AS score", "'m' AS model_name", "'v1' AS model_version",
                                      "'r' AS run_id", "current_timestamp() AS scored_at")
            .withColumn("dt", F.lit(dt)))


def count(spark, table, dt):
    return spark.table(table).filter(F.col("dt") == dt).count()


def test_rerun_replaces_only_its_date(spark):
    t = TEXT_PREDICTIONS.qualified
    replace_partitions(spark, preds(spark, 5, "2031-01-01"), TEXT_PREDICTIONS, {"dt": "2031-01-01"})
    replace_partitions(spark, preds(spark, 5, "2031-01-01"), TEXT_PREDICTIONS, {"dt": "2031-01-01"})
    replace_partitions(spark, preds(spark, 3, "2031-01-02"), TEXT_PREDICTIONS, {"dt": "2031-01-02"})
    assert (count(spark, t, "2031-01-01"), count(spark, t, "2031-01-02")) == (5, 3)
    replace_partitions(spark, preds(spark, 0, "2031-01-02"), TEXT_PREDICTIONS, {"dt": "2031-01-02"})
    assert (count(spark, t, "2031-01-01"), count(spark, t, "2031-01-02")) == (5, 0)


def test_quarantine_is_replaced_per_stage_and_date(spark):
    bad = spark.createDataFrame([("x", "s", "r", "d")], "id string, source string, reason string, detail string")
    write_quarantine(spark, bad, "stage_a", "2031-02-01")
    write_quarantine(spark, bad, "stage_a", "2031-02-01")
    write_quarantine(spark, bad.union(bad), "stage_b", "2031-02-01")
    rows = spark.sql("SELECT stage, count(*) n FROM ml.quarantine WHERE dt = '2031-02-01' GROUP BY stage").collect()
    assert {r["stage"]: r["n"] for r in rows} == {"stage_a": 1, "stage_b": 2}


def test_live_tables_match_schemas(spark):
    ensure_tables(spark)
    for table in ALL_TABLES:
        live = spark.table(table.qualified).schema
        assert [(f.name, f.dataType) for f in live] == [(f.name, f.dataType) for f in table.schema], table.name
