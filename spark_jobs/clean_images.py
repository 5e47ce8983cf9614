"""Clean an image folder corpus (ROOT/<label>/<file>) into ``ml.clean_images`` for one run date.

Files are listed (``spark_jobs/common/files.py``), decoded, verified, repaired
and resized with Pillow inside ``mapInPandas`` (Arrow batches; see ``spark_jobs/imaging/decode.py`` for
the rules), then deduplicated twice: exact (a hash of the decoded pixels, so one picture saved as two
files is caught) and near (perceptual hash within a Hamming distance, matched with LSH in Spark, see
``spark_jobs/imaging/dedup.py``). Rejects keep their id and source and go to ``ml.quarantine`` with a
reason: empty_file, too_large (by size, unread), not_an_image, decompression_bomb, too_small, unsupported_mode,
truncated, duplicate, near_duplicate. A per-run report (JSON, HTML, contact sheet PNG) goes to ``<data>/reports/clean_images/``.

    spark-submit spark_jobs/clean_images.py --date 2026-11-23 --input data/samples/images
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas.warehouse import CLEAN_IMAGES
from shardline.config import ShardlineError, require_path, shown
from shardline.settings import add_setting_flags, parse_args
from spark_jobs.common import report
from spark_jobs.common.files import listed_uri, read_files, read_samples
from spark_jobs.common.flagged import write_cleaned
from spark_jobs.common.job import Counts, JobContext, base_parser, entrypoint, run_job
from spark_jobs.imaging.clean import ImageCleanConfig, NearDupConfig, transform

JOB = "clean_images"
SAMPLES_PER_SECTION = 8


def near_duplicate_originals(flagged: DataFrame, samples: list[dict]) -> dict[str, str]:
    """{sampled near duplicate's id: source of the kept picture it duplicates}, from its detail
    ("near duplicate of <id> (hamming n)")."""
    wanted = {}
    for s in samples:
        detail = s.get("detail") or ""
        if detail.startswith("near duplicate of ") and " (hamming" in detail:
            wanted[s["id"]] = detail[len("near duplicate of "):detail.rindex(" (hamming")]
    if not wanted:
        return {}
    rows = flagged.filter(F.col("id").isin(sorted(set(wanted.values())))).select("id", "source").collect()
    source = {r["id"]: r["source"] for r in rows}
    return {dup: source[orig] for dup, orig in wanted.items() if orig in source}


def build_report(spark: SparkSession, flagged: DataFrame, counts: Counts, *, dt: str, run_id: str,
                 input_: str, cfg: ImageCleanConfig, near: NearDupConfig | None) -> tuple[dict, bytes]:
    """The run's report and its contact sheet (sample rejects per reason, sample kept images per label)."""
    out = report.summarize(flagged, counts)
    aspect = F.col("orig_width") / F.col("orig_height")
    out["histograms"] = {
        "original width (px)": report.histogram(flagged, F.col("orig_width"), [0, 32, 64, 128, 256, 512, 1024, 2048]),
        "original height (px)": report.histogram(flagged, F.col("orig_height"), [0, 32, 64, 128, 256, 512, 1024, 2048]),
        "aspect ratio (w/h)": report.histogram(flagged, aspect, [0, 0.5, 0.75, 0.95, 1.05, 1.33, 2.0]),
    }
    rejects = report.samples(flagged, "reason", SAMPLES_PER_SECTION, ("source",), ("id", "source", "detail"))
    kept = report.samples(flagged.filter(F.col("reason").isNull()).fillna({"label": "(none)"}), "label",
                          SAMPLES_PER_SECTION, ("source",), ("id", "source"))
    out["samples"] = {"rejected": rejects, "kept": kept}
    def uri(source: str) -> str:
        return cfg.root_uri.rstrip("/") + "/" + source

    # a near duplicate is shown beside the picture it duplicates (the kept one its detail names)
    kept_of = near_duplicate_originals(flagged, rejects.get("near_duplicate", []))
    files = read_samples(sorted({uri(s["source"]) for group in (rejects, kept) for v in group.values() for s in v}
                                | {uri(src) for src in kept_of.values()}))

    def tiles(items: list[dict]) -> list[tuple[bytes | None, str]]:
        return [(files.get(uri(s["source"])), s["source"].rsplit("/", 1)[-1]) for s in items]

    def pairs(items: list[dict]) -> list[tuple[bytes | None, str]]:
        out = []
        for s in items[:SAMPLES_PER_SECTION // 2]:
            original = kept_of.get(s["id"])
            if original:
                out.append((files.get(uri(original)), "kept: " + original.rsplit("/", 1)[-1]))
            out.append((files.get(uri(s["source"])), "dropped: " + s["source"].rsplit("/", 1)[-1]))
        return out

    sections = [(f"rejected: {reason}", pairs(items) if reason == "near_duplicate" else tiles(items))
                for reason, items in rejects.items()]
    sections += [(f"kept: {label}", tiles(items)) for label, items in kept.items()]
    from spark_jobs.imaging import contact_sheet

    out.update(job=JOB, dt=dt, run_id=run_id, input=input_, contact_sheet="contact_sheet.png",
               config={"clean": {k: v for k, v in asdict(cfg).items() if k != "root_uri"},
                       "near_duplicates": asdict(near) if near else None})
    return out, contact_sheet.render(sections, background=cfg.background)


def _size(value: str) -> tuple[int, int]:
    w, _, h = value.lower().partition("x")
    try:
        return int(w), int(h or w)
    except ValueError:
        raise ShardlineError(f"--target-size must look like 28 or 32x24, got {value!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0], prog=JOB)
    p.add_argument("--input", required=True, help="corpus root: ROOT/<label>/<image> (no label folder = unlabeled)")
    p.add_argument("--glob", default=None, help="only files whose name matches, e.g. '*.{jpg,png}'")
    p.add_argument("--target-size", help="output size: N (square) or WxH (default: the setting images.size)")
    p.add_argument("--read-in-spark", action="store_true",
                   help="pass file bytes from Spark's binaryFile reader through Arrow (default: workers read local files)")
    add_setting_flags(p, "images")
    args = parse_args(p, argv)

    @functools.cache  # validated before Spark starts, used again in the body
    def configs() -> tuple[Path, ImageCleanConfig, NearDupConfig | None]:
        root = require_path(args.input, "image corpus folder")
        images = args.settings.images
        size = _size(args.target_size) if args.target_size else None
        try:
            cfg = ImageCleanConfig.from_settings(images, listed_uri(root), size)
            near = NearDupConfig.from_settings(images)
        except ValueError as exc:
            raise ShardlineError(str(exc)) from None
        return root, cfg, near

    def body(ctx: JobContext) -> Counts:
        root, cfg, near = configs()
        spark = ctx.spark
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "256")  # images are big rows
        spark.conf.set("spark.sql.files.openCostInBytes", str(256 * 1024))
        spark.conf.set("spark.sql.files.maxPartitionBytes", str(32 * 1024 * 1024))
        flagged = transform(read_files(spark, str(root), args.glob, content=args.read_in_spark), cfg, near)

        def make_report(persisted: DataFrame, counts: Counts) -> tuple[dict, dict[str, bytes]]:
            rep, sheet = build_report(spark, persisted, counts, dt=ctx.dt, run_id=ctx.run_id,
                                      input_=shown(root), cfg=cfg, near=near)
            return rep, {"contact_sheet.png": sheet}

        return write_cleaned(ctx, flagged, CLEAN_IMAGES, make_report)

    return run_job(JOB, args, body, lambda paths: configs() and None)


if __name__ == "__main__":
    entrypoint(main)
