"""Warehouse writes: create tables from ``schemas.warehouse`` and replace exactly one run's partitions.

Every write is a dynamic-partition overwrite (``spark.sql.sources.partitionOverwriteMode=dynamic``):
Spark stages the new files and swaps in only the partitions present in the DataFrame, so rerunning a
date replaces that date and leaves others alone. An empty result drops the partition explicitly, since
an overwrite with no rows would otherwise leave a stale partition behind.
"""
from __future__ import annotations

import datetime as _dt
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas.warehouse import ALL_TABLES, DATABASE, JOB_RUNS, QUARANTINE, Table

log = logging.getLogger(__name__)


def ddl(table: Table) -> str:
    cols = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in table.schema.fields)
    parts = f" PARTITIONED BY ({', '.join(table.partition_by)})" if table.partition_by else ""
    return f"CREATE TABLE IF NOT EXISTS {table.qualified} ({cols}) USING parquet{parts}"


def ensure_tables(spark: SparkSession, tables: tuple[Table, ...] = ALL_TABLES) -> None:
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    for table in tables:
        spark.sql(ddl(table))


def conform(df: DataFrame, table: Table) -> DataFrame:
    """Select and cast columns into the table's order (insertInto is positional)."""
    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in table.schema.fields])


def replace_partitions(spark: SparkSession, df: DataFrame, table: Table, partition: dict[str, str]) -> None:
    """Replace the partition ``partition`` of ``table`` with ``df`` (whose rows must all belong to it)."""
    ensure_tables(spark, (table,))
    spec = ", ".join(f"{k}='{v}'" for k, v in partition.items())
    if df.isEmpty():
        spark.sql(f"ALTER TABLE {table.qualified} DROP IF EXISTS PARTITION ({spec})")
        return
    conform(df, table).write.insertInto(table.qualified, overwrite=True)


def write_quarantine(spark: SparkSession, rejected: DataFrame, stage: str, dt: str) -> None:
    """``rejected`` has id, source, reason, detail; it replaces this stage's quarantine for ``dt``."""
    rows = rejected.select("id", "source", "reason", "detail").withColumns(
        {"stage": F.lit(stage), "dt": F.lit(dt)})
    replace_partitions(spark, rows, QUARANTINE, {"stage": stage, "dt": dt})


def append_job_run(spark: SparkSession, *, dt: str, job: str, run_id: str, records_in: int,
                   records_out: int, records_quarantined: int, started_at: _dt.datetime,
                   status: str) -> None:
    """``ml.job_runs`` is a log: one appended row per job run, whatever its outcome."""
    ensure_tables(spark, (JOB_RUNS,))
    finished_at = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
    row = [(dt, job, run_id, records_in, records_out, records_quarantined,
            started_at.replace(tzinfo=None), finished_at, status)]
    spark.createDataFrame(row, JOB_RUNS.schema).coalesce(1).write.insertInto(JOB_RUNS.qualified)
    log.info("job_runs: %s %s in=%d out=%d quarantined=%d status=%s",
             job, dt, records_in, records_out, records_quarantined, status)
