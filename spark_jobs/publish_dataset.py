"""Publish one run date's clean, labeled records as a versioned train/val/test petastorm dataset.

Splits come from a hash of each record's stable id (or its near-duplicate cluster id, when the clean
table has one) and a seed: a record keeps its split across reruns and as the corpus grows. Shards are
sized in bytes, with enough row groups per split for ``max_workers`` petastorm readers. The version id
is derived from the content, so the same input publishes the same version. The version is written to
a staging folder and committed by rename with ``manifest.json`` written last; it becomes the kind's
``candidate``. Only the validation gate (``spark_jobs/validate_dataset.py``) moves ``latest``.

    spark-submit spark_jobs/publish_dataset.py --date 2026-11-23 --kind image
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from petastorm.etl.dataset_metadata import materialize_dataset
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas.datasets import SCHEMAS, SPLITS
from schemas.warehouse import CLEAN_IMAGES, CLEAN_TEXT
from shardline.config import REPO_ROOT, Paths, ShardlineError, spark_uri
from shardline.datasets import clean_stale_staging, kind_root
from shardline.settings import DatasetSettings, GateSettings, add_setting_flags, parse_args
from shardline.storage import commit_dir, file_lock, staging_dir, write_json_atomic, write_pointer
from spark_jobs.common.job import Counts, JobContext, base_parser, entrypoint, run_job

log = logging.getLogger(__name__)
SOURCES = {"image": CLEAN_IMAGES, "text": CLEAN_TEXT}
PAYLOAD = {"image": "image", "text": "text"}
MB = 1024 * 1024
SIZE_BINS = [0] + [2 ** k for k in range(4, 25)]  # payload bytes: <16, 16-32, ... up to 16 MiB+


_DATASET = DatasetSettings()


@dataclass(frozen=True)
class SplitConfig:
    """The split fractions and seed; defaults are the ``[dataset]`` settings'."""
    train: float = _DATASET.train_fraction
    val: float = _DATASET.val_fraction
    seed: str = _DATASET.split_seed

    def __post_init__(self) -> None:  # the settings' bounds
        replace(_DATASET, train_fraction=self.train, val_fraction=self.val, split_seed=self.seed)


@dataclass(frozen=True)
class ShardConfig:
    """Shard sizing in bytes. Defaults and their reasons: docs/DATASETS.md."""

    target_file_mb: float = _DATASET.image_file_mb
    row_group_mb: float = _DATASET.image_row_group_mb
    max_workers: int = _DATASET.max_workers
    row_groups_per_worker: int = 10

    def __post_init__(self) -> None:
        if self.target_file_mb <= 0 or self.row_group_mb <= 0:
            raise ValueError(f"shard sizes must be > 0 MB, got file {self.target_file_mb}, row group {self.row_group_mb}")
        if self.row_group_mb > self.target_file_mb:
            raise ValueError(f"row_group_mb ({self.row_group_mb}) cannot exceed target_file_mb ({self.target_file_mb})")
        if self.max_workers < 1 or self.row_groups_per_worker < 1:
            raise ValueError(f"max_workers and row_groups_per_worker must be >= 1, got "
                             f"{self.max_workers}, {self.row_groups_per_worker}")

    @classmethod
    def for_kind(cls, kind: str, dataset: DatasetSettings = _DATASET, **overrides) -> "ShardConfig":
        """The ``[dataset]`` sizes of ``kind`` (``<kind>_file_mb``, ``<kind>_row_group_mb``), ``overrides`` on top."""
        defaults = {"target_file_mb": getattr(dataset, f"{kind}_file_mb"),
                    "row_group_mb": getattr(dataset, f"{kind}_row_group_mb"), "max_workers": dataset.max_workers}
        return cls(**{**defaults, **{k: v for k, v in overrides.items() if v is not None}})


@dataclass(frozen=True)
class ShardPlan:
    files: int
    row_group_bytes: int
    row_groups: int
    rows_per_group: int = 0  # expected; 0 = unknown


