"""What the Delta Lake commit costs (#42), side by side with the pointer swap it replaced, in one run.

For 1M prediction rows (``ml.text_predictions``, the batch-inference write) and 1M cleaned documents
(``ml.clean_text``, the text job's write), one Spark session writes the same DataFrame both ways:
- **pointer swap** (the warehouse before #42, reproduced here as it was): stage a version folder, count rows
  from the footers, fsync it, rename it into place, rewrite and fsync ``_CURRENT``;
- **Delta commit** (now): write the files into a new folder, fsync them, then one delta-rs commit that removes
  the partition's old files and adds the new ones (``shardline.warehouse_log.commit``).
Each is timed as "Spark write" and "commit step" (everything after Spark's write returns); each write runs
``--repeats`` times, alternating. Then the log-table append (``append_records``: one row, one file, one
commit) is timed as the table's history grows to ``--appends`` commits (delta-rs checkpoints every 100).

    .venv/bin/python benchmarks/warehouse_commit.py [--rows 1000000] [--repeats 3] [--appends 300]
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.report import update_section  # noqa: E402


def predictions(spark, n: int):
    return spark.range(n).selectExpr(
        "concat('doc-', id) AS id", "'corpus.jsonl' AS source", "concat('label', id % 20) AS predicted_label",
        "rand(1) AS score", "array(named_struct('label', concat('label', id % 20), 'probability', 0.9D), "
        "named_struct('label', 'label0', 'probability', 0.1D)) AS top_k", "'text_classifier' AS model_name",
        "'20310301-m' AS model_version", "'ml.clean_text@2031-03-01' AS dataset_version", "'bench' AS run_id",
        "current_timestamp() AS scored_at", "'2031-03-01' AS dt")


def documents(spark, n: int):
    # ~60 words a document, as the text job's accepted rows of real man pages average
    text = "concat_ws(' ', transform(sequence(1, 60), k -> concat('word', (id * k) % 5000)))"
    return spark.range(n).selectExpr(
        "concat('doc-', id) AS id", "'corpus.jsonl' AS source", "concat('label', id % 20) AS label",
        f"{text} AS text", "sha1(cast(id AS string)) AS content_hash", "'en' AS language", "60 AS word_count",
        "0 AS pii_redacted", "'2031-03-01' AS dt")


def pointer_swap(spark, df, table, part_dir: Path) -> tuple[float, float]:
    """The pre-#42 ``replace_partitions``, minus the catalog sync (both ways skip it here)."""
    import pyarrow.parquet as pq

    from shardline.storage import fsync_dir, fsync_tree, write_pointer
    from spark_jobs.common.warehouse import conform

    version = f"v-{_dt.datetime.now(_dt.timezone.utc):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
    stage = part_dir / f"_staging-{version}"
    start = time.perf_counter()
    conform(df, table).drop(*table.partition_by).write.parquet(str(stage))
    wrote = time.perf_counter()
    sum(pq.ParquetFile(f).metadata.num_rows for f in stage.glob("*.parquet"))
    fsync_tree(stage)
    os.replace(stage, part_dir / version)
    fsync_dir(part_dir)
    write_pointer(part_dir / "_CURRENT", version)
    return wrote - start, time.perf_counter() - wrote


