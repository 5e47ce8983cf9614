"""Publish one run date's clean, labeled records as train/val/test petastorm datasets.

Splits come from a hash of each record's stable id and a seed, so a record keeps its split across
reruns and as the corpus grows. The version id is derived from the content (ids + content hashes +
split settings): the same input publishes the same version. Each version is written to a staging
folder, committed by rename with its ``manifest.json``, and only then does ``latest`` move.

    spark-submit spark_jobs/publish_dataset.py --date 2026-11-23 --kind image
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from petastorm.etl.dataset_metadata import materialize_dataset
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas.datasets import SCHEMAS, SPLITS
from schemas.warehouse import CLEAN_IMAGES, CLEAN_TEXT
from spark_jobs.common.config import Paths, ShardlineError
from spark_jobs.common.job import Counts, base_parser, entrypoint, run_job
from spark_jobs.common.publish import commit_dir, staging_dir, write_json_atomic, write_pointer

log = logging.getLogger(__name__)
SOURCES = {"image": CLEAN_IMAGES, "text": CLEAN_TEXT}


@dataclass(frozen=True)
class SplitConfig:
    train: float = 0.8
    val: float = 0.1
    seed: str = "shardline"
    files_per_split: int = 4
    row_group_mb: int = 8

    def __post_init__(self) -> None:
        if not (0 < self.train < 1 and 0 <= self.val < 1 and self.train + self.val < 1):
            raise ValueError(f"split fractions need 0<train<1, 0<=val, train+val<1; got {self.train}, {self.val}")
        if self.files_per_split < 1:
            raise ValueError(f"files_per_split must be >= 1, got {self.files_per_split}")


def assign_splits(df: DataFrame, cfg: SplitConfig) -> DataFrame:
    """Add ``split`` from a hash of (seed, id): independent of row order, partitioning and other rows."""
    bucket = F.pmod(F.xxhash64(F.lit(cfg.seed), F.col("id")), F.lit(10_000)) / F.lit(10_000.0)
    return df.withColumn("split", F.when(bucket < cfg.train, "train")
                         .when(bucket < cfg.train + cfg.val, "val").otherwise("test"))


def add_label_index(df: DataFrame, labels: list[str]) -> DataFrame:
    mapping = F.create_map(*[x for i, label in enumerate(labels) for x in (F.lit(label), F.lit(i))])
    return df.withColumn("label_index", mapping[F.col("label")].cast("int"))


def transform(clean: DataFrame, labels: list[str], cfg: SplitConfig) -> DataFrame:
    """Labeled clean rows -> rows with split and label_index. No I/O."""
    return add_label_index(assign_splits(clean.filter(F.col("label").isNotNull()), cfg), labels)


def fingerprint(df: DataFrame, cfg: SplitConfig) -> str:
    """Content-derived version: order-independent sum of per-record hashes plus the split settings."""
    row = df.agg(F.count("*").alias("n"),
                 F.sum(F.xxhash64("id", "content_hash").cast("decimal(38,0)")).alias("h")).first()
    digest = hashlib.sha1(f"{row['n']}:{row['h']}:{asdict(cfg)}".encode()).hexdigest()
    return digest[:12]


def read_clean(spark: SparkSession, kind: str, dt: str) -> DataFrame:
    return spark.table(SOURCES[kind].qualified).filter(F.col("dt") == dt)


def write_splits(spark: SparkSession, rows: DataFrame, kind: str, out: Path, cfg: SplitConfig) -> dict:
    schema = SCHEMAS[kind]
    cols = list(schema.fields)
    counts = {}
    for split in SPLITS:
        url = (out / split).as_uri()
        part = (rows.filter(F.col("split") == split).select(*cols)
                .repartition(cfg.files_per_split, "id").sortWithinPartitions("id"))
        with materialize_dataset(spark, url, schema, cfg.row_group_mb):
            part.write.mode("overwrite").parquet(url)
        counts[split] = spark.read.parquet(url).groupBy("label").count().toPandas() \
            .set_index("label")["count"].astype(int).to_dict()
    return counts


def publish(spark: SparkSession, kind: str, dt: str, cfg: SplitConfig, paths: Paths) -> tuple[dict, Counts]:
    clean = read_clean(spark, kind, dt).persist()
    total = clean.count()
    if total == 0:
        raise ShardlineError(f"no clean {kind} records for {dt}: run clean_{'images' if kind == 'image' else 'text'} first")
    labels = sorted(r["label"] for r in clean.select("label").distinct().collect() if r["label"] is not None)
    if len(labels) < 2:
        raise ShardlineError(f"need at least 2 labels to train a classifier, found {labels}")
    rows = transform(clean, labels, cfg)
    version = fingerprint(rows, cfg)
    root = paths.datasets / kind
    final = root / version
    stage = staging_dir(final)
    counts = write_splits(spark, rows, kind, stage, cfg)
    published = sum(sum(c.values()) for c in counts.values())
    manifest = {
        "kind": kind, "version": version, "dt": dt, "labels": labels,
        "counts": counts, "rows": {s: sum(c.values()) for s, c in counts.items()},
        "split_config": asdict(cfg), "schema": SCHEMAS[kind]._name,
        "source_table": SOURCES[kind].qualified, "unlabeled_skipped": total - published,
        "published_at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
    }
    write_json_atomic(stage / "manifest.json", manifest)  # last file written: marks the version complete
    commit_dir(stage, final)
    write_pointer(root / "latest", version)
    clean.unpersist()
    log.info("published %s dataset %s: %s", kind, version, manifest["rows"])
    # Publishing rejects nothing: unlabeled rows are scored later, not lost, and are reported.
    return manifest, Counts(total, total, 0)


def main(argv: Sequence[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--kind", required=True, choices=sorted(SOURCES))
    p.add_argument("--train-fraction", type=float, default=0.8)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", default="shardline")
    p.add_argument("--files-per-split", type=int, default=4)
    p.add_argument("--row-group-mb", type=int, default=8)
    args = p.parse_args(argv)

    def body(spark: SparkSession) -> Counts:
        try:
            cfg = SplitConfig(args.train_fraction, args.val_fraction, args.seed, args.files_per_split,
                              args.row_group_mb)
        except ValueError as exc:
            raise ShardlineError(str(exc)) from None
        return publish(spark, args.kind, args.date, cfg, Paths.from_env())[1]

    return run_job(f"publish_{args.kind}", args, body)


if __name__ == "__main__":
    entrypoint(main)
