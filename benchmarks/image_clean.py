"""Image cleaning throughput: the Spark job vs a single-process Pillow loop vs the decode-only floor.

One run, same files, same machine:
- corpus: ``--images`` (default 50,000) synthetic pictures, each side 64-1024 px, half PNG half JPEG, in
  10 label folders, 5% of them planted near-duplicates (resized / JPEG q30 / cropped / brightened copies);
  generated once per size and cached (``--workdir``);
- floor: decode only (``Image.open().load()``) over every file with 2 processes (all cores, no other work);
- baseline: what a user writes first - one Python process looping over the files with the same
  ``decode_one`` (verify, repair, resize, hashes), exact dedup with a dict, near-dup with the same LSH
  buckets in dicts, and one Parquet file of results;
- ours: ``spark-submit spark_jobs/clean_images.py`` on ``local[2]``, timed from the job's own start/finish in
  ``ml.job_runs`` (read, decode, dedup, write, commit, report); then the same job without near-dup matching,
  and with the file bytes passed from ``binaryFile`` through Arrow (``--read-in-spark``) instead of read by
  the Python workers.
Writes the table into docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/image_clean.py [--images 50000] [--workdir /tmp/shardline-bench-images]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.report import update_section  # noqa: E402

LABELS = 10
DT = "2030-02-01"


def make_chunk(args: tuple) -> int:
    """Pictures ``start..stop`` of a corpus: (root, start, stop, seed[, (min side, max side)])."""
    from spark_jobs.imaging.synthetic import VARIANTS, picture, variant

    root, start, stop, seed, *rest = args
    lo, hi = rest[0] if rest else (64, 1024)
    written = 0
    for i in range(start, stop):
        rng = random.Random(seed * 1_000_003 + i)
        folder = root / f"label{i % LABELS}"
        folder.mkdir(parents=True, exist_ok=True)
        base_i = i if rng.random() >= 0.05 or i < 20 else rng.randrange(0, i)  # 5% copies of earlier pictures
        brng = random.Random(seed * 1_000_003 + base_i)
        img = picture(base_i, brng.randint(lo, hi), brng.randint(lo, hi))
        fmt = "PNG" if base_i % 2 else "JPEG"
        if base_i != i:
            img, fmt = variant(img, rng.choice(VARIANTS), i)
        buf = io.BytesIO()
        img.save(buf, format=fmt, **({"compress_level": 1} if fmt == "PNG" else {"quality": 90}))
        (folder / f"img{i:06d}.{fmt.lower()}").write_bytes(buf.getvalue())
        written += 1
    return written


def make_corpus(root: Path, n: int) -> Path:
    done = root / "_COMPLETE"
    if done.exists() and int(done.read_text()) == n:
        return root
    chunks = [(root, s, min(s + 500, n), 7) for s in range(0, n, 500)]
    t0 = time.perf_counter()
    with Pool(2) as pool:
        total = sum(pool.imap_unordered(make_chunk, chunks))
    done.write_text(str(total))
    print(f"corpus: {total} images in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return root


def files_of(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("_"))


def _decode_only(paths: list[str]) -> int:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    for p in paths:
        with Image.open(p) as img:
            img.load()
    return len(paths)


def floor(files: list[Path]) -> float:
    chunks = [[str(p) for p in files[i:i + 200]] for i in range(0, len(files), 200)]
    t0 = time.perf_counter()
    with Pool(2) as pool:
        sum(pool.imap_unordered(_decode_only, chunks))
    return time.perf_counter() - t0


def baseline(files: list[Path], root: Path, out: Path) -> tuple[float, dict]:
    """The single-process loop a user writes first, doing the job's work."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shardline.config import spark_uri
    from spark_jobs.imaging.decode import FIELDS, ImageCleanConfig, decode_one
    from spark_jobs.imaging.dedup import NearDupConfig
    from spark_jobs.imaging.phash import hamming

    t0 = time.perf_counter()
    cfg = ImageCleanConfig(root_uri=spark_uri(root))
    near = NearDupConfig()
    rows = [decode_one("file:" + str(p), p.read_bytes(), cfg) for p in files]
    seen: dict[str, str] = {}
    for r in sorted(rows, key=lambda r: r["source"]):
        if r["reason"] is None:
            if r["content_hash"] in seen:
                r.update(reason="duplicate", detail=f"duplicate of {seen[r['content_hash']]}")
            else:
                seen[r["content_hash"]] = r["id"]
    live = sorted((r for r in rows if r["reason"] is None),
                  key=lambda r: (-(r["orig_width"] * r["orig_height"]), r["source"]))
    rank = {r["id"]: i for i, r in enumerate(live)}
    best: dict[str, tuple[int, str]] = {}
    for mask in near.masks():
        buckets: dict[int, list[dict]] = {}
        for r in live:
            buckets.setdefault(r["perceptual_hash"] & mask, []).append(r)
        for members in buckets.values():
            for i, a in enumerate(members):
                for b in members[i + 1:i + 1 + near.max_bucket]:
                    if hamming(a["perceptual_hash"], b["perceptual_hash"]) <= near.threshold:
                        if b["id"] not in best or rank[a["id"]] < best[b["id"]][0]:
                            best[b["id"]] = (rank[a["id"]], a["id"])
    for r in live:
        if r["id"] in best:
            r.update(reason="near_duplicate", detail=f"near duplicate of {best[r['id']][1]}")
    table = pa.Table.from_pylist([{k: r[k] for k in FIELDS} for r in rows])
    pq.write_table(table, out)
    reasons: dict[str, int] = {}
    for r in rows:
        reasons[r["reason"] or "kept"] = reasons.get(r["reason"] or "kept", 0) + 1
    return time.perf_counter() - t0, reasons


