"""Batch inference throughput: the Spark scoring job vs a single-process ``model.predict`` loop (issue: batch inference).

In one run, for the image model (28x28 digits, the default network as a default night serves it: wide
branch, two heads mixed, each picture predicted with its mirror image) and the text model (the default
TF-IDF MLP over ~30-word documents), with random weights (speed does not depend on them):
- the real job, ``spark-submit spark_jobs/batch_inference.py`` on ``local[2]``, reading
  ``ml.clean_<kind>`` and committing the predictions partition: rows/s over the job's own duration
  (``ml.scoring_runs.duration_s``: read, score, write, commit; the JVM start is reported apart);
- the same job on a tiny input (1,000 rows), whose duration is the job's fixed cost (worker start,
  TensorFlow import, model load, Spark stages); the steady-state rate is the large run's extra rows
  over its extra time;
- the floor: one Python process scoring the same rows, already in memory, with the same predictor
  in batches of the same size, with TensorFlow pinned to 1 thread (the per-core floor) and with its
  default thread pools (the whole machine);
- model loads, counted in the workers (``SHARDLINE_MODEL_LOAD_LOG``), not assumed;
- the image floor again for the same network without the mirror image (``image_mirror_average = false``).
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
import training  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
from benchmarks.report import update_section  # noqa: E402

DT, DT_SMALL = "2030-01-01", "2030-01-02"
SMALL = 1_000
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
    import tensorflow as tf

    from shardline.storage import write_pointer
    from training.config import ImageModelConfig, TextModelConfig
    from training.models import as_served, build_image_model, build_text_model, build_vectorizers, mirror_averaged

    models = {}
    labels = {"image": [str(i) for i in range(10)], "text": ["a", "b", "c", "d"]}
    network = build_image_model(ImageModelConfig(), (28, 28, 1), 10)
    for kind in ("image", "text", "image-unmirrored"):
        if kind == "image":
            model = as_served(mirror_averaged(network))
        elif kind == "image-unmirrored":
            model = as_served(network)
        else:
            vec = build_vectorizers(TextModelConfig(), tf.data.Dataset.from_tensor_slices(texts[:20000]).batch(512))
            model = build_text_model(TextModelConfig(), vec, 4)
        served_as = kind.split("-")[0]  # image-unmirrored: an image model, not the champion
        folder = home / "models" / served_as / f"bench-{kind}"
        folder.mkdir(parents=True)
        model.save(folder / "model.keras")
        (folder / "labels.json").write_text(json.dumps(labels[served_as]))
        (folder / "model.json").write_text(json.dumps({"kind": served_as, "name": f"{kind}_classifier",
                                                       "version": f"bench-{kind}"}))
        if kind in ("image", "text"):
            write_pointer(home / "models" / kind / "champion", f"bench-{kind}")
        models[kind] = folder
    return models


def text_frame(spark, n: int):
    """n documents of 20-40 words from a small vocabulary, generated in Spark."""
    def make(batches):
        import numpy as np
        import pandas as pd

        words = np.array(WORDS, dtype=object)
        for pdf in batches:
            rng = np.random.default_rng(int(pdf["id"].iloc[0]) if len(pdf) else 0)
            docs = [" ".join(words[rng.integers(0, len(words), rng.integers(20, 41))]) for _ in range(len(pdf))]
            yield pd.DataFrame({"id": [f"txt-{i:08d}" for i in pdf["id"]], "text": docs})

    return spark.range(n, numPartitions=8).mapInPandas(make, "id string, text string")


def vocabulary_sample(n: int = 20_000) -> list[str]:
    import random

    rng = random.Random(7)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 40))) for _ in range(n)]


def write_inputs(home: Path, n_images: int, n_texts: int) -> dict[str, dict[str, Path]]:
    """The clean tables' partitions (a large date and a tiny one), written the way the cleaning jobs do."""
    from pyspark.sql import functions as F

    from benchmarks.input_pipeline import digits_frame
    from schemas.warehouse import CLEAN_IMAGES, CLEAN_TEXT
    from spark_jobs.common.session import build_spark
    from spark_jobs.common.warehouse import replace_partitions

    spark = build_spark("bench-batch-inference-setup", master="local[2]")
    out: dict[str, dict[str, Path]] = {"image": {}, "text": {}}
    for dt, n_img, n_txt in ((DT, n_images, n_texts), (DT_SMALL, SMALL, SMALL)):
        images = digits_frame(spark, n_img).withColumns({
            "source": F.col("id"), "width": F.lit(28), "height": F.lit(28), "orig_width": F.lit(28),
            "orig_height": F.lit(28), "orig_format": F.lit("PNG"), "content_hash": F.col("id"), "dt": F.lit(dt)})
        text = text_frame(spark, n_txt).withColumns({"source": F.col("id"), "label": F.lit("a"),
                                                     "content_hash": F.col("id"), "dt": F.lit(dt)})
        out["image"][dt] = Path(replace_partitions(spark, images, CLEAN_IMAGES, {"dt": dt})[0])
        out["text"][dt] = Path(replace_partitions(spark, text, CLEAN_TEXT, {"dt": dt})[0])
    spark.stop()
    return out


