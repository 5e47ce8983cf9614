"""Clean a text corpus (JSONL, .txt files or Parquet) into ``ml.clean_text`` for one run date.

Reading never loses a record: JSONL lines are read as raw bytes (one record per line, every file a walk
of the root finds, ``_x.jsonl`` included), ``.txt`` files
are one document each (label = parent folder), Parquet rows come with a text column. Each record then
goes, in ``mapInPandas`` (Arrow batches), through parsing, normalisation (``spark_jobs/text/normalize.py``),
the preset's filters (``spark_jobs/text/quality.py``), PII redaction (``spark_jobs/text/pii.py``) and
MinHash (``spark_jobs/text/minhash.py``); then exact duplicates (hash of the normalised text) and near
duplicates (MinHash LSH candidates judged by shared words in order, ``spark_jobs/text/dedup.py``) are flagged. Every record ends up kept or
in ``ml.quarantine`` with a reason:
  reading: blank_line, invalid_utf8, malformed_json, not_an_object, invalid_unicode, bad_label, missing_text,
           text_not_a_string, too_large, empty_text, unreadable, not_a_file, broken_link
  filters: too_short, too_long, language, mean_word_length, symbol_ratio, ellipsis_lines, bullet_lines,
           repeated_lines, repeated_ngrams, no_stop_words, alpha_words, lorem_ipsum
  dedup:   duplicate_id (an id an earlier record holds with another text), duplicate, near_duplicate
           (detail names the id kept)
Ids: the record's own id field, else ``txt-`` + a hash of the normalised text (.txt files: of the path).
A per-run report (JSON + HTML) goes to ``<data>/reports/clean_text/dt=<date>/``.

    spark-submit spark_jobs/clean_text.py --date 2026-11-23 --input data/samples/text/corpus.jsonl --preset labeled
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from schemas.warehouse import CLEAN_TEXT
from shardline.config import ShardlineError, require_path, shown
from shardline.settings import add_setting_flags, parse_args
from spark_jobs.common import report
from spark_jobs.common.files import listed_uri
from spark_jobs.common.flagged import write_cleaned
from spark_jobs.common.job import Counts, JobContext, base_parser, entrypoint, run_job
from spark_jobs.text import quality
from spark_jobs.text.clean import TextCleanConfig, transform
from spark_jobs.text.minhash import MinHashConfig
from spark_jobs.text.read import FORMATS, detect_format, read_corpus

JOB = "clean_text"


def build_report(flagged: DataFrame, counts: Counts, **meta) -> dict:
    out = report.summarize(flagged, counts)
    kept = flagged.filter(F.col("reason").isNull())
    is_kept = F.col("reason").isNull()
    kept_only = {c: F.col(c) for c in ("word_count", "pii_email", "pii_phone", "pii_ip", "boilerplate_lines")}
    kept_only["chars"] = F.length("text")
    sums = flagged.agg(F.sum("words_in").alias("words_in"), F.sum("chars_in").alias("chars_in"),
                       *(F.coalesce(F.sum(F.when(is_kept, v)), F.lit(0)).alias(k) for k, v in kept_only.items())
                       ).first()
    out["before_after"] = {
        "documents": {"before": counts.records_in, "after": counts.records_out},
        "words": {"before": int(sums["words_in"] or 0), "after": int(sums["word_count"])},
        "characters": {"before": int(sums["chars_in"] or 0), "after": int(sums["chars"])},
    }
    out["pii_redacted"] = {k: int(sums[f"pii_{k}"]) for k in ("email", "phone", "ip")}
    out["boilerplate_lines_removed"] = int(sums["boilerplate_lines"])
    edges = [0, 1, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 20000]
    out["histograms"] = {
        "words per document, input (parsed records)": report.histogram(flagged, F.col("words_in"), edges),
        "words per document, kept": report.histogram(kept, F.col("word_count"), edges),
    }
    out["languages"] = {r["language"]: r["count"] for r in
                        flagged.filter(F.col("language").isNotNull()).groupBy("language").count().collect()}
    out["samples"] = {"rejected": report.samples(flagged, "reason", 5, ("id",), ("id", "source", "detail"))}
    out.update(job=JOB, **meta)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0], prog=JOB)
    p.add_argument("--input", required=True, help="a .jsonl/.json/.csv/.tsv/.txt/.parquet file or a folder of them "
                   "(a .json file may be one JSON array of records; a CSV/TSV starts with a header row)")
    p.add_argument("--format", default="auto", choices=("auto", *FORMATS), help="input format (default: from the files)")
    p.add_argument("--languages", default=None, help="allowed languages, comma-separated ISO codes ('' = any; "
                   "default: the preset's)")
    p.add_argument("--min-words", type=int, default=None, help="(default: the preset's)")
    p.add_argument("--max-words", type=int, default=None, help="(default: the preset's)")
    add_setting_flags(p, "text")
    args = parse_args(p, argv)

    @functools.cache  # validated before Spark starts, used again in the body: detect_format walks the folder
    def configs() -> tuple[Path, str, TextCleanConfig, MinHashConfig | None]:
        path = require_path(args.input, "text corpus")
        fmt = detect_format(path) if args.format == "auto" else args.format
        try:
            text = args.settings.text
            langs = None if args.languages is None else tuple(x for x in args.languages.split(",") if x)
            filters = quality.preset(text.preset, languages=langs, min_words=args.min_words, max_words=args.max_words)
            cfg = TextCleanConfig.from_settings(text, listed_uri(path), filters)
            minhash = MinHashConfig.from_settings(text)
        except ValueError as exc:
            raise ShardlineError(str(exc)) from None
        return path, fmt, cfg, minhash

    def body(ctx: JobContext) -> Counts:
        path, fmt, cfg, minhash = configs()
        ctx.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "2000")
        flagged = transform(read_corpus(ctx.spark, str(path), fmt, cfg), cfg, minhash)

        def make_report(persisted: DataFrame, counts: Counts) -> tuple[dict, dict[str, bytes]]:
            return build_report(persisted, counts, dt=ctx.dt, run_id=ctx.run_id, input=shown(path), format=fmt,
                                config={"preset": ctx.settings.text.preset, **asdict(cfg),
                                        "near_duplicates": asdict(minhash) if minhash else None}), {}

        return write_cleaned(ctx, flagged, CLEAN_TEXT, make_report)

    return run_job(JOB, args, body, lambda paths: configs() and None)


if __name__ == "__main__":
    entrypoint(main)
