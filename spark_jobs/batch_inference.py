"""Score records with the champion (or a named) model into ``ml.<kind>_predictions`` for one date.

Inputs (pick one; default: the date's clean records in ``ml.clean_<kind>``):
  --dataset VERSION|latest [--split test]   a published dataset split
  --corpus PATH                             a new, unlabeled corpus snapshot (cleaned on the way in;
                                            what fails cleaning goes to ml.quarantine, stage score_<kind>)

Scoring runs in ``mapInPandas`` over Arrow batches of ``--batch-size`` rows; each Python worker loads
the model once (``training.inference.load_predictor``) and applies the model's own preprocessing to
raw images or strings. The date's partition is replaced atomically; a row per run goes to
``ml.scoring_runs`` whatever the outcome.

    spark-submit spark_jobs/batch_inference.py --date 2026-11-23 --kind image
"""
from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, StringType, StructField, StructType

from schemas.warehouse import (
    CLEAN_IMAGES,
    CLEAN_TEXT,
    IMAGE_PREDICTIONS,
    SCORING_RUNS,
    TEXT_PREDICTIONS,
    TOP_K,
)
from shardline.config import Paths, ShardlineError, require_path, shown
from shardline.settings import ScoringSettings, Settings, add_setting_flags, parse_args
from shardline.warehouse_log import append_records
from spark_jobs.common.files import listed_uri
from spark_jobs.common.job import Counts, JobContext, base_parser, entrypoint, run_job
from spark_jobs.common.warehouse import Write, quarantine_write, replace_together

SOURCES = {"image": (CLEAN_IMAGES, "image"), "text": (CLEAN_TEXT, "text")}
TARGETS = {"image": IMAGE_PREDICTIONS, "text": TEXT_PREDICTIONS}
SCORED = StructType([
    StructField("id", StringType()),
    StructField("source", StringType()),
    StructField("predicted_label", StringType()),
    StructField("score", DoubleType()),
    StructField("top_k", TOP_K),
])
# What the Python workers return: top-k as two flat arrays (cheap to move through Arrow); Spark zips
# them into TOP_K structs on the JVM side.
_WORKER_OUT = StructType([
    *SCORED.fields[:4],
    StructField("top_labels", ArrayType(StringType())),
    StructField("top_probs", ArrayType(DoubleType())),
])


@dataclass(frozen=True)
class ScoringInput:
    """What is scored: rows of (id, source, <raw column>) plus how the raw column is encoded."""

    rows: DataFrame
    description: str  # for ml.scoring_runs.input
    dataset_version: str
    encoding: str = "png"
    shape: list[int] | None = None
    rejected: DataFrame | None = None  # corpus records that failed cleaning


def transform(df: DataFrame, kind: str, model_dir: str, *, top_k: int = ScoringSettings().top_k, encoding: str = "png",
              shape: list[int] | None = None) -> DataFrame:
    """(id, source, <raw column>) -> SCORED rows. No I/O besides the model load (once per worker)."""
    column = SOURCES[kind][1]

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import os

        from training.inference import load_predictor

        # Spark already runs one Python worker per core: one TensorFlow thread each avoids
        # oversubscription (SHARDLINE_TF_THREADS overrides; measured in docs/BENCHMARKS.md).
        os.environ.setdefault("SHARDLINE_TF_THREADS", "1")
        predictor = load_predictor(model_dir)
        for pdf in batches:
            raw = [bytes(v) for v in pdf[column]] if kind == "image" else list(pdf[column])
            labels, scores, top_labels, top_probs = predictor.predict(raw, encoding, shape, top_k)
            yield pd.DataFrame({"id": pdf["id"], "source": pdf["source"], "predicted_label": labels,
                                "score": scores, "top_labels": list(top_labels), "top_probs": list(top_probs)})

    zipped = F.transform(F.arrays_zip("top_labels", "top_probs"),
                         lambda s: F.struct(s["top_labels"].alias("label"), s["top_probs"].alias("probability")))
    return (df.select("id", "source", column).mapInPandas(score, _WORKER_OUT)
            .select("id", "source", "predicted_label", "score", zipped.alias("top_k")))


def spread(rows: DataFrame, spark: SparkSession) -> DataFrame:
    """At least two tasks per core: scoring is CPU-heavy per row, and a small input read as one or two
    splits would otherwise leave cores idle. File splits are made smaller first (no shuffle; see
    ``main``); only an input that still has too few partitions is repartitioned."""
    want = 2 * spark.sparkContext.defaultParallelism
    return rows if rows.rdd.getNumPartitions() >= want else rows.repartition(want)


