"""Clean an image folder corpus (ROOT/<label>/<file>) into ``ml.clean_images`` for one run date.

Each file is decoded with Pillow inside ``mapInPandas`` (Arrow batches), verified, converted to the
target mode and size, and re-encoded as PNG. Rejects keep their id and source and go to
``ml.quarantine`` with a reason: empty_file, not_an_image, truncated, decompression_bomb, too_small,
duplicate. Ids are derived from the path relative to the corpus root, so reruns give the same ids.

    spark-submit spark_jobs/clean_images.py --date 2026-11-23 --input data/samples/images
"""
from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, IntegerType, StringType, StructField, StructType

from schemas.warehouse import CLEAN_IMAGES
from spark_jobs.common.config import require_path
from spark_jobs.common.flagged import flag_duplicates, write_flagged
from spark_jobs.common.job import Counts, base_parser, entrypoint, run_job

JOB = "clean_images"
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff")


@dataclass(frozen=True)
class ImageCleanConfig:
    root_uri: str                 # corpus root as Spark sees it (file:/abs/path), to derive ids and labels
    target_size: int = 28
    mode: str = "L"               # "L" (grayscale) or "RGB"
    min_size: int = 8             # smaller originals are quarantined as too_small
    max_pixels: int = 50_000_000  # decompression-bomb guard

    def __post_init__(self) -> None:
        if self.mode not in ("L", "RGB"):
            raise ValueError(f"mode must be 'L' or 'RGB', got {self.mode!r}")
        if not 1 <= self.target_size <= 4096:
            raise ValueError(f"target_size must be in 1..4096, got {self.target_size}")


DECODED = StructType([
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
    StructField("reason", StringType()),
    StructField("detail", StringType()),
])


def read_images(spark: SparkSession, root: str) -> DataFrame:
    """Every file under ``root`` as (path, content), zero-byte files included.

    Spark plans no split for a zero-length file, so ``binaryFile`` alone silently skips empty files;
    they are recovered from the listing (``inputFiles``) and passed on with empty content, to be
    quarantined like any other bad file.
    """
    files = (spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(root)
             .select("path", "content"))
    listed = spark.createDataFrame([(_as_path_column(p),) for p in files.inputFiles()], "path string")
    empty = (listed.join(files.select("path"), "path", "left_anti")
             .withColumn("content", F.lit(b"").cast(BinaryType())))
    return files.unionByName(empty)


def _as_path_column(uri: str) -> str:
    """inputFiles() says file:///x where the path column says file:/x."""
    return "file:/" + uri[len("file:///"):] if uri.startswith("file:///") else uri


def relative_path(path: str, root_uri: str) -> str:
    prefix = root_uri.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else path


def decode_one(path: str, content: bytes, cfg: ImageCleanConfig) -> dict:
    """Decode, verify and normalise one file; returns a DECODED row (reason set when rejected)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    rel = relative_path(path, cfg.root_uri)
    parts = rel.split("/")
    row = {f.name: None for f in DECODED.fields}
    row.update(id="img-" + hashlib.sha1(rel.encode()).hexdigest()[:16], source=rel,
               label=parts[-2] if len(parts) >= 2 else None)

    def reject(reason: str, detail: str) -> dict:
        row.update(reason=reason, detail=detail[:500])
        return row

    if not content:
        return reject("empty_file", "0 bytes")
    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below, with our own reason
    try:
        img = Image.open(io.BytesIO(content))
    except UnidentifiedImageError:
        return reject("not_an_image", f"{len(content)} bytes, no known image header")
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a property of this file
        return reject("not_an_image", f"{type(exc).__name__}: {exc}")
    row.update(orig_width=img.width, orig_height=img.height, orig_format=img.format)
    if img.width * img.height > cfg.max_pixels:
        return reject("decompression_bomb", f"{img.width}x{img.height} > {cfg.max_pixels} pixels")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
    except Exception as exc:  # noqa: BLE001
        return reject("truncated", f"{type(exc).__name__}: {exc}")
    if min(img.width, img.height) < cfg.min_size:
        return reject("too_small", f"{img.width}x{img.height} < {cfg.min_size}px")
    img = ImageOps.exif_transpose(img)
    if img.mode != cfg.mode:
        img = img.convert("RGBA").convert(cfg.mode) if img.mode == "P" else img.convert(cfg.mode)
    img = img.resize((cfg.target_size, cfg.target_size), Image.BILINEAR)
    out = io.BytesIO()
    img.save(out, format="PNG")
    row.update(image=out.getvalue(), width=img.width, height=img.height,
               content_hash=hashlib.sha1(img.tobytes()).hexdigest())
    return row


def transform(df: DataFrame, cfg: ImageCleanConfig) -> DataFrame:
    """(path, content) -> DECODED rows, one per input file, duplicates flagged. No I/O."""

    def decode(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            rows = [decode_one(p, c, cfg) for p, c in zip(pdf["path"], pdf["content"])]
            yield pd.DataFrame(rows, columns=[f.name for f in DECODED.fields])

    decoded = df.mapInPandas(decode, DECODED)
    return flag_duplicates(decoded, ["source"])  # keep the smallest source path


def main(argv: Sequence[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="corpus root: ROOT/<label>/<image> (no label folder = unlabeled)")
    p.add_argument("--target-size", type=int, default=28, help="output width and height in pixels (default 28)")
    p.add_argument("--mode", default="L", choices=["L", "RGB"], help="output colour mode (default L)")
    p.add_argument("--min-size", type=int, default=8, help="quarantine originals smaller than this (default 8)")
    args = p.parse_args(argv)

    def validate() -> None:
        require_path(args.input, "image corpus folder")

    def body(spark: SparkSession) -> Counts:
        root = require_path(args.input, "image corpus folder")
        cfg = ImageCleanConfig(root_uri=root.as_uri().replace("file:///", "file:/"),
                               target_size=args.target_size, mode=args.mode, min_size=args.min_size)
        return write_flagged(spark, transform(read_images(spark, str(root)), cfg), CLEAN_IMAGES, JOB, args.date)

    return run_job(JOB, args, body, validate)


if __name__ == "__main__":
    entrypoint(main)