def spark_job(root: Path, home: Path, extra: list[str]) -> dict:
    env = {**os.environ, "SHARDLINE_HOME": str(home), "PYTHONPATH": str(REPO), "PYSPARK_PYTHON": sys.executable,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run_id = f"bench-{len(list(home.glob('*')))}-{time.time_ns()}"
    cmd = [str(Path(sys.executable).with_name("spark-submit")), "--master", "local[2]", "--driver-memory", "4g",
           str(REPO / "spark_jobs" / "clean_images.py"), "--date", DT, "--input", str(root), "--run-id", run_id, *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"clean_images failed:\n{done.stderr[-4000:]}")
    from pyarrow import parquet as pq

    runs = pq.read_table(home / "warehouse" / "ml.db" / "job_runs").to_pylist()
    run = next(r for r in runs if r["run_id"] == run_id)
    duration = (run["finished_at"] - run["started_at"]).total_seconds()
    rep = json.loads((home / "reports" / "clean_images" / f"dt={DT}" / "report.json").read_text())
    return {"wall": wall, "job": duration, "in": run["records_in"], "reasons": rep["reasons"],
            "kept": rep["totals"]["kept"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=50_000)
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "shardline-bench-images"))
    args = p.parse_args()
    work = Path(args.workdir)
    root = make_corpus(work / f"corpus-{args.images}", args.images)
    files = files_of(root)
    n = len(files)
    mb = sum(f.stat().st_size for f in files) / 2**20
    t_floor = floor(files)
    print(f"floor: {n / t_floor:.0f} images/s", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        t_base, base_reasons = baseline(files, root, Path(tmp) / "baseline.parquet")
        print(f"baseline: {n / t_base:.0f} images/s {base_reasons}", file=sys.stderr)
        full = spark_job(root, Path(tmp) / "home", [])
        print(f"job: {full}", file=sys.stderr)
        no_near = spark_job(root, Path(tmp) / "home", ["--near-dup-threshold", "-1"])
        print(f"job without near-dup: {no_near}", file=sys.stderr)
        via_jvm = spark_job(root, Path(tmp) / "home", ["--read-in-spark"])
        print(f"job reading bytes through binaryFile/Arrow: {via_jvm}", file=sys.stderr)
    from spark_jobs.imaging.dedup import NearDupConfig

    def rate(t: float) -> float:
        return n / t

    body = f"""`benchmarks/image_clean.py`: {n:,} synthetic pictures ({mb:,.0f} MB; sides 64-1024 px, half PNG half
JPEG, 10 labels, 5% planted near-duplicate copies), output 28x28 grayscale PNG, pad policy, near-dup with the job's defaults
(dcthash within {NearDupConfig().threshold} bits, {NearDupConfig().tables} LSH tables x {NearDupConfig().bits} bits, thumbnail check; the loop skips the
check). Spark runs are `spark-submit --master local[2]`, timed from the
job's own start/finish in `ml.job_runs` (read, decode, dedup, write, commit, report); wall time includes the
JVM start.

| run | images/s | vs single-process loop | share of the decode-only floor |
|---|---:|---:|---:|
| floor: decode only (`Image.open().load()`), 2 processes | {rate(t_floor):,.0f} | {t_base / t_floor:.2f}x | 1.00 |
| single-process Pillow loop (same `decode_one`, dict dedup, same LSH in dicts, one Parquet file) | {rate(t_base):,.0f} | 1.00x | {t_floor / t_base:.2f} |
| **Spark job, local[2]** (full: exact + near dup, report) | **{rate(full['job']):,.0f}** | **{t_base / full['job']:.2f}x** | {t_floor / full['job']:.2f} |
| Spark job, local[2], near-dup matching off | {rate(no_near['job']):,.0f} | {t_base / no_near['job']:.2f}x | {t_floor / no_near['job']:.2f} |
| Spark job, local[2], `--read-in-spark` (bytes through `binaryFile` + Arrow) | {rate(via_jvm['job']):,.0f} | {t_base / via_jvm['job']:.2f}x | {t_floor / via_jvm['job']:.2f} |

- Spark job wall time incl. JVM start: {full['wall']:.0f} s (job {full['job']:.0f} s); near-dup matching and
  the report cost {full['job'] - no_near['job']:.0f} s of it.
- Same outcome both ways: loop {base_reasons}; job kept {full['kept']:,}, quarantined {full['reasons']}.
- Bytes through the JVM: `--read-in-spark` took {via_jvm['job'] - full['job']:+.0f} s against the default, where Spark
  only lists the files and the Python workers read them.
- Aim: at least 1.7x the single-process loop on 2 cores (85% of perfect scaling).
"""
    print(body)
    update_section("Image cleaning (issue: image cleaning and deduplication)", body)


if __name__ == "__main__":
    main()
