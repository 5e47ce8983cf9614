"""Flagged records: the shared shape of the cleaning jobs' output.

A cleaning transform returns every input record once, with ``reason``/``detail`` set when it is rejected.
These helpers mark exact duplicates, split accepted from rejected, and write both for a run date, so
the accounting (in = accepted + rejected) is computed from one materialized copy of the records.
"""
from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections.abc import Callable, Iterator

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from schemas.warehouse import Table
from shardline.config import Paths
from spark_jobs.common import report as run_report
from spark_jobs.common.job import Counts, JobContext
from spark_jobs.common.warehouse import Write, quarantine_write, replace_together


def flag_duplicates(flagged: DataFrame, order_by: list[str | Column]) -> DataFrame:
    """Records sharing a ``content_hash``: the first by ``order_by`` is kept, the others become
    ``duplicate`` with a detail naming the kept id. Already-rejected records are left alone."""
    w = Window.partitionBy("content_hash").orderBy(*order_by)
    is_dup = F.col("reason").isNull() & F.col("content_hash").isNotNull() & (F.row_number().over(w) > 1)
    return (flagged
            .withColumns({"_kept_id": F.first("id").over(w), "_dup": is_dup})
            .withColumns({
                "reason": F.when(F.col("_dup"), F.lit("duplicate")).otherwise(F.col("reason")),
                "detail": F.when(F.col("_dup"), F.concat(F.lit("duplicate of "), F.col("_kept_id")))
                           .otherwise(F.col("detail")),
            })
            .drop("_kept_id", "_dup"))


def accepted(flagged: DataFrame, dt: str) -> DataFrame:
    return flagged.filter(F.col("reason").isNull()).drop("reason", "detail").withColumn("dt", F.lit(dt))


def rejected(flagged: DataFrame) -> DataFrame:
    return flagged.filter(F.col("reason").isNotNull()).select("id", "source", "reason", "detail")


SCRATCH_MAX_AGE_S = 24 * 3600


@contextlib.contextmanager
def materialized(spark: SparkSession, df: DataFrame, paths: Paths, name: str) -> Iterator[DataFrame]:
    """``df`` computed once into a scratch Parquet folder under ``<data>/scratch/`` and read back, so every
    later query on it is a plain scan; the folder is removed on the way out.

    Files rather than a ``persist(DISK_ONLY)``: a cached DataFrame keeps its whole plan, and the cleaning
    jobs' plans are large (the image job's near-duplicate matching with its LSH tables), so every small query
    on cached records (counts, the two writes, the report's aggregations) pays for the plan again, several
    times the cost of a scan of files (docs/BENCHMARKS.md). Like a disk cache, the folder holds the whole
    corpus on disk and none of it on the heap. It lives under the data
    folder, which every executor of a cluster sees, as it sees the warehouse. Leftovers of a killed run
    are swept after a day (another run of the same job may still be reading its own)."""
    root = paths.home / "scratch"
    if root.exists():
        for old in root.iterdir():
            with contextlib.suppress(OSError):
                if time.time() - old.stat().st_mtime > SCRATCH_MAX_AGE_S:
                    shutil.rmtree(old, ignore_errors=True)
    folder = root / f"{name}-{uuid.uuid4().hex[:12]}"
    try:
        df.write.parquet(str(folder))
        yield spark.read.parquet(str(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_flagged(spark: SparkSession, flagged: DataFrame, table: Table, stage: str, dt: str,
                  report: Callable[[DataFrame, Counts], None] | None = None, paths: Paths | None = None) -> Counts:
    """Write accepted records to ``table`` and rejects to ``ml.quarantine`` for ``dt``; return the counts.

    ``report`` gets the flagged records and the counts after both writes, to summarise the run from the
    same data that was written. The records are computed once, into scratch files (``materialized``):
    they are the whole corpus (texts, image bytes), and a heap-first cache of them failed the 4M-document
    text job at a 2 GB heap (OutOfMemoryError unrolling a cached block, benchmarks/scale.py)."""
    paths = paths or Paths.from_env()
    with materialized(spark, flagged, paths, stage) as flagged:
        good, bad = accepted(flagged, dt), rejected(flagged)
        counts = Counts(flagged.count(), good.count(), bad.count()).check()
        # both written before either is committed: the cleaned rows and their rejects appear together
        replace_together(spark, [Write(good, table, {"dt": dt}), quarantine_write(bad, stage, dt)], paths)
        if report is not None:
            report(flagged, counts)
    return counts


def write_cleaned(ctx: JobContext, flagged: DataFrame, table: Table,
                  build_report: Callable[[DataFrame, Counts], tuple[dict, dict[str, bytes]]]) -> Counts:
    """The cleaning jobs' one path after their transform: accepted rows to ``table``, rejects to
    ``ml.quarantine``, then the run's report (JSON, HTML and its files) from the same written data."""
    def publish(persisted: DataFrame, counts: Counts) -> None:
        rep, files = build_report(persisted, counts)
        run_report.publish(ctx.paths, ctx.job, ctx.dt, rep, files)

    return write_flagged(ctx.spark, flagged, table, ctx.job, ctx.dt, report=publish, paths=ctx.paths)