def with_lineage(scored: DataFrame, *, model_name: str, model_version: str, dataset_version: str,
                 run_id: str, dt: str) -> DataFrame:
    now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
    return scored.withColumns({
        "model_name": F.lit(model_name), "model_version": F.lit(model_version),
        "dataset_version": F.lit(dataset_version), "run_id": F.lit(run_id),
        "scored_at": F.lit(now).cast("timestamp"), "dt": F.lit(dt)})


SPLITS = ("train", "val", "test")


def with_split(scored: DataFrame, spark: SparkSession, model: dict) -> DataFrame:
    """Each row's split in the dataset version the model was trained on (``train``/``val``/``test``), or
    ``unseen``: what makes ``ml.prediction_accuracy`` a held-out figure. The ids come from the dataset's own
    files (``model.json``'s ``dataset_path``)."""
    folder = Path(model.get("dataset_path") or "/nonexistent")
    parts = [spark.read.parquet(str(folder / split)).select("id").withColumn("split", F.lit(split))
             for split in SPLITS if (folder / split).is_dir()]
    if not parts:
        return scored.withColumn("split", F.lit("unseen"))
    ids = parts[0]
    for more in parts[1:]:
        ids = ids.unionByName(more)
    return (scored.join(ids.dropDuplicates(["id"]), "id", "left")
            .withColumn("split", F.coalesce(F.col("split"), F.lit("unseen"))))


def clean_input(spark: SparkSession, kind: str, dt: str) -> ScoringInput:
    table, column = SOURCES[kind]
    rows = spark.table(table.qualified).filter(F.col("dt") == dt).select("id", "source", column)
    return ScoringInput(rows, f"{table.qualified} dt={dt}", f"{table.qualified}@{dt}")


def dataset_input(spark: SparkSession, paths: Paths, kind: str, version: str, split: str) -> ScoringInput:
    from shardline.datasets import kind_root, read_manifest
    from shardline.storage import read_pointer

    if version in ("latest", "candidate"):
        resolved = read_pointer(kind_root(paths, kind) / version)
        if resolved is None:
            raise ShardlineError(f"no {version} {kind} dataset under {kind_root(paths, kind)}: publish one first")
        version = resolved
    manifest = read_manifest(paths, kind, version)
    folder = kind_root(paths, kind) / version / split
    if not folder.exists():
        raise ShardlineError(f"{kind} dataset {version} has no split {split!r} (has: {', '.join(manifest['counts'])})")
    column = SOURCES[kind][1]
    rows = spark.read.parquet(str(folder)).select("id", F.col("id").alias("source"), column)
    rows = rows.withColumn("source", F.concat(F.lit(f"dataset:{version}/{split}/"), F.col("id")))
    return ScoringInput(rows, f"dataset {kind}/{version}/{split}", version,
                        manifest.get("encoding") or "png", manifest.get("image_shape"))


def model_image_shape(model: dict) -> list[int] | None:
    """The (height, width, channels) the model was trained on, from its training dataset's manifest."""
    manifest = Path(model.get("dataset_path") or "/nonexistent") / "manifest.json"
    return json.loads(manifest.read_text()).get("image_shape") if manifest.exists() else None


def corpus_input(spark: SparkSession, kind: str, path: str, settings: Settings,
                 shape: list[int] | None = None) -> ScoringInput:
    """A raw corpus goes through the kind's cleaning transform under the run's ``settings``, as the cleaning
    jobs do (images sized and coloured as the model's input ``shape`` says); what fails cleaning is kept for
    quarantine."""
    from spark_jobs.common.flagged import rejected

    root = require_path(path, f"{kind} corpus")
    if kind == "image":
        from spark_jobs.common.files import read_files
        from spark_jobs.imaging import clean as c

        size, mode = ((shape[1], shape[0]), "L" if shape[2] == 1 else "RGB") if shape else (None, None)
        cfg = c.ImageCleanConfig.from_settings(settings.images, listed_uri(root), size, mode)
        flagged = c.transform(read_files(spark, str(root)), cfg, near=None)  # score near duplicates too
    else:
        from spark_jobs.text import clean as c
        from spark_jobs.text.read import detect_format, read_corpus

        cfg = c.TextCleanConfig.from_settings(settings.text, listed_uri(root))
        flagged = c.transform(read_corpus(spark, str(root), detect_format(root), cfg), cfg, minhash=None)
    flagged = flagged.persist()
    good = flagged.filter(F.col("reason").isNull()).select("id", "source", SOURCES[kind][1])
    return ScoringInput(good, f"corpus {shown(root)}", f"corpus:{shown(root.name)}", rejected=rejected(flagged))


