"""The cleaning jobs' throughput now against an earlier version of the code, side by side in one run.

For changes to near-duplicate matching (issue: near duplicates as people mean them): the real jobs
(``spark-submit spark_jobs/clean_text.py --preset web`` on the 1M-document corpus of
``benchmarks/text_clean.py``, ``spark-submit spark_jobs/clean_images.py`` on the 50k-picture corpus of
``benchmarks/image_clean.py``) run from this checkout and from a git worktree of ``--baseline-ref``,
alternately, ``--rounds`` times each, on the same corpus, machine and settings. Prints and records the
best wall time of each and the ratio.

    .venv/bin/python benchmarks/neardup_speed.py --baseline-ref 0347c5f [--docs 1000000] [--images 50000] [--rounds 1]
"""
from __future__ import annotations

import argparse
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


def worktree(ref: str, where: Path) -> Path:
    if not (where / ".git").exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), ref], check=True,
                       capture_output=True)
    return where


def job(repo: Path, script: str, args: list[str], home: Path, driver_memory: str) -> float:
    env = {**os.environ, "SHARDLINE_HOME": str(home), "PYTHONPATH": str(repo), "PYSPARK_PYTHON": sys.executable,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [str(Path(sys.executable).with_name("spark-submit")), "--master", "local[2]", "--driver-memory",
           driver_memory, str(repo / "spark_jobs" / script), "--date", text_clean.DT, *args]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"{script} from {repo} failed:\n{done.stderr[-4000:]}")
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline-ref", required=True, help="git ref of the version to compare against")
    p.add_argument("--docs", type=int, default=1_000_000)
    p.add_argument("--images", type=int, default=50_000)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--only", choices=["text", "images"], help="run one of the two jobs (no BENCHMARKS.md update)")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "shardline-bench-neardup"))
    args = p.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    ref = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.baseline_ref], check=True,
                         capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    base = worktree(args.baseline_ref, work / f"ref-{ref}")
    corpus = text_clean.make_corpus(work / f"text-{args.docs}", args.docs) if args.only != "images" else None
    pictures = image_clean.make_corpus(work / f"images-{args.images}", args.images) if args.only != "text" else None
    runs = {("text", "now"): [], ("text", "before"): [], ("images", "now"): [], ("images", "before"): []}
    for r in range(args.rounds):
        for kind, script, extra, mem in (("text", "clean_text.py", ["--input", str(corpus), "--preset", "web"], "6g"),
                                         ("images", "clean_images.py", ["--input", str(pictures)], "4g")):
            if args.only and kind != args.only:
                continue
            for which, repo in (("before", base), ("now", REPO)):
                home = work / f"home-{kind}-{which}-{r}"
                t = job(repo, script, [*extra, "--run-id", f"speed-{which}-{r}"], home, mem)
                runs[(kind, which)].append(t)
                print(f"{kind} {which} ({repo.name}): {t:.0f} s", file=sys.stderr)
                subprocess.run(["rm", "-rf", str(home)], check=False)
    if args.only:
        return
    best = {k: min(v) for k, v in runs.items()}
    body = f"""`benchmarks/neardup_speed.py --baseline-ref {ref}`: the real jobs from this checkout ({head}) and from
{ref}, alternately, on the same corpora, `local[2]`, best of {args.rounds} wall time (JVM start, read, clean, dedup,
write, commit, report):

| job | corpus | before ({ref}) | now ({head}) | throughput now / before |
|---|---|---:|---:|---:|
| clean_text `--preset web`, 6 GB driver | {args.docs:,} JSONL documents (`text_clean.py`) | {best[('text', 'before')]:.0f} s ({args.docs / best[('text', 'before')]:,.0f} docs/s) | {best[('text', 'now')]:.0f} s ({args.docs / best[('text', 'now')]:,.0f} docs/s) | **{best[('text', 'before')] / best[('text', 'now')]:.2f}x** |
| clean_images, 4 GB driver | {args.images:,} pictures (`image_clean.py`) | {best[('images', 'before')]:.0f} s ({args.images / best[('images', 'before')]:,.0f} images/s) | {best[('images', 'now')]:.0f} s ({args.images / best[('images', 'now')]:,.0f} images/s) | **{best[('images', 'before')] / best[('images', 'now')]:.2f}x** |

Aims (issue: near duplicates as people mean them): text at least 0.8x, images at least 0.9x."""
    print(body)
    update_section("Near-duplicate matching: speed against the previous version", body)


if __name__ == "__main__":
    main()
