"""Near-duplicate matching in Spark, shared by the image and text cleaners.

Both cleaners reduce a record to LSH bucket keys - (band, key) rows - and hand them here:

1. ``bucket_pairs``: records sharing a bucket become candidate pairs, without an all-pairs join over the
   corpus. A bucket larger than ``max_bucket`` (skew: blank images, boilerplate pages) is not expanded
   quadratically: its members are ordered and each is paired only with the next ``max_bucket`` members,
   so the work stays linear in the bucket's size. Small per-record values (a 64-bit hash, the rank) can
   ride along (``carry``), so verifying a candidate needs no join back to the records.
2. The caller verifies candidates with the exact measure (Hamming distance, estimated Jaccard).
3. ``representatives``: each record with a verified neighbour that ranks before it becomes a duplicate of
   the best-ranked such neighbour. Ranks are data (size, id), never row order, so the kept record and
   every id are the same across reruns and partitionings.
"""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F


def bucket_pairs(keys: DataFrame, max_bucket: int, carry: Sequence[str] = ()) -> DataFrame:
    """``keys``: (id, band, key, order, *carry) -> candidate pairs (a, b, order_a, order_b, <c>_a, <c>_b ...)
    with order_a < order_b (ties: a < b). A pair met in several buckets appears once per bucket.

    Pass the representative rank as ``order``: then in an oversized bucket every member is still paired
    with the members ranked just before it, so a bucket full of true duplicates keeps exactly one."""
    if max_bucket < 2:
        raise ValueError(f"max_bucket must be at least 2, got {max_bucket}")
    bucket = Window.partitionBy("band", "key")
    ranked = (keys.withColumn("_n", F.count(F.lit(1)).over(bucket))
              .filter(F.col("_n") > 1)
              .withColumn("_rn", F.row_number().over(bucket.orderBy("order", "id")) - 1)
              .withColumn("_blk", F.floor(F.col("_rn") / max_bucket)))
    payload = ["id", "order", *carry]
    left = ranked.select("band", "key", "_blk", "_rn", *(F.col(c).alias(f"{c}_a") for c in payload))
    right = ranked.select("band", "key", F.explode(F.array(F.col("_blk"), F.col("_blk") - 1)).alias("_blk"),
                          F.col("_rn").alias("_rn_b"), *(F.col(c).alias(f"{c}_b") for c in payload))
    pairs = (left.join(right, ["band", "key", "_blk"])
             .filter((F.col("_rn_b") > F.col("_rn")) & (F.col("_rn_b") - F.col("_rn") <= max_bucket)))
    return pairs.select(F.col("id_a").alias("a"), F.col("id_b").alias("b"), "order_a", "order_b",
                        *(f"{c}_{s}" for c in carry for s in "ab")).filter(F.col("a") != F.col("b"))


def representatives(edges: DataFrame) -> DataFrame:
    """``edges``: verified pairs (a, b, rank_a, rank_b, score) with an orderable rank, lower is kept.

    Returns (id, dup_of, score): every record that has a neighbour ranked before it, with the best one."""
    # each edge once, pointing from the worse-ranked end to the better one (no second pass over edges)
    forward = F.col("rank_b") < F.col("rank_a")
    better = edges.filter(F.col("rank_a") != F.col("rank_b")).select(
        F.when(forward, F.col("a")).otherwise(F.col("b")).alias("a"),
        F.when(forward, F.col("b")).otherwise(F.col("a")).alias("b"),
        F.when(forward, F.col("rank_b")).otherwise(F.col("rank_a")).alias("rank_b"), "score")
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
