"""Warehouse table schemas: the one place each table's columns are defined.

Jobs create tables from these constants (``spark_jobs.common.warehouse``) and tests compare the live
catalog against them, so a column is never written twice. Partition columns come last, in order.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

DATABASE = "ml"


@dataclass(frozen=True)
class Table:
    name: str
    schema: StructType
    partition_by: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()  # enrichment columns a writer may leave out: written as null

    @property
    def qualified(self) -> str:
        return f"{DATABASE}.{self.name}"


QUARANTINE = Table(
    "quarantine",
    StructType([
        StructField("id", StringType()),
        StructField("source", StringType()),
        StructField("reason", StringType()),
        StructField("detail", StringType()),
        StructField("stage", StringType()),
        StructField("dt", StringType()),
    ]),
    ("stage", "dt"),
)

JOB_RUNS = Table(
    "job_runs",
    StructType([
        StructField("dt", StringType()),
        StructField("job", StringType()),
        StructField("run_id", StringType()),
        StructField("records_in", LongType()),
        StructField("records_out", LongType()),
        StructField("records_quarantined", LongType()),
        StructField("started_at", TimestampType()),
        StructField("finished_at", TimestampType()),
        StructField("status", StringType()),
    ]),
)

CLEAN_IMAGES = Table(
    "clean_images",
    StructType([
        StructField("id", StringType()),
        StructField("source", StringType()),
        StructField("label", StringType()),
        StructField("image", BinaryType()),
        StructField("width", IntegerType()),
        StructField("height", IntegerType()),
        StructField("orig_width", IntegerType()),
        StructField("orig_height", IntegerType()),
        StructField("orig_format", StringType()),
        StructField("content_hash", StringType()),      # sha1 of the decoded pixels (exact duplicates)
        StructField("perceptual_hash", LongType()),     # 64-bit pHash/dHash (near duplicates)
        StructField("dt", StringType()),
    ]),
    ("dt",),
    optional=("perceptual_hash",),
)

CLEAN_TEXT = Table(
    "clean_text",
    StructType([
        StructField("id", StringType()),
        StructField("source", StringType()),
        StructField("label", StringType()),
        StructField("text", StringType()),
        StructField("content_hash", StringType()),      # sha1 of the normalised text (exact duplicates)
        StructField("language", StringType()),          # CLD2 code when the language filter ran
        StructField("word_count", IntegerType()),
        StructField("pii_redacted", IntegerType()),     # e-mails + phones + IPs replaced by placeholders
        StructField("dt", StringType()),
    ]),
    ("dt",),
    optional=("language", "word_count", "pii_redacted"),
)

# Top-k predictions, best first: what a user needs to look past the argmax.
TOP_K = ArrayType(StructType([StructField("label", StringType()), StructField("probability", DoubleType())]))

_PREDICTION_FIELDS = [
    StructField("id", StringType()),
    StructField("source", StringType()),
    StructField("predicted_label", StringType()),
    StructField("score", DoubleType()),
    StructField("top_k", TOP_K),
    StructField("model_name", StringType()),
    StructField("model_version", StringType()),
    StructField("dataset_version", StringType()),  # the published dataset scored, or the input it came from
    StructField("run_id", StringType()),
    StructField("scored_at", TimestampType()),
    # train / val / test of the dataset version the model was trained on, `unseen` when the record is in none:
    # held-out accuracy is ml.prediction_accuracy's split <> 'train' rows
    StructField("split", StringType()),
    StructField("dt", StringType()),
]

IMAGE_PREDICTIONS = Table("image_predictions", StructType(list(_PREDICTION_FIELDS)), ("dt",), optional=("split",))
TEXT_PREDICTIONS = Table("text_predictions", StructType(list(_PREDICTION_FIELDS)), ("dt",), optional=("split",))

SCORING_RUNS = Table(
    "scoring_runs",
    StructType([
        StructField("run_id", StringType()),
        StructField("kind", StringType()),
        StructField("dt", StringType()),
        StructField("input", StringType()),
        StructField("model_name", StringType()),
        StructField("model_version", StringType()),
        StructField("dataset_version", StringType()),
        StructField("rows_in", LongType()),
        StructField("rows_out", LongType()),
        StructField("rows_quarantined", LongType()),
        StructField("started_at", TimestampType()),
        StructField("finished_at", TimestampType()),
        StructField("duration_s", DoubleType()),
        StructField("status", StringType()),
        StructField("error", StringType()),
    ]),
)

ALL_TABLES = (QUARANTINE, JOB_RUNS, CLEAN_IMAGES, CLEAN_TEXT, IMAGE_PREDICTIONS, TEXT_PREDICTIONS, SCORING_RUNS)

# Monitoring views (``ml.<name>``), registered with the tables in every catalog.
_PREDICTIONS = ("SELECT 'image' AS kind, * FROM ml.image_predictions "
                "UNION ALL SELECT 'text' AS kind, * FROM ml.text_predictions")
_LABELS = ("SELECT 'image' AS kind, id, dt, label FROM ml.clean_images "
           "UNION ALL SELECT 'text' AS kind, id, dt, label FROM ml.clean_text")
VIEWS = {
    # Where the true label is known (the clean record of the same id and date has one).
    # Per split of the model's dataset (`split`): only `test`, `val` and `unseen` rows are held-out figures.
    "prediction_accuracy": f"""
        SELECT p.kind, p.dt, p.model_version, p.split, count(*) AS n_labeled,
               sum(CASE WHEN p.predicted_label = l.label THEN 1 ELSE 0 END) AS n_correct,
               avg(CASE WHEN p.predicted_label = l.label THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END) AS accuracy
        FROM ({_PREDICTIONS}) p JOIN ({_LABELS}) l ON p.kind = l.kind AND p.id = l.id AND p.dt = l.dt
        WHERE l.label IS NOT NULL AND l.label <> ''
        GROUP BY p.kind, p.dt, p.model_version, p.split""",
    # Share of each predicted label per date.
    "prediction_distribution": f"""
        SELECT kind, dt, model_version, predicted_label, count(*) AS n,
               count(*) / sum(count(*)) OVER (PARTITION BY kind, dt) AS share
        FROM ({_PREDICTIONS}) GROUP BY kind, dt, model_version, predicted_label""",
    # Population stability index of the predicted-label distribution against the previous scored date
    # (0 = same mix; above 0.2 is usually read as a real shift). Shares are floored at 1e-4.
    "prediction_drift": """
        WITH d AS (SELECT kind, dt, predicted_label, sum(share) AS share FROM ml.prediction_distribution
                   GROUP BY kind, dt, predicted_label),
             dates AS (SELECT kind, dt, lag(dt) OVER (PARTITION BY kind ORDER BY dt) AS prev_dt
                       FROM (SELECT DISTINCT kind, dt FROM d)),
             pairs AS (SELECT x.kind, x.dt, x.prev_dt, lbl.predicted_label
                       FROM dates x JOIN (SELECT DISTINCT kind, predicted_label FROM d) lbl ON x.kind = lbl.kind
                       WHERE x.prev_dt IS NOT NULL)
        SELECT p.kind, p.dt, p.prev_dt,
               sum((greatest(coalesce(c.share, 0), 1e-4) - greatest(coalesce(o.share, 0), 1e-4))
                   * ln(greatest(coalesce(c.share, 0), 1e-4) / greatest(coalesce(o.share, 0), 1e-4))) AS psi,
               max(abs(coalesce(c.share, 0) - coalesce(o.share, 0))) AS max_share_change
        FROM pairs p
        LEFT JOIN d c ON c.kind = p.kind AND c.dt = p.dt AND c.predicted_label = p.predicted_label
        LEFT JOIN d o ON o.kind = p.kind AND o.dt = p.prev_dt AND o.predicted_label = p.predicted_label
        GROUP BY p.kind, p.dt, p.prev_dt""",
}
