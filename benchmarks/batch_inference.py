"""Batch inference throughput: the Spark scoring job vs a single-process ``model.predict`` loop (issue: batch inference).

In one run, for the image model (28x28 digits, the default CNN) and the text model (the default
bag-of-embeddings over ~30-word documents), with random weights (speed does not depend on them):
- the real job, ``spark-submit spark_jobs/batch_inference.py`` on ``local[2]``, reading
  ``ml.clean_<kind>`` and committing the predictions partition: rows/s over the job's own duration
  (``ml.scoring_runs.duration_s``: read, score, write, commit; the JVM start is reported apart);
- the floor: one Python process scoring the same rows, already in memory, with the same predictor
  in batches of the same size, once with TensorFlow pinned to 1 thread (the per-core floor) and once
  with its default thread pools (the whole machine);
- model loads, counted in the workers (``SHARDLINE_MODEL_LOAD_LOG``), not assumed.
Writes the table into docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/batch_inference.py [--images 40000] [--texts 200000] [--batch-size 512]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.report import update_section  # noqa: E402

DT = "2030-01-01"
WORDS = ("data model train shard spark table query night image text label score batch cluster worker "
         "parquet arrow column row group reader writer metric loss epoch layer dense token vector").split()

FLOOR = r"""
import json, os, sys, time
import pyarrow.parquet as pq
kind, model_dir, data, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
from training.inference import load_predictor
t0 = time.perf_counter()
predictor = load_predictor(model_dir)
load_s = time.perf_counter() - t0
column = "image" if kind == "image" else "text"
values = [v for f in sorted(os.listdir(data)) if f.endswith(".parquet")
          for v in pq.read_table(os.path.join(data, f), columns=[column]).column(column).to_pylist()]
predictor.probabilities(values[:batch])  # warm-up: trace the model once, as the Spark workers do
t0 = time.perf_counter()
for i in range(0, len(values), batch):
    predictor.probabilities(values[i:i + batch])
print(json.dumps({"rows": len(values), "seconds": time.perf_counter() - t0, "load_s": load_s}))
"""


def build_models(home: Path, texts: list[str]) -> dict[str, Path]:
    import training  # noqa: F401
    import tensorflow as tf

    from spark_jobs.common.publish import write_pointer
    from training.config import ImageModelConfig, TextModelConfig
    from training.models import build_image_model, build_text_model, build_vectorizer

    models = {}
    labels = {"image": [str(i) for i in range(10)], "text": ["a", "b", "c", "d"]}
    for kind in ("image", "text"):
        if kind == "image":
            model = build_image_model(ImageModelConfig(), (28, 28, 1), 10)
        else:
            vec = build_vectorizer(TextModelConfig(), tf.data.Dataset.from_tensor_slices(texts[:20000]).batch(512))
            model = build_text_model(TextModelConfig(), vec, 4)
        folder = home / "models" / kind / f"bench-{kind}"
        folder.mkdir(parents=True)
        model.save(folder / "model.keras")
        (folder / "labels.json").write_text(json.dumps(labels[kind]))
        (folder / "model.json").write_text(json.dumps({"kind": kind, "name": f"{kind}_classifier",
                                                       "version": f"bench-{kind}"}))
        write_pointer(home / "models" / kind / "champion", f"bench-{kind}")
        models[kind] = folder
    return models


def texts(n: int) -> list[str]:
    import random

    rng = random.Random(7)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 40))) for _ in range(n)]


def write_inputs(home: Path, n_images: int, docs: list[str]) -> dict[str, Path]:
    """The clean tables' partitions for DT, written the way the cleaning jobs write them."""
    from pyspark.sql import functions as F

    from benchmarks.input_pipeline import digits_frame
    from schemas.warehouse import CLEAN_IMAGES, CLEAN_TEXT
    from spark_jobs.common.session import build_spark
    from spark_jobs.common.warehouse import replace_partitions

    spark = build_spark("bench-batch-inference-setup", master="local[2]")
    images = digits_frame(spark, n_images).withColumns({
        "source": F.col("id"), "width": F.lit(28), "height": F.lit(28), "orig_width": F.lit(28),
        "orig_height": F.lit(28), "orig_format": F.lit("PNG"), "content_hash": F.col("id"), "dt": F.lit(DT)})
    text = spark.createDataFrame([(f"txt-{i:08d}", f"s{i}", "a", t, f"h{i}", DT) for i, t in enumerate(docs)],
                                 CLEAN_TEXT.schema)
    out = {"image": replace_partitions(spark, images, CLEAN_IMAGES, {"dt": DT}),
           "text": replace_partitions(spark, text.repartition(8), CLEAN_TEXT, {"dt": DT})}
    spark.stop()
    return {k: Path(v) for k, v in out.items()}


