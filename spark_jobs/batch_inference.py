"""Score one run date's clean records with the champion model into ``ml.<kind>_predictions``.

Scoring runs in ``mapInPandas`` over Arrow batches; each Python worker loads the model once
(``training.inference.load_predictor``). Rerunning a date replaces that date's partition only.

    spark-submit spark_jobs/batch_inference.py --date 2026-11-23 --kind image
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Sequence

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from schemas.warehouse import CLEAN_IMAGES, CLEAN_TEXT, IMAGE_PREDICTIONS, TEXT_PREDICTIONS
from spark_jobs.common.config import Paths, ShardlineError
from spark_jobs.common.job import Counts, base_parser, entrypoint, run_job
from spark_jobs.common.warehouse import replace_partitions

SOURCES = {"image": (CLEAN_IMAGES, "image"), "text": (CLEAN_TEXT, "text")}
TARGETS = {"image": IMAGE_PREDICTIONS, "text": TEXT_PREDICTIONS}
SCORED = StructType([
    StructField("id", StringType()),
    StructField("source", StringType()),
    StructField("predicted_label", StringType()),
    StructField("score", DoubleType()),
])


def transform(df: DataFrame, kind: str, model_dir: str) -> DataFrame:
    """(id, source, <raw column>) -> (id, source, predicted_label, score). No I/O besides the model load."""
    column = SOURCES[kind][1]

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from training.inference import load_predictor

        predictor = load_predictor(model_dir)
        for pdf in batches:
            raw = [bytes(v) for v in pdf[column]] if kind == "image" else list(pdf[column])
            labels, scores = predictor.predict(raw)
            yield pd.DataFrame({"id": pdf["id"], "source": pdf["source"], "predicted_label": labels,
                                "score": scores})

    return df.select("id", "source", column).mapInPandas(score, SCORED)


def with_lineage(scored: DataFrame, *, model_name: str, model_version: str, run_id: str, dt: str) -> DataFrame:
    now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
    return scored.withColumns({
        "model_name": F.lit(model_name), "model_version": F.lit(model_version), "run_id": F.lit(run_id),
        "scored_at": F.lit(now).cast("timestamp"), "dt": F.lit(dt)})


def main(argv: Sequence[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--kind", required=True, choices=sorted(SOURCES))
    p.add_argument("--model-version", default=None, help="model version to use (default: the champion)")
    p.add_argument("--batch-size", type=int, default=512, help="rows per Arrow batch handed to the model")
    args = p.parse_args(argv)

    def validate() -> None:
        from training.inference import resolve_model_dir

        resolve_model_dir(Paths.from_env(), args.kind, args.model_version)

    def body(spark: SparkSession) -> Counts:
        import json

        from training.inference import resolve_model_dir

        if args.batch_size < 1:
            raise ShardlineError(f"--batch-size must be >= 1, got {args.batch_size}")
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.batch_size))
        model_dir = resolve_model_dir(Paths.from_env(), args.kind, args.model_version)
        meta = json.loads((model_dir / "model.json").read_text())
        table, _ = SOURCES[args.kind]
        rows = spark.table(table.qualified).filter(F.col("dt") == args.date)
        scored = with_lineage(transform(rows, args.kind, str(model_dir)), model_name=meta["name"],
                              model_version=meta["version"], run_id=args.run_id, dt=args.date).persist()
        n_in, n_out = rows.count(), scored.count()
        replace_partitions(spark, scored, TARGETS[args.kind], {"dt": args.date})
        scored.unpersist()
        return Counts(n_in, n_out, 0)

    return run_job(f"batch_inference_{args.kind}", args, body, validate)


if __name__ == "__main__":
    entrypoint(main)
