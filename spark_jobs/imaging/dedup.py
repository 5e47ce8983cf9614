"""Near-duplicate images in Spark: LSH over 64-bit perceptual hashes, checked by Hamming distance, confirmed on
thumbnails.

Bit-sampling LSH: table t keeps ``bits`` fixed random bit positions of the hash (``hash & mask_t``, in the
JVM). Two hashes ``d`` bits apart land in the same bucket of one table with probability
C(64-d, bits) / C(64, bits), and in at least one of ``tables`` tables with 1 - (1 - p)^tables: for the
defaults (64 tables x 14 bits) 0.989 at d = 10 and 0.9999 at d = 6, while two unrelated pictures
(d around 32) meet in 1 of ~1,600 pairs. Candidates are then checked exactly: ``bit_count(a ^ b) <= threshold``,
and confirmed on thumbnails (``likeness.look_alike``: aligned block difference <= max_difference): the hash alone
cannot tell distinct icons with the same layout apart (docs/IMAGE_CLEANING.md). With several kinds of hash
(the default: the trimmed and the coarse dcthash, phash.py), each kind has its own tables and the
candidates are the union; a pair met through a guarded kind (the coarse dcthash, ``settings.HASH_GUARDS``)
also needs its guard's hashes within ``GUARD_REACH`` bits, compared in the JVM on the candidate pair.

Transparency: a picture with an alpha channel is hashed flattened on the configured background and, as
a second variant, on the other extreme (black for white), unless that extreme hides most of it
(``likeness.visible_share``: a black glyph with a coloured emblem is only the emblem on black, like every
icon with that emblem). The second variant meets pictures without transparency - a copy someone flattened
onto black - and the second variant of another transparent picture (a light-filled icon whose brightness
changed keeps its hash on black, not on white); a pair of transparent pictures, however it met, is
confirmed on both of its thumbnails (``likeness.look_alike``), never on black alone (two different dark
glyphs with the same coloured emblem look identical there).
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from math import comb

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shardline.settings import GUARD_REACH, HASH_GUARDS, ImagesSettings
from spark_jobs.common import neardup
from spark_jobs.imaging.likeness import look_alike

_IMAGES = ImagesSettings()


@dataclass(frozen=True)
class NearDupConfig:
    """Near-duplicate matching, from the ``[images]`` settings (``from_settings``; defaults are theirs)."""
    threshold: int = _IMAGES.near_dup_threshold  # Hamming distance at or under which two images are candidates
    max_difference: float = _IMAGES.near_dup_max_difference  # block difference (likeness.py) of a confirmed pair
    tables: int = _IMAGES.lsh_tables
    bits: int = _IMAGES.lsh_bits
    max_bucket: int = _IMAGES.max_bucket  # skew guard, see spark_jobs.common.neardup
    seed: int = 0

    def __post_init__(self) -> None:
        if self.threshold < 0:  # the settings' -1 means no matching: from_settings gives None
            raise ValueError(f"near-duplicate threshold must be in 0..63, got {self.threshold}")
        replace(_IMAGES, near_dup_threshold=self.threshold, near_dup_max_difference=self.max_difference,
                lsh_tables=self.tables, lsh_bits=self.bits, max_bucket=self.max_bucket)

    @classmethod
    def from_settings(cls, images: ImagesSettings) -> "NearDupConfig | None":
        """None when ``near_dup_threshold`` is -1 (matching off)."""
        if images.near_dup_threshold < 0:
            return None
        return cls(threshold=images.near_dup_threshold, max_difference=images.near_dup_max_difference,
                   tables=images.lsh_tables, bits=images.lsh_bits, max_bucket=images.max_bucket)

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


def _confirm(pairs: DataFrame, max_difference: float) -> DataFrame:
    """(a, b, rank_a, rank_b, score, thumb_a, thumb_b, dark_a, dark_b, side) -> the pairs whose thumbnails look
    alike (``dark_*``: the other-extreme thumbnails of two transparent pictures, else null; ``side``: the
    shorter side of the smaller picture, ``likeness.look_alike``)."""
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            dark_a = [None if x is None or x is pd.NA else x for x in pdf["dark_a"]]
            dark_b = [None if x is None or x is pd.NA else x for x in pdf["dark_b"]]
            sides = [None if pd.isna(x) else int(x) for x in pdf["side"]]
            same = look_alike(list(pdf["thumb_a"]), list(pdf["thumb_b"]), max_difference, dark_a, dark_b, sides)
            yield pdf.loc[same, ["a", "b", "rank_a", "rank_b", "score"]]

    schema = pairs.select("a", "b", "rank_a", "rank_b", "score").schema
    return pairs.mapInPandas(run, schema)


def guard_positions(names: tuple[str, ...]) -> dict[int, int]:
    """{position of a guarded hash in ``names``: position of its guard} (``settings.HASH_GUARDS``)."""
    return {names.index(n): names.index(HASH_GUARDS[n]) for n in names if n in HASH_GUARDS}


def within_reach(dist, kinds: int, threshold: int, guards: dict[int, int]):
    """The candidate rule of ``near_duplicates`` outside Spark: ``dist(k)`` is the Hamming distance on hash ``k``
    (a number, or an array of them) -> whether (or where) some hash is within ``threshold``, a guarded one with
    its guard within ``GUARD_REACH``."""
    out = False
    for k in range(kinds):
        near = dist(k) <= threshold
        out = out | (near & (dist(guards[k]) <= GUARD_REACH) if k in guards else near)
    return out


def near_duplicates(flagged: DataFrame, cfg: NearDupConfig, guards: dict[int, int] | None = None) -> DataFrame:
    """Accepted records (id, hashes, alt_hashes, opaque, thumb, alt_thumb, orig_width, orig_height, source) ->
    (id, dup_of, score), score = the smallest Hamming distance of the matched hashes (of one kind: each hash
    of ``hashes`` has its own LSH tables, and a pair is a candidate when any kind is within the threshold;
    a pair met through a hash at a position of ``guards`` must also be within ``GUARD_REACH`` bits on the
    hash at the position it maps to, ``guard_positions``).

    The kept one of a group is the largest original (most pixels), then the smallest source path.
    """
    live = flagged.filter(F.col("reason").isNull() & F.col("hashes").isNotNull()).select(
        "id", "hashes", "alt_hashes", "opaque", (-(F.col("orig_width") * F.col("orig_height"))).alias("_neg_px"),
        "source")
    # One long per picture stands for both its id and its rank (most pixels, then smallest source path):
    # the LSH stage shuffles millions of (bucket, picture) rows, and a long is a fraction of an id string
    # plus a (pixels, path) struct. The longs come from a global sort (range-partitioned, so it spreads over
    # the cluster; a row_number over an unpartitioned window pulled every picture into one task): they
    # increase with the rank but are not consecutive, and only their order and identity are used below.
    live = (live.orderBy("_neg_px", "source").withColumn("r", F.monotonically_increasing_id())
            .persist(StorageLevel.DISK_ONLY))
    def exploded(column: str, v: int) -> DataFrame:
        rows = live.select("r", "opaque", F.lit(v).alias("v"), F.col(column).alias("_all"),
                           F.posexplode(column).alias("k", "h"))
        # the guard hash of the same variant beside a guarded one, else null
        guard = F.lit(None).cast("long")
        for k, g in (guards or {}).items():
            guard = F.when(F.col("k") == k, F.col("_all")[g]).otherwise(guard)
        return rows.withColumn("g", guard).drop("_all")

    variants = exploded("hashes", 0).unionByName(exploded("alt_hashes", 1)).filter(F.col("h").isNotNull())
    masks = F.array(*[F.lit(m) for m in cfg.masks()])
    keys = variants.select("r", "opaque", "v", "h", "g", "k", F.posexplode(masks).alias("_t", "_mask"))
    # a table per (hash kind, mask): a bucket never mixes two kinds of hash
    keys = keys.select(F.col("r").alias("id"), (F.col("k") * cfg.tables + F.col("_t")).alias("band"),
                       F.col("h").bitwiseAND(F.col("_mask")).alias("key"), F.col("r").alias("order"), "h", "g", "v",
                       "opaque")
    pairs = neardup.bucket_pairs(keys, cfg.max_bucket, carry=["h", "g", "v", "opaque"])  # no join back for hashes
    pairs = pairs.filter(F.col("g_a").isNull() | (F.bit_count(F.col("g_a").bitwiseXOR(F.col("g_b"))) <= GUARD_REACH))
    dist = F.bit_count(F.col("h_a").bitwiseXOR(F.col("h_b")))
    both_own = (F.col("v_a") == 0) & (F.col("v_b") == 0)
    flattened = ((F.col("v_a") == 1) & (F.col("v_b") == 0) & F.col("opaque_b")) | \
                ((F.col("v_b") == 1) & (F.col("v_a") == 0) & F.col("opaque_a"))
    # two transparent pictures also meet through their other-extreme hashes: a light-filled icon whose
    # brightness changed moves 14-39 bits on white and 0-4 on black. Such a pair is checked like two
    # transparent pictures that met on the configured background (v = 0 on both sides).
    both_other = (F.col("v_a") == 1) & (F.col("v_b") == 1)
    hits = (pairs.filter(both_own | flattened | both_other)
            .select("a", "b", F.when(both_other, 0).otherwise(F.col("v_a")).alias("v_a"),
                    F.when(both_other, 0).otherwise(F.col("v_b")).alias("v_b"), dist.alias("score"))
            .filter(F.col("score") <= cfg.threshold))
    edges = (hits.groupBy("a", "b").agg(F.min(F.struct("score", "v_a", "v_b")).alias("m"))
             .select("a", "b", F.col("a").alias("rank_a"), F.col("b").alias("rank_b"), "m.*"))
    ids = live.select("r", "id")
    if cfg.max_difference != float("inf"):
        # only the pictures of some candidate pair: a small table, which adaptive execution broadcasts, so
        # the thumbnails of the whole corpus are not shuffled
        edges = edges.persist(StorageLevel.MEMORY_AND_DISK)  # read twice below; a few pairs per picture at most
        involved = edges.select(F.col("a").alias("r")).union(edges.select(F.col("b").alias("r"))).distinct()
        thumbs = (flagged.select("id", "thumb", "alt_thumb", F.least("orig_width", "orig_height").alias("side"))
                  .join(ids.join(involved, "r"), "id").drop("id"))
        pick = lambda side: F.when(F.col(f"v_{side}") == 1, F.col(f"alt_thumb_{side}")).otherwise(F.col(f"thumb_{side}"))  # noqa: E731
        with_thumbs = (edges.join(thumbs.toDF("thumb_a", "alt_thumb_a", "side_a", "a"), "a")
                       .join(thumbs.toDF("thumb_b", "alt_thumb_b", "side_b", "b"), "b")
                       .select("a", "b", "rank_a", "rank_b", "score", pick("a").alias("thumb_a"), pick("b").alias("thumb_b"),
                               F.when(both_own, F.col("alt_thumb_a")).alias("dark_a"),
                               F.when(both_own, F.col("alt_thumb_b")).alias("dark_b"),
                               F.least("side_a", "side_b").alias("side")))
        edges = _confirm(with_thumbs, cfg.max_difference)
    dups = neardup.representatives(edges.select("a", "b", "rank_a", "rank_b", "score"))
    return (dups.join(ids.toDF("id", "_id"), "id").join(ids.toDF("dup_of", "_dup_of"), "dup_of")
            .select(F.col("_id").alias("id"), F.col("_dup_of").alias("dup_of"), "score"))
