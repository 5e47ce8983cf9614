"""Near-duplicate documents in Spark: MinHash LSH buckets, verified by the signatures' estimated Jaccard."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs.common import neardup
from spark_jobs.text.minhash import MinHashConfig


def near_duplicates(flagged: DataFrame, cfg: MinHashConfig) -> DataFrame:
    """Accepted records with ``signature`` (array<int>) and ``band_keys`` (array<bigint>) -> (id, dup_of, score).

    The kept record of a group is the one with the smallest id (as for exact duplicates)."""
    live = flagged.filter(F.col("reason").isNull() & F.col("band_keys").isNotNull())
    keys = live.select("id", F.posexplode("band_keys").alias("band", "key"), F.col("id").alias("order"))
    pairs = neardup.bucket_pairs(keys, cfg.max_bucket).select("a", "b").distinct()  # few: join the signatures
    sigs = live.select("id", "signature")
    same = F.size(F.filter(F.arrays_zip(F.col("sa"), F.col("sb")), lambda z: z["sa"] == z["sb"]))
    edges = (pairs.join(sigs.toDF("a", "sa"), "a").join(sigs.toDF("b", "sb"), "b")
             .select("a", "b", F.col("a").alias("rank_a"), F.col("b").alias("rank_b"),
                     (same / F.lit(cfg.permutations)).alias("score"))
             .filter(F.col("score") >= cfg.threshold))
    return neardup.representatives(edges)