def plan_shards(split_bytes: int, split_rows: int, cfg: ShardConfig) -> ShardPlan:
    """Files and row-group size for one split: row groups no larger than ``row_group_mb`` and at least
    ``max_workers * row_groups_per_worker`` of them (fewer only when the split has fewer rows)."""
    wanted_groups = min(max(1, split_rows), cfg.max_workers * cfg.row_groups_per_worker)
    group_bytes = max(1, min(int(cfg.row_group_mb * MB), math.ceil(split_bytes / wanted_groups)))
    groups = max(1, math.ceil(split_bytes / group_bytes))
    files = max(1, min(groups, math.ceil(split_bytes / (cfg.target_file_mb * MB))))
    return ShardPlan(files=files, row_group_bytes=group_bytes, row_groups=groups,
                     rows_per_group=max(1, split_rows // groups))


def assign_splits(df: DataFrame, cfg: SplitConfig) -> DataFrame:
    """Add ``split`` from a hash of (seed, cluster id or id): independent of row order, partitioning and
    other rows. Records of one near-duplicate cluster share a split, so none straddle train and test."""
    key = F.coalesce(F.col("cluster_id"), F.col("id")) if "cluster_id" in df.columns else F.col("id")
    bucket = F.pmod(F.xxhash64(F.lit(cfg.seed), key), F.lit(10_000)) / F.lit(10_000.0)
    return df.withColumn("split", F.when(bucket < cfg.train, "train")
                         .when(bucket < cfg.train + cfg.val, "val").otherwise("test"))


def add_label_index(df: DataFrame, labels: list[str]) -> DataFrame:
    mapping = F.create_map(*[x for i, label in enumerate(labels) for x in (F.lit(label), F.lit(i))])
    return df.withColumn("label_index", mapping[F.col("label")].cast("int"))


def transform(clean: DataFrame, labels: list[str], cfg: SplitConfig) -> DataFrame:
    """Labeled clean rows -> rows with split and label_index. No I/O."""
    return add_label_index(assign_splits(clean.filter(F.col("label").isNotNull()), cfg), labels)


RAW_MAX_PIXELS = 64 * 64  # images up to this size are stored as raw pixels (see docs/TRAINING.md)


def image_encoding(clean: DataFrame, requested: str) -> tuple[str, list[int] | None]:
    """("raw", [H, W, C]) when every image has one small size, else ("png", None).

    Raw uint8 pixels decode as a whole batch in one vectorised op (``tf.io.decode_raw``); per-image
    PNG decoding is what bounds the input pipeline for small images. Large images stay PNG, where the
    smaller files matter more than decode time."""
    if requested == "png":
        return "png", None
    sizes = clean.select("width", "height").distinct().limit(2).collect()
    small = len(sizes) == 1 and sizes[0]["width"] * sizes[0]["height"] <= RAW_MAX_PIXELS
    if requested == "raw" and not small:
        raise ShardlineError(f"--image-encoding raw needs one image size of at most {RAW_MAX_PIXELS} pixels, "
                             f"found {[(r['width'], r['height']) for r in sizes]}")
    if not small:
        return "png", None
    import io

    import numpy as np
    from PIL import Image

    sample = np.asarray(Image.open(io.BytesIO(clean.select("image").first()["image"])))
    return "raw", [sample.shape[0], sample.shape[1], sample.shape[2] if sample.ndim == 3 else 1]


def to_raw_pixels(df: DataFrame) -> DataFrame:
    """Replace PNG bytes in ``image`` by the decoded uint8 pixels (row-major HWC), batch by batch."""
    schema = df.schema

    def decode(batches):
        import io

        import numpy as np
        from PIL import Image

        for pdf in batches:
            pdf = pdf.copy()
            pdf["image"] = [np.asarray(Image.open(io.BytesIO(b))).tobytes() for b in pdf["image"]]
            yield pdf

    return df.mapInPandas(decode, schema)


def fingerprint(df: DataFrame, *extra: object) -> str:
    """Order-independent digest of (id, content_hash, label) over all rows, plus settings in ``extra``:
    a relabelled corpus is a different dataset."""
    row = df.agg(F.count("*").alias("n"),
                 F.sum(F.xxhash64("id", "content_hash", "label").cast("decimal(38,0)")).alias("h")).first()
    return hashlib.sha1(f"{row['n']}:{row['h']}:{extra!r}".encode()).hexdigest()[:12]


def code_version() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def split_stats(rows: DataFrame, kind: str) -> dict:
    """Per split: rows and payload bytes per label, and a histogram of payload sizes (for drift checks)."""
    size = F.length(F.col(PAYLOAD[kind]))
    bin_expr = F.lit(0)
    for i, edge in enumerate(SIZE_BINS[1:], start=1):
        bin_expr = F.when(size >= edge, F.lit(i)).otherwise(bin_expr)
    by_label = (rows.groupBy("split", "label")
                .agg(F.count("*").alias("n"), F.sum(size + F.length("id") + F.length("label") + 8).alias("b"))
                .collect())
    hist = rows.groupBy("split", bin_expr.alias("bin")).count().collect()
    stats = {s: {"counts": {}, "bytes": 0, "size_histogram": [0] * len(SIZE_BINS)} for s in SPLITS}
    for r in by_label:
        stats[r["split"]]["counts"][r["label"]] = int(r["n"])
        stats[r["split"]]["bytes"] += int(r["b"] or 0)
    for r in hist:
        stats[r["split"]]["size_histogram"][r["bin"]] = int(r["count"])
    return stats


def write_split(spark: SparkSession, part: DataFrame, kind: str, url: str, plan: ShardPlan) -> None:
    schema = SCHEMAS[kind]
    hconf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
    out = (part.select(*schema.fields).repartition(plan.files, "id").sortWithinPartitions("id"))
    # parquet-mr checks a row group's size only every `parquet.page.size.row.check.min` rows (100 by
    # default), which overshoots small row groups; check about twice per expected group instead.
    check_key = "parquet.page.size.row.check.min"
    previous_check = hconf.get(check_key)
    if plan.rows_per_group:
        hconf.setInt(check_key, max(1, min(100, plan.rows_per_group // 2)))
    try:
        with materialize_dataset(spark, url, schema, row_group_size_mb=max(1, round(plan.row_group_bytes / MB))):
            # materialize_dataset only takes whole MB; small splits need finer row groups, so the byte size
            # is set directly (materialize_dataset restores the previous value on exit).
            hconf.setInt("parquet.block.size", plan.row_group_bytes)
            out.write.mode("overwrite").parquet(url)
    finally:
        if previous_check is None:
            hconf.unset(check_key)
        else:
            hconf.set(check_key, previous_check)


def write_split_checked(spark: SparkSession, part: DataFrame, kind: str, folder: Path, plan: ShardPlan,
                        min_groups: int, attempts: int = 3, expected_rows: int | None = None) -> dict:
    """Write a split and check its row-group count in the footers; rewrite with smaller row groups if
    short. Parquet sizes row groups by encoded bytes, and well-compressed columns (dictionary-encoded
    text) encode far below their raw size, so a plan made from raw bytes can undershoot."""
    for attempt in range(1, attempts + 1):
        write_split(spark, part, kind, spark_uri(folder), plan)  # not %-encoded: a path may hold a space
        report = shard_report(folder)
        if expected_rows is not None and report["rows"] != expected_rows:  # the manifest must not promise rows
            raise ShardlineError(f"{folder}: the written shards hold {report['rows']} rows, expected {expected_rows}")
        if report["row_groups"] >= min_groups or attempt == attempts:
            return {"plan": asdict(plan), "attempts": attempt, **report}
        scale = report["row_groups"] / min_groups / 1.25
        plan = replace(plan, row_group_bytes=max(1, int(plan.row_group_bytes * scale)),
                       rows_per_group=max(1, int(plan.rows_per_group * scale)))
        log.info("%s: %d row groups < %d wanted; rewriting with %d-byte row groups", folder.name,
                 report["row_groups"], min_groups, plan.row_group_bytes)
    raise AssertionError("unreachable")


def shard_report(split_dir: Path) -> dict:
    """What was actually written: files, row groups and their sizes (read from Parquet footers)."""
    import pyarrow.parquet as pq

    files = sorted(split_dir.glob("*.parquet"))
    group_rows, group_bytes = [], []
    for f in files:
        meta = pq.ParquetFile(f).metadata
        for i in range(meta.num_row_groups):
            group_rows.append(meta.row_group(i).num_rows)
            group_bytes.append(meta.row_group(i).total_byte_size)
    nonempty = [n for n in group_rows if n] or [0]
    return {
        "files": len(files), "file_bytes": sum(f.stat().st_size for f in files),
        "rows": sum(group_rows), "row_groups": len(group_rows),
        "rows_per_row_group": {"min": min(nonempty), "max": max(nonempty),
                               "mean": round(sum(nonempty) / len(nonempty), 1)},
        "row_group_bytes": {"min": min(group_bytes or [0]), "max": max(group_bytes or [0])},
    }


def stratification(stats: dict, labels: list[str]) -> dict:
    """Each label's share of each split beside its share overall; max_deviation is the worst gap."""
    total = {label: sum(stats[s]["counts"].get(label, 0) for s in SPLITS) for label in labels}
    n = sum(total.values()) or 1
    shares, worst = {}, 0.0
    for s in SPLITS:
        m = sum(stats[s]["counts"].values()) or 1
        shares[s] = {label: round(stats[s]["counts"].get(label, 0) / m, 4) for label in labels}
        worst = max([worst] + [abs(shares[s][label] - total[label] / n) for label in labels if stats[s]["counts"]])
    return {"overall": {label: round(total[label] / n, 4) for label in labels}, "per_split": shares,
            "max_deviation": round(worst, 4)}


def label_counts(clean: DataFrame, split_cfg: SplitConfig) -> dict[str, tuple[int, int]]:
    """{label: (rows, rows in the train split)} for the labeled clean rows, in one pass."""
    train = F.sum(F.when(F.col("split") == "train", 1).otherwise(0))
    counts = (assign_splits(clean.filter(F.col("label").isNotNull()), split_cfg)
              .groupBy("label").agg(F.count("*").alias("rows"), train.alias("train")).collect())
    return {r["label"]: (int(r["rows"]), int(r["train"])) for r in counts}


def usable_labels(counts: dict[str, tuple[int, int]], min_train_rows: int,
                  policy: str = "exclude") -> tuple[list[str], dict[str, int], str]:
    """(labels to train on, {rare label: its train rows}, the policy applied). A label with fewer than
    ``min_train_rows`` rows in the train split is rare: left out under policy ``exclude`` (long tails are
    normal in real corpora), kept under ``fail`` so that the gate names it and stops. When excluding would
    leave fewer than two labels, everything is published under ``fail``: the gate then names the rare labels
    and stops the night."""
    rare = {label: train for label, (_, train) in sorted(counts.items()) if train < min_train_rows}
    keep = sorted(label for label in counts if label not in rare)
    if policy == "fail" or len(keep) < 2:
        return sorted(counts), rare, "fail"
    return keep, rare, policy


def publish(spark: SparkSession, kind: str, dt: str, split_cfg: SplitConfig, shard_cfg: ShardConfig,
            paths: Paths, encoding: str = _DATASET.image_encoding, *,
            min_train_rows_per_label: int = GateSettings().min_train_rows_per_label,
            rare_labels: str = GateSettings().rare_labels) -> tuple[dict, Counts]:
    """Publish the date's clean records as a dataset version (the candidate). Publishes of one kind take
    turns (``<datasets>/<kind>/_LOCK``): one never removes another's staging as a stale leftover. The same
    content reuses its version folder untouched (its validation result included); other content gets a
    new version; a committed version is never rewritten."""
    with file_lock(kind_root(paths, kind) / "_LOCK", f"the {kind} datasets"):
        return _publish(spark, kind, dt, split_cfg, shard_cfg, paths, encoding,
                        min_train_rows_per_label=min_train_rows_per_label, rare_labels=rare_labels)


def _publish(spark: SparkSession, kind: str, dt: str, split_cfg: SplitConfig, shard_cfg: ShardConfig,
             paths: Paths, encoding: str, *, min_train_rows_per_label: int, rare_labels: str) -> tuple[dict, Counts]:
    clean = spark.table(SOURCES[kind].qualified).filter(F.col("dt") == dt).persist()
    total = clean.count()
    if total == 0:
        raise ShardlineError(f"no clean {kind} records for {dt}: run clean_{'images' if kind == 'image' else 'text'} first")
    counts = label_counts(clean, split_cfg)
    labels, rare, rare_labels = usable_labels(counts, min_train_rows_per_label, rare_labels)
    if len(labels) < 2:
        raise ShardlineError(f"need at least 2 labels to train a classifier, found {labels}")
    if rare and rare_labels == "exclude":
        log.warning("%s labels with fewer than %d train rows are left out of training (their rows stay in %s): %s",
                    kind, min_train_rows_per_label, SOURCES[kind].qualified, rare)
    rows = transform(clean.filter(F.col("label").isin(labels)), labels, split_cfg)
    encoding, shape = image_encoding(clean, encoding) if kind == "image" else ("text", None)
    if encoding == "raw":
        rows = to_raw_pixels(rows)
    rows = rows.persist()
    version = fingerprint(rows, asdict(split_cfg), asdict(shard_cfg), encoding, labels)
    root = kind_root(paths, kind)
    clean_stale_staging(paths, kind)
    final = root / version
    if (final / "manifest.json").exists():  # the same content was published before: reuse it untouched
        manifest = json.loads((final / "manifest.json").read_text())
        write_pointer(root / "candidate", version)
        rows.unpersist()
        clean.unpersist()
        log.info("%s dataset %s already published with the same content: reused as the candidate", kind, version)
        return manifest, Counts(total, total, 0)
    stats = split_stats(rows, kind)
    stage = staging_dir(final)
    shards = {}
    for split in SPLITS:
        n = sum(stats[split]["counts"].values())
        plan = plan_shards(stats[split]["bytes"], n, shard_cfg)
        shards[split] = write_split_checked(spark, rows.filter(F.col("split") == split), kind, stage / split, plan,
                                            min_groups=min(n, shard_cfg.max_workers * shard_cfg.row_groups_per_worker),
                                            expected_rows=n)
    published = sum(sum(stats[s]["counts"].values()) for s in SPLITS)
    rare_rows = sum(counts[label][0] for label in rare) if rare_labels == "exclude" else 0
    manifest = {
        "kind": kind, "version": version, "dt": dt, "labels": labels,
        "unlabeled_skipped": total - published - rare_rows,
        "rare_labels": rare, "rare_label": rare_rows, "rare_label_policy": rare_labels,
        "min_train_rows_per_label": min_train_rows_per_label,
        "encoding": encoding, "image_shape": shape,
        "counts": {s: stats[s]["counts"] for s in SPLITS},
        "rows": {s: sum(stats[s]["counts"].values()) for s in SPLITS},
        "bytes": {s: stats[s]["bytes"] for s in SPLITS},
        "size_histogram": {"bin_edges": SIZE_BINS, **{s: stats[s]["size_histogram"] for s in SPLITS}},
        "shards": shards, "stratification": stratification(stats, labels),
        "split_config": asdict(split_cfg), "shard_config": asdict(shard_cfg),
        "schema": {"name": SCHEMAS[kind]._name,
                   "fields": {f.name: f.dataType.simpleString() for f in SCHEMAS[kind].as_spark_schema().fields}},
        "source_table": SOURCES[kind].qualified, "source_fingerprint": fingerprint(clean),
        "code_version": code_version(),
        "published_at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
    }
    write_json_atomic(stage / "manifest.json", manifest)  # last file written: marks the version complete
    commit_dir(stage, final)
    write_pointer(root / "candidate", version)
    rows.unpersist()
    clean.unpersist()
    log.info("published %s dataset %s (candidate; the validation gate moves latest): rows %s, row groups %s",
             kind, version, manifest["rows"], {s: shards[s]["row_groups"] for s in SPLITS})
    # Publishing rejects nothing: unlabeled rows are scored later, not lost, and are counted in the manifest.
    return manifest, Counts(total, total, 0)


def main(argv: Sequence[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0], prog="publish_dataset")
    p.add_argument("--kind", required=True, choices=sorted(SOURCES))
    p.add_argument("--target-file-mb", type=float, default=None,
                   help="target Parquet file size of this kind's shards (default: the setting dataset.<kind>_file_mb)")
    p.add_argument("--row-group-mb", type=float, default=None,
                   help="largest row group of this kind's shards (default: the setting dataset.<kind>_row_group_mb)")
    add_setting_flags(p, "dataset")
    add_setting_flags(p, "gate", only=("min_train_rows_per_label", "rare_labels"))
    args = parse_args(p, argv)
    gate_settings, dataset = args.settings.gate, args.settings.dataset

    def body(ctx: JobContext) -> Counts:
        try:
            split_cfg = SplitConfig(dataset.train_fraction, dataset.val_fraction, dataset.split_seed)
            shard_cfg = ShardConfig.for_kind(args.kind, dataset, target_file_mb=args.target_file_mb,
                                             row_group_mb=args.row_group_mb)
        except ValueError as exc:
            raise ShardlineError(str(exc)) from None
        return publish(ctx.spark, args.kind, ctx.dt, split_cfg, shard_cfg, ctx.paths, dataset.image_encoding,
                       min_train_rows_per_label=gate_settings.min_train_rows_per_label,
                       rare_labels=gate_settings.rare_labels)[1]

    return run_job(f"publish_{args.kind}", args, body)


if __name__ == "__main__":
    entrypoint(main)