def run_job(home: Path, kind: str, dt: str, batch: int, load_log: Path) -> dict:
    env = {**os.environ, "SHARDLINE_HOME": str(home), "SHARDLINE_MODEL_LOAD_LOG": str(load_log),
           "PYTHONPATH": str(REPO)}
    env.pop("SHARDLINE_TF_THREADS", None)  # the job's own default (1 per worker)
    cmd = [str(Path(sys.executable).with_name("spark-submit")), "--master", "local[2]",
           str(REPO / "spark_jobs" / "batch_inference.py"), "--kind", kind, "--date", dt,
           "--batch-size", str(batch), "--run-id", f"bench-{kind}-{dt}"]
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
    p.add_argument("--images", type=int, default=200_000)
    p.add_argument("--texts", type=int, default=1_000_000)
    p.add_argument("--batch-size", type=int, default=512)
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="shardline-bench-") as tmp:
        home = Path(tmp) / "home"
        os.environ["SHARDLINE_HOME"] = str(home)
        os.environ.setdefault("SHARDLINE_SPARK_LOG_LEVEL", "ERROR")
        models = build_models(home, vocabulary_sample())
        data = write_inputs(home, args.images, args.texts)
        rows, results = {"image": args.images, "text": args.texts}, {}
        for kind in ("image", "text"):
            r = {"rows": rows[kind]}
            for dt in (DT_SMALL, DT):
                load_log = Path(tmp) / f"loads-{kind}-{dt}.txt"
                r[f"job_{dt}"] = run_job(home, kind, dt, args.batch_size, load_log)
                pids = [line.split()[0] for line in load_log.read_text().splitlines()] if load_log.exists() else []
                r[f"loads_{dt}"] = (len(pids), len(set(pids)))
            r["floor_1"] = floor(kind, models[kind], data[kind][DT], args.batch_size, "1")
            r["floor_default"] = floor(kind, models[kind], data[kind][DT], args.batch_size, None)
            results[kind] = r
            print(kind, json.dumps(r), flush=True)
        unmirrored = floor("image", models["image-unmirrored"], data["image"][DT], args.batch_size, "1")
        print("image without the mirror image", json.dumps(unmirrored), flush=True)
        durations = scoring_durations(home)
    report(results, durations, args.batch_size, unmirrored)


def scoring_durations(home: Path) -> dict[str, float]:
    from spark_jobs.common.session import build_spark

    spark = build_spark("bench-batch-inference-report", master="local[1]")
    out = {r["run_id"]: r["duration_s"] for r in spark.sql("SELECT run_id, duration_s FROM ml.scoring_runs").collect()}
    spark.stop()
    return out


def report(results: dict, durations: dict[str, float], batch: int, unmirrored: dict) -> None:
    lines = ["| model | rows | Spark job (rows/s) | fixed cost: 1,000-row job (s) | Spark steady state (rows/s) "
             "| floor, 1 thread (rows/s) | floor, default threads (rows/s) | job / (floor 1 thread x 2 cores) "
             "| steady state / (floor 1 thread x 2 cores) | model loads (workers) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind, r in results.items():
        big, small = durations[f"bench-{kind}-{DT}"], durations[f"bench-{kind}-{DT_SMALL}"]
        job = r["rows"] / big
        steady = (r["rows"] - SMALL) / max(big - small, 1e-9)
        f1 = r["floor_1"]["rows"] / r["floor_1"]["seconds"]
        fd = r["floor_default"]["rows"] / r["floor_default"]["seconds"]
        loads = ", ".join(f"{n} in {p}" for n, p in (r[f"loads_{DT_SMALL}"], r[f"loads_{DT}"]))
        lines.append(f"| {kind} | {r['rows']:,} | {job:,.0f} | {small:.1f} | {steady:,.0f} | {f1:,.0f} | {fd:,.0f} "
                     f"| {job / (2 * f1):.2f} | {steady / (2 * f1):.2f} | {loads} |")
        print(f"{kind}: job {job:,.0f} rows/s over {big:.1f} s (fixed {small:.1f} s, steady {steady:,.0f} rows/s); "
              f"floor {f1:,.0f} (1 thread) / {fd:,.0f} (default); per-core ratio {job / (2 * f1):.2f}, "
              f"steady {steady / (2 * f1):.2f}; loads {loads}")
    walls = ", ".join(f"{k} {r[f'job_{DT}']['wall_s']:.0f} s" for k, r in results.items())
    loads_s = ", ".join(f"{k} {r['floor_1']['load_s']:.1f} s" for k, r in results.items())
    plain = unmirrored["rows"] / unmirrored["seconds"]
    mirrored = results["image"]["floor_1"]["rows"] / results["image"]["floor_1"]["seconds"]
    body = "\n".join(lines) + f"""

`benchmarks/batch_inference.py`: rows/s of the real scoring job (`spark-submit spark_jobs/batch_inference.py`
on `local[2]`, Arrow batches of {batch} rows, one TensorFlow thread per Python worker) over its own duration
from `ml.scoring_runs` (read the clean partition, score, write and commit the predictions partition),
against one Python process scoring the same rows from memory with the same predictor and batch size (the
floor; its model load, {loads_s}, is not counted). The fixed cost is the duration of the same job on 1,000
rows (Python worker start, TensorFlow import, model load and trace in each worker, Spark stages, the commit);
the steady state is the large run's extra rows over its extra time. The aim is a per-core ratio of at least
0.8. Model loads are counted from the workers' load log, for the small and the large run, as "loads in
distinct processes": equal numbers mean each worker process loaded the model once. Whole spark-submit wall
time of the large run, JVM start included: {walls}. The image model is the default network as a default
night serves it (the wide branch, two heads mixed, each picture predicted with its mirror image); the same
network without the mirror image (`image_mirror_average = false`) scores {plain:,.0f} rows/s on the 1-thread
floor, so the mirror costs a factor {plain / mirrored:.2f} there.
"""
    update_section("Batch inference", body)


if __name__ == "__main__":
    main()
