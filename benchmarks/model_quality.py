"""The nightly models against their scikit-learn baselines on long-tailed real material (issue 17).

Builds the corpora of ``benchmarks/training_corpora.py`` (40 labels of Python standard-library
docstrings; 26 letters rendered from the installed fonts, counted by English letter frequency), runs the
whole nightly pipeline on them (``shardline run``, default configuration except no flips for letters:
``benchmarks/configs/glyphs.toml``), and reads back what each training run recorded: the model's and the
baseline's test figures, measured on the same split in the same run, the promotion decision and the
seconds per epoch. Writes the table into docs/BENCHMARKS.md ("Models against baselines").

    python benchmarks/model_quality.py [--out DIR] [--search-trials N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import update_section  # noqa: E402
from benchmarks.training_corpora import build_images, build_text  # noqa: E402

DATE = "2025-12-02"


def newest_model(home: Path, kind: str) -> tuple[dict, dict, dict]:
    """The newest network version (a baseline registered to serve in its place is not one)."""
    root = home / "models" / kind
    metas = {p: json.loads((p / "model.json").read_text()) for p in root.iterdir() if (p / "model.json").exists()}
    folders = sorted((p for p, meta in metas.items() if meta.get("flavour", "keras") == "keras"),
                     key=lambda p: metas[p]["saved_at"])
    folder = folders[-1]
    manifest_path = Path(json.loads((folder / "model.json").read_text())["dataset_path"]) / "manifest.json"
    return (json.loads((folder / "model.json").read_text()), json.loads((folder / "metrics.json").read_text()),
            json.loads(manifest_path.read_text()))


def row(kind: str, meta: dict, m: dict, manifest: dict) -> str:
    b = m["baseline"]
    counts = sorted(manifest["counts"]["train"].values())
    per_epoch = sum(m["epoch_seconds"]) / len(m["epoch_seconds"])
    return (f"| {kind} | {len(manifest['labels'])} ({counts[-1]}..{counts[0]} train rows) | "
            f"{manifest['rows']['train']}/{manifest['rows']['val']}/{manifest['rows']['test']} | "
            f"**{m['accuracy']:.3f}** / {m['macro_f1']:.3f} | {b['accuracy']:.3f} / {b['macro_f1']:.3f} | "
            f"**{100 * (m['accuracy'] - b['accuracy']):+.1f}** | {m['top_3_accuracy']:.3f} / {b['top_3_accuracy']:.3f} | "
            f"{m['calibration_error']:.3f} | {len(m['epoch_seconds'])} x {per_epoch:.1f} s | "
            f"{b['fit_seconds']:.0f} s | {'promoted' if m['promotion']['promoted'] else 'refused'} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("/tmp/shardline-model-quality"))
    p.add_argument("--search-trials", type=int, default=0)
    p.add_argument("--images-total", type=int, default=3000)
    args = p.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    corpora, home = args.out / "corpora", args.out / "home"
    text_counts = build_text(corpora / "docstrings.jsonl", 40)
    glyphs = build_images(corpora / "glyphs", args.images_total)
    print(f"corpora: {sum(text_counts.values())} docstrings / {len(text_counts)} labels; "
          f"{sum(glyphs['counts'].values())} glyphs from {glyphs['fonts']} fonts / {len(glyphs['counts'])} labels",
          flush=True)
    cmd = [str(ROOT / ".venv" / "bin" / "shardline"), "run", "--date", DATE, "--config",
           str(ROOT / "benchmarks" / "configs" / "glyphs.toml"), "--image-corpus", str(corpora / "glyphs"),
           "--text-corpus", str(corpora / "docstrings.jsonl"), "--search-trials", str(args.search_trials)]
    started = time.perf_counter()
    done = subprocess.run(cmd, env={**os.environ, "SHARDLINE_HOME": str(home)}, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        print(f"note: shardline run exited {done.returncode} (a refused first candidate leaves no champion, "
              "so scoring fails); the training figures are still read", file=sys.stderr)
    lines = ["| kind | labels (largest..smallest) | train/val/test | model accuracy / macro-F1 | "
             "baseline accuracy / macro-F1 | points over baseline | top-3 model / baseline | model ECE | "
             "epochs x s/epoch | baseline fit | gate |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for kind in ("image", "text"):
        meta, metrics, manifest = newest_model(home, kind)
        lines.append(row(kind, meta, metrics, manifest))
        print(lines[-1], flush=True)
    body = "\n".join([
        f"`benchmarks/model_quality.py`: the whole nightly pipeline (`shardline run`, default configuration but "
        f"no flips for letters) on `benchmarks/training_corpora.py`'s long-tailed real material: "
        f"{sum(text_counts.values())} Python standard-library docstrings of {len(text_counts)} modules "
        f"(labels = module) and {sum(glyphs['counts'].values())} lower-case letters rendered from "
        f"{glyphs['fonts']} installed fonts at odd sizes and colours (labels = letter, counted by English "
        f"letter frequency). Each training run fits its scikit-learn baseline on the same train split and "
        f"scores both on the same test split (text: TF-IDF word 1-2 + char 2-5 grams into a linear SVM; "
        f"images: logistic regression on 32x32 pixels + HOG at 48x48). Whole run {took / 60:.1f} min on "
        f"{os.cpu_count()} CPUs{', search trials ' + str(args.search_trials) if args.search_trials else ''}.",
        "", *lines])
    update_section("Models against baselines", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
