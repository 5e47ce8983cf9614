"""Image models against the baseline by k-fold cross-validation on one published dataset (issue 17).

A nightly test split of a few hundred pictures holds a few dozen: one run's accuracy moves by +-6 points
with the split. This pools a published dataset's train, val and test rows, deals them into ``--folds``
stratified folds, and for each fold trains every variant on the other folds (a tenth of them held out for
early stopping) with the nightly regime of ``training/train.py`` (Adam with cosine decay, ``sqrt`` label
weights, epochs of at least 50 steps of 64, early stopping on the validation loss) and scores it on the
fold. Variants:

- ``logreg``: the baseline of every training run (``training/baseline.py``: pixels + HOG, logistic regression);
- ``net``: the network alone (``train.image_classic_features = false``);
- ``wd``: the network with its wide branch on the baseline's features, their logits added and trained
  together (``train.image_classic_mix = "sum"``);
- ``mix``: the network with two heads, one alone and one with the wide branch added, each trained on its own
  loss, their probabilities mixed by a weight chosen on the held-out tenth (``"validation"``, the default).
  Its line also gives each head's own accuracy.
- ``wd0``, ``mix0``: the same with the wide branch on the baseline's features only
  (``train.image_classic_extra = false``; ``wd`` and ``mix`` add a coarser HOG and colour histograms of the
  whole small picture and of its quarters).

    python benchmarks/model_cv.py DATASET_DIR [--variants logreg,net,wd] [--folds 4] [--name icons]

DATASET_DIR is a published version, e.g. ``$SHARDLINE_HOME/datasets/image/<version>`` after a night on
``benchmarks/real_corpora.py``'s icons. Writes docs/BENCHMARKS.md ("Image models, cross-validated").
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import update_section  # noqa: E402


def load(dataset: Path) -> tuple[list[bytes], np.ndarray, np.ndarray, list[str]]:
    import pyarrow.dataset as pads
    from PIL import Image

    from training.inputs import PIXEL_SCALE

    manifest = json.loads((dataset / "manifest.json").read_text())
    raw, labels = [], []
    for split in ("train", "val", "test"):
        table = pads.dataset(str(dataset / split), format="parquet").to_table(columns=["image", "label_index"])
        raw += table.column("image").to_pylist()
        labels += table.column("label_index").to_pylist()
    pixels = np.stack([np.asarray(Image.open(io.BytesIO(v)).convert("RGB" if manifest.get("image_shape") is None
                                                                    or manifest["image_shape"][-1] == 3 else "L"),
                                  dtype=np.float32) * np.float32(PIXEL_SCALE) for v in raw])  # as scoring scales
    if pixels.ndim == 3:
        pixels = pixels[..., None]
    return raw, pixels, np.asarray(labels), manifest["labels"]


def train_network(variant: str, x_train, y_train, x_val, y_val, labels: list[str], seed: int = 42,
                  epochs: int = 30, augment: tuple[str, ...] = ("flip", "crop", "color")):
    """The nightly regime (``training/train.py``: its steps per epoch, label weights, cosine schedule and early
    stopping, the default batch size and learning rate) on arrays in memory; 30 epochs as the nightly config.
    -> (a model with one output, epochs run, what ``choose_mix`` found for ``mix``, the trained model before
    ``mirror_averaged`` when it was applied)."""
    import tensorflow as tf

    from training.config import ImageModelConfig, TrainConfig
    from training.models import (
        build_image_model,
        choose_mix,
        compile_model,
        cosine_schedule,
        mirror_averaged,
        mixed_model,
        per_head,
    )
    from training.train import early_stopping, epoch_steps, label_weights

    regime = TrainConfig(kind="image")
    tf.keras.utils.set_random_seed(seed)
    counts = {labels[i]: int(n) for i, n in zip(*np.unique(y_train, return_counts=True))}
    weights = tf.constant(label_weights(labels, counts, regime.class_weight))
    steps = epoch_steps(len(x_train), regime.batch_size, regime.min_steps_per_epoch)
    cfg = {"net": ImageModelConfig(classic_features=False, augment=augment),
           "wd": ImageModelConfig(classic_mix="sum", augment=augment),
           "wd0": ImageModelConfig(classic_mix="sum", classic_extra=False, augment=augment),
           "mix": ImageModelConfig(classic_mix="validation", augment=augment),
           "mix0": ImageModelConfig(classic_mix="validation", classic_extra=False, augment=augment)}[variant]
    model = build_image_model(cfg, x_train.shape[1:], len(labels))
    data = per_head(tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(1024, seed=seed).repeat()
                    .batch(regime.batch_size).map(lambda x, y: (x, y, tf.gather(weights, y))), model)
    val = per_head(tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(256), model)
    model = compile_model(model, cosine_schedule(regime.learning_rate, epochs * steps))
    history = model.fit(data, epochs=epochs, steps_per_epoch=steps, validation_data=val,
                        callbacks=[early_stopping(epochs)], verbose=0)
    mix, plain = None, None
    if cfg.mirrors:  # as training/train.py: the mean over picture and mirror
        plain, model = model, mirror_averaged(model)
    if len(model.outputs) == 2:
        val_probs = model.predict(x_val, verbose=0)
        mix = choose_mix(*val_probs, y_val)
        heads, model = model, mixed_model(model, mix["deep_weight"])
        mix["heads"], mix["val_probs"] = heads, val_probs
    return model, len(history.history["loss"]), mix, plain


def main() -> int:
    from sklearn.model_selection import StratifiedKFold, train_test_split

    import training  # noqa: F401  (tf-keras before TensorFlow loads)
    from training.baseline import image_features, image_pipeline
    from training.models import mixed_model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", type=Path)
    p.add_argument("--variants", default="logreg,net,wd")
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--augment", default="flip,crop,color", help="train.image_augment (letters: crop,color)")
    p.add_argument("--max-folds", type=int, default=None, help="stop after this many folds (time)")
    p.add_argument("--name", default=None, help="what the dataset is, for the table (default: its folder)")
    args = p.parse_args()
    variants = args.variants.split(",")
    raw, x, y, labels = load(args.dataset)
    features = image_features(raw) if "logreg" in variants else None
    scores: dict[str, list[float]] = {v: [] for v in variants}
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    unmirrored: dict[str, list[float]] = {}
    for fold, (train, test) in enumerate(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(x, y)):
        if args.max_folds is not None and fold >= args.max_folds:
            break
        train, val = train_test_split(train, test_size=0.1, random_state=fold, stratify=y[train])
        for v in variants:
            started = time.perf_counter()
            if v == "logreg":
                model = image_pipeline().fit(features[train], y[train])
                accuracy, epochs, mix, plain = float(np.mean(model.predict(features[test]) == y[test])), 0, None, None
            else:
                net, epochs, mix, plain = train_network(v, x[train], y[train], x[val], y[val], labels,
                                                 augment=tuple(a for a in args.augment.split(",") if a))
                accuracy = float(np.mean(net.predict(x[test], verbose=0).argmax(1) == y[test]))
            scores[v].append(accuracy)
            seconds[v].append(time.perf_counter() - started)
            print(f"fold {fold} {v}: accuracy {accuracy:.4f} ({epochs} epochs, {seconds[v][-1]:.0f} s)", flush=True)
            if plain is not None:  # the same weights, each picture predicted once (the mix weight as chosen)
                once = plain if mix is None else mixed_model(plain, mix["deep_weight"])
                probs = once.predict(x[test], verbose=0)
                unmirrored.setdefault(v, []).append(float(np.mean(probs.argmax(1) == y[test])))
                print(f"  without the mirror image: {unmirrored[v][-1]:.4f}", flush=True)
            if v.startswith("mix"):
                deep, joint = mix.pop("heads").predict(x[test], verbose=0)
                vd, vj = mix.pop("val_probs")
                yv = y[val]
                nll = {w: -np.mean(np.log(np.maximum((w * vd + (1 - w) * vj)[np.arange(len(yv)), yv], 1e-12)))
                       for w in [i / 20 for i in range(21)]}
                w_nll = min(nll, key=nll.get)
                by_nll = float(np.mean((w_nll * deep + (1 - w_nll) * joint).argmax(1) == y[test]))
                print(f"  (the weight of least validation log loss, {w_nll:.2f}, would give {by_nll:.4f})", flush=True)
                grid = {w: round(float(np.mean((w * deep + (1 - w) * joint).argmax(1) == y[test])), 4)
                        for w in (0, .25, .5, .75, 1)}
                print(f"  chosen on validation: {mix}; on the fold, the network head {grid[1]:.4f}, the head with "
                      f"the wide branch {grid[0]:.4f}, by the network head's weight {grid}", flush=True)
    base = np.asarray(scores["logreg"]) if "logreg" in scores else None
    lines = ["| variant | mean accuracy | per fold | points over logreg (mean, min..max) | without the mirror "
             "image: mean, per fold | seconds per fold |", "|---|---:|---|---|---|---:|"]
    for v in variants:
        s = np.asarray(scores[v])
        gain = "" if base is None or v == "logreg" else \
            f"**{100 * np.mean(s - base):+.1f}** ({100 * np.min(s - base):+.1f}..{100 * np.max(s - base):+.1f})"
        flat = unmirrored.get(v)
        flat = f"{np.mean(flat):.3f}: {' '.join(f'{a:.3f}' for a in flat)}" if flat else ""
        lines.append(f"| {v} | {np.mean(s):.3f} | {' '.join(f'{a:.3f}' for a in s)} | {gain} | {flat} | "
                     f"{np.mean(seconds[v]):.0f} |")
        print(lines[-1], flush=True)
    name = args.name or args.dataset.name
    update_section("Image models, cross-validated", "\n".join([
        f"`benchmarks/model_cv.py`: {name}, {len(y)} pictures of {len(set(y.tolist()))} labels (largest "
        f"{np.bincount(y).max()}, smallest {np.bincount(y)[np.bincount(y) > 0].min()}), all splits of one "
        f"published version pooled into {args.folds} stratified folds"
        f"{f' (the first {args.max_folds} run)' if args.max_folds else ''}; each variant trained on the other folds "
        f"with the nightly regime (augmentation: {args.augment or 'none'}) and scored on the fold. `logreg` is the baseline of every training run, `net` "
        f"the network alone, `wd` the network with its wide branch on the baseline's features, logits added "
        f"(`classic_mix = \"sum\"`), `mix` the network with two heads (alone, and with the wide branch) mixed by "
        f"a weight chosen on the held-out tenth (`\"validation\"`, the default); `wd0` and `mix0` the same with the "
        f"wide branch on the baseline's features only (`image_classic_extra = false`). Trained with flips, "
        f"each network predicts the mean over a picture and its mirror image (`image_mirror_average`); the "
        f"next column scores the same weights on the picture alone.",
        "", *lines]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
