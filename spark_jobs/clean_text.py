"""Clean a JSONL text corpus (one object per line: text, optional label and id) into ``ml.clean_text``.

Lines are read as raw bytes, so nothing is lost to decoding: each line becomes exactly one accepted or
quarantined record. Reasons: blank_line, invalid_utf8, malformed_json, missing_text, empty_text, duplicate.
Normalisation: Unicode NFC, control characters removed, whitespace collapsed. Ids come from the record's
own ``id`` field, else from a hash of its normalised text (malformed lines: of their raw bytes).

    spark-submit spark_jobs/clean_text.py --date 2026-11-23 --input data/samples/text/corpus.jsonl
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from schemas.warehouse import CLEAN_TEXT
from spark_jobs.common.config import require_path
from spark_jobs.common.flagged import flag_duplicates, write_flagged
from spark_jobs.common.job import Counts, base_parser, entrypoint, run_job

JOB = "clean_text"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class TextCleanConfig:
    text_field: str = "text"
    label_field: str = "label"
    id_field: str = "id"
    normal_form: str = "NFC"

    def __post_init__(self) -> None:
        if self.normal_form not in ("NFC", "NFKC"):
            raise ValueError(f"normal_form must be NFC or NFKC, got {self.normal_form!r}")


PARSED = StructType([
    StructField("id", StringType()),
    StructField("source", StringType()),
    StructField("label", StringType()),
    StructField("text", StringType()),
    StructField("content_hash", StringType()),
    StructField("reason", StringType()),
    StructField("detail", StringType()),
])


def read_lines(spark: SparkSession, path: str) -> DataFrame:
    """(source, raw) per line; ``raw`` keeps the undecoded bytes."""
    return (spark.read.text(path)
            .select(F.input_file_name().alias("source"), F.col("value").cast("binary").alias("raw")))


def normalize(text: str, normal_form: str = "NFC") -> str:
    text = unicodedata.normalize(normal_form, text)
    return _SPACE.sub(" ", _CONTROL.sub("", text)).strip()


def parse_one(source: str, raw: bytes, cfg: TextCleanConfig) -> dict:
    row = {f.name: None for f in PARSED.fields}
    row.update(source=source, id="raw-" + hashlib.sha1(raw).hexdigest()[:16])

    def reject(reason: str, detail: str) -> dict:
        row.update(reason=reason, detail=detail[:500])
        return row

    if not raw.strip():
        return reject("blank_line", "line holds only whitespace")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        _recover_id(row, raw.decode("utf-8", errors="replace"), cfg)
        return reject("invalid_utf8", f"byte {exc.start}: {exc.reason}")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return reject("malformed_json", f"{exc.msg} at column {exc.colno}")
    if not isinstance(obj, dict):
        return reject("malformed_json", f"expected a JSON object, got {type(obj).__name__}")
    _recover_id(row, obj, cfg)
    label = obj.get(cfg.label_field)
    row["label"] = None if label is None else str(label)
    text = obj.get(cfg.text_field)
    if not isinstance(text, str):
        return reject("missing_text", f"field {cfg.text_field!r} is " + ("absent" if text is None else
                                                                          type(text).__name__))
    text = normalize(text, cfg.normal_form)
    if not text:
        return reject("empty_text", "no text left after normalisation")
    digest = hashlib.sha1(text.encode()).hexdigest()
    if obj.get(cfg.id_field) is None:
        row["id"] = "txt-" + digest[:16]
    row.update(text=text, content_hash=digest)
    return row


def _recover_id(row: dict, obj: dict | str, cfg: TextCleanConfig) -> None:
    """Keep the record's own id when it can be read, so quarantine names what the user sent."""
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError:
            return
    if isinstance(obj, dict) and obj.get(cfg.id_field) is not None:
        row["id"] = str(obj[cfg.id_field])


def transform(lines: DataFrame, cfg: TextCleanConfig) -> DataFrame:
    """(source, raw) -> PARSED rows, one per line, exact duplicates flagged. No I/O."""

    def parse(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            rows = [parse_one(s, bytes(r), cfg) for s, r in zip(pdf["source"], pdf["raw"])]
            yield pd.DataFrame(rows, columns=[f.name for f in PARSED.fields])

    return flag_duplicates(lines.mapInPandas(parse, PARSED), ["id", "source"])  # keep the smallest id


def main(argv: Sequence[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="a .jsonl file or a folder of them")
    p.add_argument("--text-field", default="text")
    p.add_argument("--label-field", default="label")
    p.add_argument("--id-field", default="id")
    p.add_argument("--normal-form", default="NFC", choices=["NFC", "NFKC"])
    args = p.parse_args(argv)

    def validate() -> None:
        require_path(args.input, "text corpus")

    def body(spark: SparkSession) -> Counts:
        cfg = TextCleanConfig(args.text_field, args.label_field, args.id_field, args.normal_form)
        path = require_path(args.input, "text corpus")
        return write_flagged(spark, transform(read_lines(spark, str(path)), cfg), CLEAN_TEXT, JOB, args.date)

    return run_job(JOB, args, body, validate)


if __name__ == "__main__":
    entrypoint(main)
