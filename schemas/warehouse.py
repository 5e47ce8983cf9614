"""Warehouse table schemas: the one place each table's columns are defined.

Jobs create tables from these constants (``spark_jobs.common.warehouse``) and tests compare the live
catalog against them, so a column is never written twice. Partition columns come last, in order.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.types import (
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
        StructField("content_hash", StringType()),
        StructField("dt", StringType()),
    ]),
    ("dt",),
)

CLEAN_TEXT = Table(
    "clean_text",
    StructType([
        StructField("id", StringType()),
        StructField("source", StringType()),
        StructField("label", StringType()),
        StructField("text", StringType()),
        StructField("content_hash", StringType()),
        StructField("dt", StringType()),
    ]),
    ("dt",),
)

_PREDICTION_FIELDS = [
    StructField("id", StringType()),
    StructField("source", StringType()),
    StructField("predicted_label", StringType()),
    StructField("score", DoubleType()),
    StructField("model_name", StringType()),
    StructField("model_version", StringType()),
    StructField("run_id", StringType()),
    StructField("scored_at", TimestampType()),
    StructField("dt", StringType()),
]

IMAGE_PREDICTIONS = Table("image_predictions", StructType(list(_PREDICTION_FIELDS)), ("dt",))
TEXT_PREDICTIONS = Table("text_predictions", StructType(list(_PREDICTION_FIELDS)), ("dt",))

ALL_TABLES = (QUARANTINE, JOB_RUNS, CLEAN_IMAGES, CLEAN_TEXT, IMAGE_PREDICTIONS, TEXT_PREDICTIONS)
