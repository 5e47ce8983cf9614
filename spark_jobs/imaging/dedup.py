"""Near-duplicate images in Spark: LSH over 64-bit perceptual hashes, verified by Hamming distance.

Bit-sampling LSH: table t keeps ``bits`` fixed random bit positions of the hash (``hash & mask_t``, in the
JVM). Two hashes ``d`` bits apart land in the same bucket of one table with probability
C(64-d, bits) / C(64, bits), and in at least one of ``tables`` tables with 1 - (1 - p)^tables: for the
defaults (64 tables x 14 bits) 0.989 at d = 10 and 0.9999 at d = 6, while two unrelated pictures
(d around 32) meet in 1 of ~1,600 pairs. Candidates are then checked exactly: ``bit_count(a ^ b) <= threshold``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from math import comb

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs.common import neardup


@dataclass(frozen=True)
class NearDupConfig:
    threshold: int = 10      # Hamming distance (of 64 bits) at or under which two images are near duplicates
    tables: int = 64
    bits: int = 14
    max_bucket: int = 1000   # skew guard, see spark_jobs.common.neardup
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.threshold < 64:
            raise ValueError(f"near-duplicate threshold must be in 0..63, got {self.threshold}")
        if not 1 <= self.bits <= 64 or self.tables < 1:
            raise ValueError(f"LSH needs tables >= 1 and bits in 1..64, got {self.tables} x {self.bits}")

    def masks(self) -> list[int]:
        rng = random.Random(self.seed)
        out = []
        for _ in range(self.tables):
            m = sum(1 << b for b in rng.sample(range(64), self.bits))
            out.append(m - (1 << 64) if m >= 1 << 63 else m)
        return out

    def detection_probability(self, distance: int) -> float:
        p = comb(64 - distance, self.bits) / comb(64, self.bits)
        return 1 - (1 - p) ** self.tables


def near_duplicates(flagged: DataFrame, cfg: NearDupConfig) -> DataFrame:
    """Accepted records (id, perceptual_hash, orig_width, orig_height, source) -> (id, dup_of, score).

    The kept one of a group is the largest original (most pixels), then the smallest source path.
    """
    live = flagged.filter(F.col("reason").isNull() & F.col("perceptual_hash").isNotNull()).select(
        "id", "perceptual_hash", (-(F.col("orig_width") * F.col("orig_height"))).alias("_neg_px"), "source")
    masks = F.array(*[F.lit(m) for m in cfg.masks()])
    rank = F.struct("_neg_px", "source")
    keys = live.select("id", F.posexplode(masks).alias("band", "_mask"), "perceptual_hash", rank.alias("order"))
    keys = keys.select("id", "band", F.col("perceptual_hash").bitwiseAND(F.col("_mask")).alias("key"), "order",
                       F.col("perceptual_hash").alias("h"))
    pairs = neardup.bucket_pairs(keys, cfg.max_bucket, carry=["h"])  # the hash rides along: no join back
    dist = F.bit_count(F.col("h_a").bitwiseXOR(F.col("h_b")))
    edges = (pairs.select("a", "b", F.col("order_a").alias("rank_a"), F.col("order_b").alias("rank_b"),
                          dist.alias("score"))
             .filter(F.col("score") <= cfg.threshold))
    return neardup.representatives(edges)
