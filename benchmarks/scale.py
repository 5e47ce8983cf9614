"""Memory against input size: the cleaning jobs at 1x and 4x their corpus with a 2 GB driver heap.

A cleaning job must finish on corpora far larger than memory, with memory that does not grow with the
input. This runs the real jobs (``spark-submit --master local[2] --driver-memory 2g``) on:
- text: ``--docs`` (default 1,000,000) and 4x that many JSONL documents of ``benchmarks/text_clean.py``
  (80-120 words, 4% exact and 4% edited copies), ``--preset web``;
- images: ``--images`` (default 50,000) and 4x that many small synthetic pictures (sides 32-160 px, half PNG
  half JPEG, 10 labels, 5% near-duplicate copies; the generator of ``benchmarks/image_clean.py``, smaller
  sides so that 200,000 fit the disk);
and polls, every 0.25 s, the resident memory of the driver JVM (in local mode also the executor), of the
Python driver, and of all Python workers together. Prints and records each peak and the 4x / 1x ratios
(aim: at most 1.2) in docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/scale.py [--docs 1000000] [--images 50000] [--factor 4] [--only text|images]
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

from benchmarks import image_clean, text_clean  # noqa: E402
from benchmarks.report import update_section  # noqa: E402

DT = "2030-03-01"
SIDES = (32, 160)


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (children of every thread: the JVM starts Python from other threads)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def run_job(script: str, args: list[str], home: Path, driver_memory: str) -> dict:
    """One real job; its wall time, peak RSS (MB) of the JVM, the Python driver and the Python workers
    (summed at each poll), and its report's totals."""
    env = {**os.environ, "SHARDLINE_HOME": str(home), "PYTHONPATH": str(REPO), "PYSPARK_PYTHON": sys.executable,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [str(Path(sys.executable).with_name("spark-submit")), "--master", "local[2]", "--driver-memory",
           driver_memory, str(REPO / "spark_jobs" / script), "--date", DT, *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = {"jvm": 0, "py_driver": 0, "py_workers": 0}
    while proc.poll() is None:
        workers = 0
        for pid in _tree(proc.pid):
            cmdline = _cmdline(pid)
            rss = text_clean.rss_kb(pid)
            if b"java" in cmdline.split(b"\0")[0]:
                peak["jvm"] = max(peak["jvm"], rss)
            elif script.encode() in cmdline:
                peak["py_driver"] = max(peak["py_driver"], rss)
            elif b"pyspark" in cmdline or b"python" in cmdline.split(b"\0")[0]:
                workers += rss
        peak["py_workers"] = max(peak["py_workers"], workers)
        time.sleep(0.25)
    err = proc.stderr.read()
    if proc.returncode != 0:
        sys.exit(f"{script} failed (exit {proc.returncode}):\n{err[-4000:]}")
    wall = time.perf_counter() - t0
    rep = json.loads((home / "reports" / script.removesuffix(".py") / f"dt={DT}" / "report.json").read_text())
    return {"wall": wall, **{k: v / 1024 for k, v in peak.items()}, "totals": rep["totals"],
            "reasons": rep["reasons"]}


def image_corpus(root: Path, n: int) -> Path:
    """``benchmarks/image_clean.py``'s corpus with sides of 32-160 px (the done-marker sits beside the root:
    the job reads every file under it, ``_`` names included)."""
    done = root.with_name(root.name + ".complete")
    if done.exists() and int(done.read_text()) == n:
        return root
    from multiprocessing import Pool

    chunks = [(root, s, min(s + 1000, n), 11, SIDES) for s in range(0, n, 1000)]
    t0 = time.perf_counter()
    with Pool(2) as pool:
        total = sum(pool.imap_unordered(image_clean.make_chunk, chunks))
    done.write_text(str(total))
    print(f"corpus: {total:,} images in {time.perf_counter() - t0:.0f}s -> {root}", file=sys.stderr)
    return root


def _size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20


def measure(kind: str, n: int, factor: int, work: Path, driver_memory: str) -> list[dict]:
    rows = []
    for k in (1, factor):
        count = n * k
        if kind == "text":
            corpus = text_clean.make_corpus(work / f"text-{count}", count)
            script, extra = "clean_text.py", ["--preset", "web"]
        else:
            corpus = image_corpus(work / f"images-{count}", count)
            script, extra = "clean_images.py", []
        with tempfile.TemporaryDirectory(dir=work) as home:
            res = run_job(script, ["--input", str(corpus), "--run-id", f"scale-{kind}-{k}x", *extra], Path(home),
                          driver_memory)
        res.update(kind=kind, factor=k, n=count, mb=_size_mb(corpus))
        print(f"{kind} {k}x: {res}", file=sys.stderr)
        rows.append(res)
    return rows


def table(rows: list[dict], driver_memory: str) -> str:
    out = ["| job | input | input MB | wall | per s | peak RSS JVM | Python driver | Python workers | kept |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['kind']} {r['factor']}x | {r['n']:,} | {r['mb']:,.0f} | {r['wall']:.0f} s | "
                   f"{r['n'] / r['wall']:,.0f} | {r['jvm']:,.0f} MB | {r['py_driver']:,.0f} MB | "
                   f"{r['py_workers']:,.0f} MB | {r['totals']['kept']:,} |")
    ratios = []
    for kind in dict.fromkeys(r["kind"] for r in rows):
        one, big = [r for r in rows if r["kind"] == kind]
        ratio = {k: big[k] / one[k] if one[k] else float("nan") for k in ("jvm", "py_driver", "py_workers")}
        total = (big["jvm"] + big["py_driver"] + big["py_workers"]) / (one["jvm"] + one["py_driver"] + one["py_workers"])
        ratios.append(f"- {kind}, {big['factor']}x against 1x: JVM **{ratio['jvm']:.2f}x**, Python driver "
                      f"**{ratio['py_driver']:.2f}x**, Python workers **{ratio['py_workers']:.2f}x**, all together "
                      f"**{total:.2f}x** (aim: at most 1.2x); time {big['wall'] / one['wall']:.2f}x for "
                      f"{big['factor']}x the input.")
    return "\n".join(out) + "\n\n" + "\n".join(ratios) + f"\n- Driver heap: `--driver-memory {driver_memory}`."


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=1_000_000)
    p.add_argument("--images", type=int, default=50_000)
    p.add_argument("--factor", type=int, default=4)
    p.add_argument("--driver-memory", default="2g")
    p.add_argument("--only", choices=["text", "images"])
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "shardline-bench-scale"))
    args = p.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    if args.only in (None, "text"):
        rows += measure("text", args.docs, args.factor, work, args.driver_memory)
    if args.only in (None, "images"):
        rows += measure("images", args.images, args.factor, work, args.driver_memory)
    body = f"""`benchmarks/scale.py`: the real cleaning jobs (`spark-submit --master local[2] --driver-memory
{args.driver_memory}`, default configuration, text `--preset web`) on a corpus and on {args.factor}x that corpus;
peak resident memory polled every 0.25 s from `/proc` (the driver JVM, which in local mode is also the
executor; the Python driver; all Python workers summed). Text: `benchmarks/text_clean.py`'s JSONL documents
(80-120 words, 4% exact, 4% edited copies). Images: `benchmarks/image_clean.py`'s synthetic pictures with
sides of {SIDES[0]}-{SIDES[1]} px (half PNG, half JPEG, 5% near-duplicate copies).

{table(rows, args.driver_memory)}"""
    print(body)
    if args.only is None:
        update_section("Scale: memory against input (issue: nothing lost ...)", body)


if __name__ == "__main__":
    main()
