"""Reader throughput of published shards at several row-group sizes (issue: dataset publishing).

Writes the same image and text data with ``publish_dataset.write_split`` at 0.25, 1, 4 and 16 MB row
groups and at the default plan (``plan_shards``: at most 16/4 MB, at least 80 row groups), then reads
each with petastorm's ``make_batch_reader`` (thread pool, 2 workers, as training does) and with pyarrow
straight into NumPy arrays (the I/O floor), all in this run; each figure is the median of several
passes over a warm page cache. Prints a table with the ratio petastorm / floor and writes it into
docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/reader_rowgroups.py [--images 8000] [--texts 300000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.report import update_section  # noqa: E402

ROW_GROUP_MB = (0.25, 1, 4, 16, "default")


WORDS = "the of and model data shard spark reader batch train test split label token corpus".split()


def make_frame(spark, kind: str, n: int):
    """Deterministic synthetic rows generated inside Spark (nothing large crosses py4j)."""
    from pyspark.sql import functions as F

    ids = spark.range(n, numPartitions=8)
    if kind == "text":
        words = F.array(*[F.lit(w) for w in WORDS])
        pick = F.transform(F.sequence(F.lit(1), F.lit(100)),
                           lambda i: F.element_at(words, (F.pmod(F.xxhash64("id", i), F.lit(len(WORDS))) + 1).cast("int")))
        return ids.select(F.format_string("txt-%08d", "id").alias("id"), F.array_join(pick, " ").alias("text"),
                          F.concat(F.lit("c"), (F.col("id") % 4).cast("string")).alias("label"),
                          (F.col("id") % 4).cast("int").alias("label_index"))

    def pngs(batches):
        import pandas as pd
        from PIL import Image

        for pdf in batches:
            out = []
            for i in pdf["id"]:
                buf = io.BytesIO()
                Image.frombytes("L", (96, 96), random.Random(int(i)).randbytes(96 * 96)).save(buf, format="PNG")
                out.append(buf.getvalue())
            yield pd.DataFrame({"id": [f"img-{i:07d}" for i in pdf["id"]], "image": out,
                                "label": [f"c{i % 10}" for i in pdf["id"]],
                                "label_index": (pdf["id"] % 10).astype("int32")})

    return ids.mapInPandas(pngs, "id string, image binary, label string, label_index int")


def read_petastorm(url: str, column: str) -> int:
    from petastorm import make_batch_reader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with make_batch_reader(url, num_epochs=1, schema_fields=["id", column, "label_index"],
                               workers_count=2, reader_pool_type="thread") as reader:
            return sum(len(b.id) for b in reader)


def read_floor(folder: Path, column: str) -> int:
    """The same columns into NumPy arrays, as petastorm hands them over, with nothing else in between."""
    import pyarrow.parquet as pq

    n = 0
    for f in sorted(folder.glob("*.parquet")):
        table = pq.read_table(f, columns=["id", column, "label_index"])
        arrays = [table.column(c).to_numpy() for c in table.column_names]
        n += len(arrays[0])
    return n


def timed(repeat: int, fn, *args) -> tuple[int, float]:
    """Rows read and the median wall time of ``repeat`` passes."""
    times, n = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        n = fn(*args)
        times.append(time.perf_counter() - start)
    return n, statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=8000)
    p.add_argument("--texts", type=int, default=300_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--no-docs", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="shardline-bench-"))
    os.environ["SHARDLINE_HOME"] = str(tmp / "home")
    from spark_jobs.common.session import build_spark
    from spark_jobs.publish_dataset import (
        MB,
        ShardConfig,
        ShardPlan,
        plan_shards,
        write_split,
        write_split_checked,
    )

    spark = build_spark("bench-rowgroups", master="local[2]")
    lines = ["| dataset | rows | payload MB | row group MB | row groups | petastorm rows/s | pyarrow floor rows/s | petastorm / floor |",
             "|---|---|---|---|---|---|---|---|"]
    for kind, n, column in (("image", args.images, "image"), ("text", args.texts, "text")):
        from pyspark.sql import functions as F

        df = make_frame(spark, kind, n).cache()
        payload = df.agg(F.sum(F.length(column))).first()[0]
        for rg in ROW_GROUP_MB:
            folder = tmp / f"{kind}-{rg}mb"
            if rg == "default":  # exactly what publish_dataset does, footer check included
                cfg = ShardConfig.for_kind(kind)
                report = write_split_checked(spark, df, kind, folder, plan_shards(payload, n, cfg),
                                             min_groups=min(n, cfg.max_workers * cfg.row_groups_per_worker))
                group_mb = report["plan"]["row_group_bytes"] / MB
            else:
                plan = ShardPlan(files=max(1, round(payload / (64 * MB))), row_group_bytes=int(rg * MB),
                                 row_groups=0, rows_per_group=max(1, int(n * rg * MB / payload)))
                write_split(spark, df, kind, folder.as_uri(), plan)
            import pyarrow.parquet as pq

            groups = sum(pq.ParquetFile(f).metadata.num_row_groups for f in folder.glob("*.parquet"))
            read_floor(folder, column)  # warm the page cache so both readers see the same I/O
            n_floor, t_floor = timed(args.repeat, read_floor, folder, column)
            n_peta, t_peta = timed(args.repeat, read_petastorm, folder.as_uri(), column)
            assert n_floor == n_peta == n, (n_floor, n_peta, n)
            label = f"{group_mb:.2f} (default plan)" if rg == "default" else str(rg)
            line = (f"| {kind} | {n} | {payload / MB:.0f} | {label} | {groups} | {n / t_peta:,.0f} | "
                    f"{n / t_floor:,.0f} | {t_floor / t_peta:.2f} |")
            print(line, flush=True)
            lines.append(line)
        df.unpersist()
    spark.stop()
    body = "\n".join(lines) + (
        f"\n\nMedian of {args.repeat} passes each, page cache warm. petastorm: `make_batch_reader`, 2-thread pool "
        "(as training uses it). Floor: `pyarrow.parquet.read_table` of the same files, columns converted to NumPy.")
    if not args.no_docs:
        update_section("Dataset shards: reader throughput by row-group size (`benchmarks/reader_rowgroups.py`)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