def scoring_run_row(*, run_id: str, kind: str, dt: str, input_: str, model: dict, dataset_version: str,
                    counts: Counts, started: float, status: str, error: str = "") -> dict:
    finished, utc = time.time(), _dt.timezone.utc
    return dict(run_id=run_id, kind=kind, dt=dt, input=input_, model_name=model.get("name"),
                model_version=model.get("version"), dataset_version=dataset_version, rows_in=counts.records_in,
                rows_out=counts.records_out, rows_quarantined=counts.records_quarantined,
                started_at=_dt.datetime.fromtimestamp(started, utc), finished_at=_dt.datetime.fromtimestamp(finished, utc),
                duration_s=round(finished - started, 3), status=status, error=error or None)


def record_run(paths: Paths, row: dict) -> None:
    """``ml.scoring_runs`` gets one row per run, success or failure (a failed start, a SIGTERM included);
    written without Spark, so a run whose session died still records itself."""
    append_records(paths, SCORING_RUNS, [row])


def main(argv: Sequence[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0], prog="batch_inference")
    p.add_argument("--kind", required=True, choices=sorted(SOURCES))
    p.add_argument("--model-version", default=None, help="model version to use (default: the champion)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", help="score a published dataset version (or 'latest') instead of ml.clean_<kind>")
    src.add_argument("--corpus", help="score a new unlabeled corpus (image folder, or JSONL file/folder)")
    p.add_argument("--split", default="test", help="split of --dataset to score (default test)")
    add_setting_flags(p, "scoring")
    args = parse_args(p, argv)
    scoring = args.settings.scoring

    def validate(paths: Paths) -> None:
        from training.inference import resolve_model_dir

        started = time.time()
        try:
            if args.corpus:
                require_path(args.corpus, f"{args.kind} corpus")
            resolve_model_dir(paths, args.kind, args.model_version)
        except ShardlineError as exc:
            record_run(paths, scoring_run_row(
                run_id=args.run_id, kind=args.kind, dt=args.date, input_=args.corpus or args.dataset or "",
                model={}, dataset_version="", counts=Counts(0, 0, 0), started=started, status="failed",
                error=str(exc)[:500]))
            raise

    def body(ctx: JobContext) -> Counts:
        from training.inference import resolve_model_dir

        spark, paths = ctx.spark, ctx.paths
        started, model, counts = time.time(), {}, Counts(0, 0, 0)
        source = None
        try:
            spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(scoring.batch_size))
            # ask the file scan for two splits per core, so spread() rarely needs a shuffle
            spark.conf.set("spark.sql.files.minPartitionNum", str(2 * spark.sparkContext.defaultParallelism))
            model_dir = resolve_model_dir(paths, args.kind, args.model_version)
            model = json.loads((model_dir / "model.json").read_text())
            if args.dataset:
                source = dataset_input(spark, paths, args.kind, args.dataset, args.split)
            elif args.corpus:
                source = corpus_input(spark, args.kind, args.corpus, ctx.settings, model_image_shape(model))
            else:
                source = clean_input(spark, args.kind, ctx.dt)
            scored = with_lineage(
                with_split(transform(spread(source.rows, spark), args.kind, str(model_dir), top_k=scoring.top_k,
                                     encoding=source.encoding, shape=source.shape), spark, model),
                model_name=model["name"], model_version=model["version"],
                dataset_version=source.dataset_version, run_id=ctx.run_id, dt=ctx.dt)
            n_bad, writes = 0, [Write(scored, TARGETS[args.kind], {"dt": ctx.dt})]
            if source.rejected is not None:
                n_bad = source.rejected.count()
                # committed with the predictions, once both are written: neither is visible without the other
                writes.insert(0, quarantine_write(source.rejected, f"score_{args.kind}", ctx.dt))
            n_in = source.rows.count() + n_bad
            # one pass: score while writing; rows out are counted from the written files
            n_out = replace_together(spark, writes, paths)[-1][1]
            counts = Counts(n_in, n_out, n_bad)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            record_run(paths, scoring_run_row(
                run_id=ctx.run_id, kind=args.kind, dt=ctx.dt, input_=source.description if source else "",
                model=model, dataset_version=source.dataset_version if source else "", counts=counts,
                started=started, status="failed", error=first[:500]))
            raise
        record_run(paths, scoring_run_row(
            run_id=ctx.run_id, kind=args.kind, dt=ctx.dt, input_=source.description, model=model,
            dataset_version=source.dataset_version, counts=counts, started=started, status="success"))
        return counts

    return run_job(f"batch_inference_{args.kind}", args, body, validate)


if __name__ == "__main__":
    entrypoint(main)
