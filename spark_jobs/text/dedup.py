"""Near-duplicate documents in Spark: MinHash LSH buckets give candidate pairs, each judged exactly by the
shared-word measure of ``spark_jobs.text.similarity`` (what a reader calls "the same text, edited")."""
from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs.common import neardup
from spark_jobs.text import similarity
from spark_jobs.text.minhash import MinHashConfig

_JUDGED = "a string, b string, score double, near boolean"


def judge_pairs(pairs: DataFrame, cfg: MinHashConfig) -> DataFrame:
    """(a, b, text_a, text_b) -> (a, b, score, near), in Arrow batches on the Python workers."""
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            verdicts = [similarity.judge(similarity.words(x, cfg.max_shingles), similarity.words(y, cfg.max_shingles),
                                         cfg.threshold, cfg.max_extra_words, cfg.min_words)
                        for x, y in zip(pdf["text_a"], pdf["text_b"])]
            yield pd.DataFrame({"a": pdf["a"], "b": pdf["b"],
                                # the number that decided: the shared-word score, else the containment
                                "score": [v.score if v.score >= cfg.threshold else v.contained for v in verdicts],
                                "near": [v.near for v in verdicts]})

    return pairs.mapInPandas(run, _JUDGED)


def near_duplicates(flagged: DataFrame, cfg: MinHashConfig) -> DataFrame:
    """Accepted records with ``text`` and ``band_keys`` (array<bigint>) -> (id, dup_of, score).

    ``score``: the pair's shared-word score (or, for a copy with a line added, the shorter text's share
    contained in the longer). The kept record of a group is the one with the smallest id (as for exact
    duplicates)."""
    live = flagged.filter(F.col("reason").isNull() & F.col("band_keys").isNotNull())
    # rank = id: a constant order makes bucket_pairs sort by id without shuffling the id twice
    keys = live.select("id", F.posexplode("band_keys").alias("band", "key"), F.lit(0).alias("order"))
    pairs = (neardup.bucket_pairs(keys, cfg.max_bucket).select("a", "b").distinct()
             .persist(StorageLevel.MEMORY_AND_DISK))  # few, and read twice below
    # only the candidates' texts travel: their ids are broadcast to the texts (a few MB even for a million
    # candidates), so the corpus' texts are not shuffled, let alone twice, for the pair join
    ids = pairs.select(F.explode(F.array("a", "b")).alias("id")).distinct()
    texts = live.select("id", "text").join(F.broadcast(ids), "id")
    candidates = pairs.join(texts.toDF("a", "text_a"), "a").join(texts.toDF("b", "text_b"), "b")
    edges = (judge_pairs(candidates.select("a", "b", "text_a", "text_b"), cfg).filter("near")
             .select("a", "b", F.col("a").alias("rank_a"), F.col("b").alias("rank_b"), "score"))
    return neardup.representatives(edges)