def run_job(home: Path, kind: str, batch: int, tf_threads: str, load_log: Path) -> dict:
    env = {**os.environ, "SHARDLINE_HOME": str(home), "SHARDLINE_MODEL_LOAD_LOG": str(load_log),
           "PYTHONPATH": str(REPO)}
    if tf_threads:
        env["SHARDLINE_TF_THREADS"] = tf_threads
    cmd = [str(Path(sys.executable).with_name("spark-submit")), "--master", "local[2]",
           str(REPO / "spark_jobs" / "batch_inference.py"), "--kind", kind, "--date", DT,
           "--batch-size", str(batch), "--run-id", f"bench-{kind}-{tf_threads or 'default'}"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return {"wall_s": wall}


def floor(kind: str, model_dir: Path, data: Path, batch: int, threads: str | None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("SHARDLINE_TF_THREADS", None)
    if threads:
        env["SHARDLINE_TF_THREADS"] = threads
    done = subprocess.run([sys.executable, "-c", FLOOR, kind, str(model_dir), str(data), str(batch)], env=env,
                          capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=40_000)
    p.add_argument("--texts", type=int, default=200_000)
    p.add_argument("--batch-size", type=int, default=512)
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="shardline-bench-") as tmp:
        home = Path(tmp) / "home"
        os.environ["SHARDLINE_HOME"] = str(home)
        os.environ.setdefault("SHARDLINE_SPARK_LOG_LEVEL", "ERROR")
        docs = texts(args.texts)
        models = build_models(home, docs)
        data = write_inputs(home, args.images, docs)
        rows, results = {"image": args.images, "text": args.texts}, {}
        for kind in ("image", "text"):
            r = {"rows": rows[kind]}
            for label, threads in (("1", "1"), ("default", "")):
                load_log = Path(tmp) / f"loads-{kind}-{label}.txt"
                r[f"job_{label}"] = run_job(home, kind, args.batch_size, threads, load_log)
                pids = [line.split()[0] for line in load_log.read_text().splitlines()] if load_log.exists() else []
                r[f"loads_{label}"] = (len(pids), len(set(pids)))
            r["floor_1"] = floor(kind, models[kind], data[kind], args.batch_size, "1")
            r["floor_default"] = floor(kind, models[kind], data[kind], args.batch_size, None)
            results[kind] = r
            print(kind, json.dumps(r), flush=True)
        durations = scoring_durations(home)
    report(results, durations, args.batch_size)


def scoring_durations(home: Path) -> dict[str, float]:
    from spark_jobs.common.session import build_spark

    spark = build_spark("bench-batch-inference-report", master="local[1]")
    out = {r["run_id"]: r["duration_s"] for r in spark.sql("SELECT run_id, duration_s FROM ml.scoring_runs").collect()}
    spark.stop()
    return out


def report(results: dict, durations: dict[str, float], batch: int) -> None:
    lines = ["| model | rows | Spark job, TF 1 thread/worker (rows/s) | Spark job, TF default threads (rows/s) "
             "| floor, 1 thread (rows/s) | floor, default threads (rows/s) "
             "| best job / (floor 1 thread x 2 cores) | best job / floor default | model loads (workers) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind, r in results.items():
        job = {t: r["rows"] / durations[f"bench-{kind}-{'1' if t == '1' else 'default'}"] for t in ("1", "default")}
        f1 = r["floor_1"]["rows"] / r["floor_1"]["seconds"]
        fd = r["floor_default"]["rows"] / r["floor_default"]["seconds"]
        best = max(job.values())
        loads = ", ".join(f"{n} in {p}" for n, p in (r["loads_1"], r["loads_default"]))
        lines.append(f"| {kind} | {r['rows']:,} | {job['1']:,.0f} | {job['default']:,.0f} | {f1:,.0f} | {fd:,.0f} "
                     f"| {best / (2 * f1):.2f} | {best / fd:.2f} | {loads} |")
        print(f"{kind}: job {job['1']:,.0f} / {job['default']:,.0f} rows/s; floor {f1:,.0f} (1 thread) / {fd:,.0f} "
              f"(default); per-core ratio {best / (2 * f1):.2f}; vs default floor {best / fd:.2f}; loads {loads}")
    walls = ", ".join(f"{k} {r['job_1']['wall_s']:.0f} s" for k, r in results.items())
    body = "\n".join(lines) + f"""

`benchmarks/batch_inference.py`: rows/s of the real scoring job (`spark-submit spark_jobs/batch_inference.py`
on `local[2]`, Arrow batches of {batch} rows) over its own duration from `ml.scoring_runs` (read the clean
partition, score, write and commit the predictions partition), against one Python process scoring the same
rows from memory with the same predictor and batch size. "TF 1 thread" sets `SHARDLINE_TF_THREADS=1` in the
workers (and in the per-core floor); "default" leaves TensorFlow's thread pools alone. The aim is a per-core
ratio of at least 0.8. Model loads are counted from the workers' load log as "loads in distinct processes":
equal numbers mean each worker process loaded the model once. Whole spark-submit wall time, JVM start
included (TF 1 thread): {walls}.
"""
    update_section("Batch inference", body)


if __name__ == "__main__":
    main()
