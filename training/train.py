"""Train one classifier on a published dataset, evaluate it on the test split, save it with its metrics.

    python -m training.train --kind image --date 2026-11-23 [--dataset DIR] [--epochs 5]

Runs under MultiWorkerMirroredStrategy: without TF_CONFIG it is a single local worker; with TF_CONFIG
each worker reads its own petastorm shard. The model is staged and committed to
``<data>/models/<kind>/<version>/`` (model.keras, labels.json, metrics.json, config.json), and the
``champion`` pointer moves to it.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from spark_jobs.common.config import Paths, ShardlineError, parse_date
from spark_jobs.common.publish import commit_dir, read_pointer, staging_dir, write_json_atomic, write_pointer
from training.config import TrainConfig

log = logging.getLogger("shardline.training")


def resolve_dataset(paths: Paths, kind: str, dataset: str | None) -> Path:
    if dataset:
        path = Path(dataset).expanduser().resolve()
    else:
        version = read_pointer(paths.datasets / kind / "latest")
        if version is None:
            raise ShardlineError(f"no published {kind} dataset under {paths.datasets / kind}: run publish_dataset first")
        path = paths.datasets / kind / version
    if not (path / "manifest.json").exists():
        raise ShardlineError(f"not a published dataset (no manifest.json): {path}")
    return path


def worker_rank() -> tuple[int, int]:
    """(index, count) of this worker from TF_CONFIG; (0, 1) when training alone."""
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    workers = tf_config.get("cluster", {}).get("worker", [])
    return (int(tf_config.get("task", {}).get("index", 0)), max(1, len(workers)))


def train(cfg: TrainConfig, dataset: Path, out_root: Path, dt: str, promote: bool = True) -> Path:
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras

    from training.evaluate import classification_metrics
    from training.inputs import build_inputs, open_reader
    from training.models import build_image_model, build_text_model, build_vectorizer, compile_model

    manifest = json.loads((dataset / "manifest.json").read_text())
    labels = manifest["labels"]
    index, n_workers = worker_rank()
    tf.keras.utils.set_random_seed(cfg.seed)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    global_batch = cfg.batch_size * n_workers
    steps = max(1, math.ceil(manifest["rows"]["train"] / global_batch))
    val_steps = max(1, math.ceil(manifest["rows"]["val"] / global_batch)) if manifest["rows"]["val"] else None
    column = "image" if cfg.kind == "image" else "text"
    fields = ["id", column, "label_index"]
    url = {split: (dataset / split).as_uri() for split in ("train", "val", "test")}
    log.info("training %s on %s (%s) worker %d/%d, %d steps/epoch x %d epochs", cfg.kind, manifest["version"],
             manifest["rows"], index, n_workers, steps, cfg.epochs)

    with open_reader(url["train"], fields, num_epochs=None, shard=index, shard_count=n_workers,
                     seed=cfg.seed, shuffle=True) as train_reader:
        train_ds = build_inputs(train_reader, cfg.kind, global_batch, shuffle_buffer=cfg.shuffle_buffer,
                                seed=cfg.seed)
        with strategy.scope():
            if cfg.kind == "image":
                sample_x, _ = next(iter(train_ds))
                model = build_image_model(cfg.image, tuple(sample_x.shape[1:]), len(labels))
            else:
                with open_reader(url["train"], ["text"], num_epochs=1, workers_count=1) as text_reader:
                    texts = build_text_only(text_reader)
                    model = build_text_model(cfg.text, build_vectorizer(cfg.text, texts), len(labels))
            compile_model(model, cfg.learning_rate)
        callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss" if val_steps else "loss", patience=3,
                                                   restore_best_weights=True)]
        if val_steps:
            with open_reader(url["val"], fields, num_epochs=None) as val_reader:
                val_ds = build_inputs(val_reader, cfg.kind, global_batch)
                history = model.fit(train_ds, epochs=cfg.epochs, steps_per_epoch=steps, validation_data=val_ds,
                                    validation_steps=val_steps, callbacks=callbacks, verbose=2)
        else:
            history = model.fit(train_ds, epochs=cfg.epochs, steps_per_epoch=steps, callbacks=callbacks,
                                verbose=2)

    y_true, y_pred = [], []
    with open_reader(url["test"], fields, num_epochs=1) as test_reader:
        for x, y in build_inputs(test_reader, cfg.kind, 256):
            y_pred.append(np.argmax(model.predict_on_batch(x), axis=1))
            y_true.append(y.numpy())
    y_true_a = np.concatenate(y_true) if y_true else np.array([], dtype=int)
    y_pred_a = np.concatenate(y_pred) if y_pred else np.array([], dtype=int)
    metrics = classification_metrics(y_true_a, y_pred_a, labels, manifest["counts"]["train"])
    metrics["history"] = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    log.info("test accuracy %.4f macro-F1 %.4f (majority baseline %.4f)", metrics["accuracy"],
             metrics["macro_f1"], metrics["majority_baseline_accuracy"])

    version = f"{dt.replace('-', '')}-{manifest['version']}"
    final = out_root / cfg.kind / version
    if index != 0:  # only the chief publishes; other workers' copies would be identical
        return final
    stage = staging_dir(final)
    model.save(stage / "model.keras")
    write_json_atomic(stage / "labels.json", labels)
    write_json_atomic(stage / "config.json", cfg.to_dict())
    write_json_atomic(stage / "metrics.json", metrics)
    write_json_atomic(stage / "model.json", {"name": f"{cfg.kind}_classifier", "version": version,
                                             "kind": cfg.kind, "dataset_version": manifest["version"],
                                             "dt": dt, "workers": n_workers})
    commit_dir(stage, final)
    if promote:
        write_pointer(out_root / cfg.kind / "champion", version)
    log.info("saved %s model %s -> %s", cfg.kind, version, final)
    return final


def build_text_only(reader):
    from petastorm.tf_utils import make_petastorm_dataset

    return make_petastorm_dataset(reader).map(lambda row: row.text)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", required=True, choices=["image", "text"])
    p.add_argument("--date", required=True, help="run date YYYY-MM-DD")
    p.add_argument("--dataset", default=None, help="published dataset folder (default: the kind's latest)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--no-promote", action="store_true", help="save the model but leave the champion alone")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        parse_date(args.date)
        overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                       ("learning_rate", args.learning_rate)) if v is not None}
        cfg = TrainConfig.for_kind(args.kind, **overrides)
        paths = Paths.from_env()
        dataset = resolve_dataset(paths, args.kind, args.dataset)
    except (ShardlineError, ValueError) as exc:
        print(f"error: train: {exc}", file=sys.stderr)
        return 2
    out = train(cfg, dataset, paths.models, args.date, promote=not args.no_promote)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
