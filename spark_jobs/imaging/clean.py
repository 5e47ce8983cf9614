"""The image cleaning transform: (path, content) -> decoded, verified, resized rows with exact and near
duplicates flagged. Shared by ``clean_images`` and the corpus input of ``batch_inference``.

Decoding, verification, repairs and resizing run with Pillow inside ``mapInPandas`` (Arrow batches; see
``spark_jobs/imaging/decode.py`` for the rules); exact duplicates are found on a hash of the decoded pixels
(one picture saved as two files is caught) and near duplicates by perceptual hash within a Hamming
distance, matched with LSH in Spark (``spark_jobs/imaging/dedup.py``).
"""
from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from spark_jobs.common import neardup
from spark_jobs.common.flagged import flag_duplicates
from spark_jobs.imaging.decode import FIELDS, MATCH_FIELDS, ImageCleanConfig, decode_one
from spark_jobs.imaging.dedup import NearDupConfig, guard_positions, near_duplicates

__all__ = ["DECODED", "ImageCleanConfig", "NearDupConfig", "decode", "transform"]

_TYPES = {"image": BinaryType(), "perceptual_hash": LongType(), "hashes": ArrayType(LongType()),
          "alt_hashes": ArrayType(LongType()), "thumb": BinaryType(),
          "alt_thumb": BinaryType(), "opaque": BooleanType()}
DECODED = StructType([
    StructField(name, _TYPES.get(name, IntegerType() if name in ("width", "height", "orig_width", "orig_height")
                                 else StringType()))
    for name in FIELDS + MATCH_FIELDS
])


def decode(df: DataFrame, cfg: ImageCleanConfig) -> DataFrame:
    """(path, content[, problem]) -> DECODED rows, one per listed entry, in Arrow batches."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            problems = pdf["problem"] if "problem" in pdf else [None] * len(pdf)
            rows = [decode_one(p, c, cfg, q) for p, c, q in zip(pdf["path"], pdf["content"], problems)]  # c None: read p
            yield pd.DataFrame(rows, columns=list(FIELDS + MATCH_FIELDS))

    return df.mapInPandas(run, DECODED)


def transform(df: DataFrame, cfg: ImageCleanConfig, near: NearDupConfig | None = NearDupConfig()) -> DataFrame:
    """(path, content) -> DECODED rows, one per input file, exact and near duplicates flagged.

    The decoded rows are persisted on disk, because near-dup matching reads them twice and a heap cache of a
    whole corpus of pictures does not fit a small driver's heap beside the sorts of the matching
    (benchmarks/scale.py). ``near=None`` skips near-duplicate matching.
    """
    flagged = flag_duplicates(decode(df, cfg), ["source"])  # same pixels: keep the smallest source path
    if near is None:
        return flagged.drop(*MATCH_FIELDS)
    flagged = flagged.persist(StorageLevel.DISK_ONLY)
    detail = F.concat(F.lit("near duplicate of "), F.col("dup_of"), F.lit(" (hamming "),
                      F.col("score").cast("string"), F.lit(")"))
    dups = near_duplicates(flagged, near, guard_positions(cfg.hashes))
    return neardup.mark(flagged.drop(*MATCH_FIELDS), dups, "near_duplicate", detail)