def delta_commit(spark, df, table, paths, partition) -> tuple[float, float]:
    from shardline.warehouse_log import commit
    from spark_jobs.common.warehouse import conform

    folder = paths.warehouse / "ml.db" / table.name / "dt=2031-03-01" / f"v-{uuid.uuid4().hex}"
    start = time.perf_counter()
    conform(df, table).drop(*table.partition_by).write.parquet(str(folder))
    wrote = time.perf_counter()
    # what write_files does after Spark returns: drop Spark's bookkeeping files, fsync; then the commit
    from shardline.storage import fsync_tree

    files = []
    for f in sorted(folder.iterdir()):
        (files.append(f) if f.suffix == ".parquet" else f.unlink())
    fsync_tree(folder)
    commit(paths, table, files, partition, replace=True)
    return wrote - start, time.perf_counter() - wrote


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--appends", type=int, default=300)
    args = ap.parse_args()

    from schemas.warehouse import CLEAN_TEXT, JOB_RUNS, TEXT_PREDICTIONS
    from shardline.config import Paths
    from shardline.warehouse_log import append_records
    from spark_jobs.common.session import build_spark

    home = Path(tempfile.mkdtemp(prefix="bench-commit-"))
    os.environ["SHARDLINE_HOME"] = str(home)
    paths = Paths.from_env()
    spark = build_spark("bench-commit", master="local[2]", paths=paths)
    lines = ["| write | rows | way | Spark write, s (median) | commit step, s (median) | total, s | commit share |",
             "|---|---|---|---|---|---|---|"]
    summary = []
    try:
        for name, table, make in (("batch inference (`ml.text_predictions`)", TEXT_PREDICTIONS, predictions),
                                  ("text job (`ml.clean_text`)", CLEAN_TEXT, documents)):
            df = make(spark, args.rows).repartition(4).cache()
            df.count()
            old_dir = home / "old" / table.name / "dt=2031-03-01"
            old_dir.mkdir(parents=True)
            runs: dict[str, list[tuple[float, float]]] = {"pointer swap": [], "Delta commit": []}
            pointer_swap(spark, df, table, old_dir)  # one untimed write each way first: JIT and file system
            delta_commit(spark, df, table, paths, {"dt": "2031-03-01"})  # warm-up, not the first way's cost
            for _ in range(args.repeats):
                runs["pointer swap"].append(pointer_swap(spark, df, table, old_dir))
                runs["Delta commit"].append(delta_commit(spark, df, table, paths, {"dt": "2031-03-01"}))
            totals = {}
            for way, got in runs.items():
                w, c = statistics.median(x for x, _ in got), statistics.median(y for _, y in got)
                totals[way] = (w, c)
                lines.append(f"| {name} | {args.rows:,} | {way} | {w:.2f} | {c:.3f} | {w + c:.2f} | {c / (w + c):.1%} |")
                print(f"{name}: {way}: write {w:.2f} s, commit step {c:.3f} s", flush=True)
            (ow, oc), (nw, nc) = totals["pointer swap"], totals["Delta commit"]
            summary.append(f"- {name}: the commit step takes {nc * 1000:.0f} ms against the pointer swap's "
                           f"{oc * 1000:.0f} ms ({nc / oc:.1f}x); the whole write {(nw + nc) / (ow + oc):.2f}x the "
                           "old one's time.")
            df.unpersist()
            shutil.rmtree(home / "old", ignore_errors=True)
        # the log table's append as its history grows
        marks, times = {1, 10, 100, 101, 200, args.appends}, {}
        for k in range(1, args.appends + 1):
            start = time.perf_counter()
            append_records(paths, JOB_RUNS, [{"dt": "2031-03-01", "job": "bench", "run_id": f"r{k}",
                                              "status": "success"}])
            if k in marks:
                times[k] = time.perf_counter() - start
        appends = ", ".join(f"#{k}: {t * 1000:.0f} ms" for k, t in sorted(times.items()))
        summary.append(f"- `ml.job_runs` append (pyarrow file + one commit, under the table lock) by position in the "
                       f"table's history: {appends}.")
    finally:
        spark.stop()
        shutil.rmtree(home, ignore_errors=True)
    body = "\n".join([
        "`benchmarks/warehouse_commit.py`: the same cached DataFrame written with the pre-Delta pointer swap and "
        f"with the Delta commit, alternating, {args.repeats} times each after one untimed write each way, Spark "
        "`local[2]`; medians. \"Commit step\" "
        "is everything after Spark's write returns (footers, fsyncs, rename/pointer or the delta-rs commit).",
        "", *lines, "", *summary])
    update_section("Warehouse commit: Delta Lake against the pointer swap (`benchmarks/warehouse_commit.py`)", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
