"""Near-duplicate matching in Spark, shared by the image and text cleaners.

Both cleaners reduce a record to LSH bucket keys - (band, key) rows - and hand them here:

1. ``bucket_pairs``: records sharing a bucket become candidate pairs, without an all-pairs join over the
   corpus. A bucket larger than ``max_bucket`` (skew: blank images, boilerplate pages) is not expanded
   quadratically: its members are ordered and each is paired only with the next ``max_bucket`` members,
   so the work stays linear in the bucket's size.
2. The caller verifies candidates with the exact measure (Hamming distance, estimated Jaccard).
3. ``representatives``: each record with a verified neighbour that ranks before it becomes a duplicate of
   the best-ranked such neighbour. Ranks are data (size, id), never row order, so the kept record and
   every id are the same across reruns and partitionings.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F


def bucket_pairs(keys: DataFrame, max_bucket: int) -> DataFrame:
    """``keys``: (id, band, key, order) -> distinct candidate pairs (a, b) with a < b.

    Pass the representative rank as ``order``: then in an oversized bucket every member is still paired
    with the members ranked just before it, so a bucket full of true duplicates keeps exactly one."""
    if max_bucket < 2:
        raise ValueError(f"max_bucket must be at least 2, got {max_bucket}")
    bucket = Window.partitionBy("band", "key")
    ranked = (keys.withColumn("_n", F.count(F.lit(1)).over(bucket))
              .filter(F.col("_n") > 1)
              .withColumn("_rn", F.row_number().over(bucket.orderBy("order", "id")) - 1)
              .withColumn("_blk", F.floor(F.col("_rn") / max_bucket)))
    left = ranked.select("band", "key", "_blk", "_rn", F.col("id").alias("_a"))
    right = ranked.select("band", "key", F.explode(F.array(F.col("_blk"), F.col("_blk") - 1)).alias("_blk"),
                          F.col("_rn").alias("_rn_b"), F.col("id").alias("_b"))
    pairs = (left.join(right, ["band", "key", "_blk"])
             .filter((F.col("_rn_b") > F.col("_rn")) & (F.col("_rn_b") - F.col("_rn") <= max_bucket)))
    return (pairs.select(F.least("_a", "_b").alias("a"), F.greatest("_a", "_b").alias("b"))
            .filter(F.col("a") != F.col("b")).distinct())


def representatives(edges: DataFrame, ranks: DataFrame) -> DataFrame:
    """``edges``: verified pairs (a, b, score); ``ranks``: (id, rank) with an orderable rank, lower is kept.

    Returns (id, dup_of, score): every record that has a neighbour ranked before it, with the best one.
    """
    both = edges.select("a", "b", "score").unionByName(
        edges.select(F.col("b").alias("a"), F.col("a").alias("b"), "score"))
    ra = ranks.select(F.col("id").alias("a"), F.col("rank").alias("rank_a"))
    rb = ranks.select(F.col("id").alias("b"), F.col("rank").alias("rank_b"))
    better = both.join(ra, "a").join(rb, "b").filter(F.col("rank_b") < F.col("rank_a"))
    best = F.min(F.struct("rank_b", "b", "score"))
    return (better.groupBy("a").agg(best.alias("_best"))
            .select(F.col("a").alias("id"), F.col("_best.b").alias("dup_of"), F.col("_best.score").alias("score")))


def mark(flagged: DataFrame, dups: DataFrame, reason: str, detail: Column) -> DataFrame:
    """Set ``reason``/``detail`` on the records listed in ``dups`` (id, dup_of, score); ``detail`` may use
    the columns ``dup_of`` and ``score``. Records already rejected are left as they are."""
    joined = flagged.join(dups.withColumnRenamed("id", "_id"), F.col("id") == F.col("_id"), "left")
    hit = F.col("_id").isNotNull() & F.col("reason").isNull()
    return (joined.withColumns({"reason": F.when(hit, F.lit(reason)).otherwise(F.col("reason")),
                                "detail": F.when(hit, detail).otherwise(F.col("detail"))})
            .select(*flagged.columns))
