"""Train one classifier on a published dataset, evaluate it against the champion, register it.

    python -m training.train --kind image --date 2026-11-23 [--dataset DIR] [--epochs 5]
    python -m training.launch --workers 2 --kind image --date 2026-11-23     # N local workers

Runs under MultiWorkerMirroredStrategy: without TF_CONFIG it is a single worker; with TF_CONFIG each
worker reads its own petastorm shard (``cur_shard``/``shard_count`` from its rank). Steps per epoch come
from the dataset manifest and the global batch size, so every worker runs the same number of steps
however uneven the shards. ``BackupAndRestore`` checkpoints every epoch: a relaunched job resumes from
the last completed epoch. The chief evaluates the candidate and the current champion on the same test
split, registers the candidate under ``<data>/models/<kind>/<version>/`` and moves ``champion`` only if
the candidate is not worse than the champion by more than ``--tolerance`` (accuracy).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from shardline.config import Paths, ShardlineError, parse_date, spark_uri
from shardline.pipeline_config import parse_args
from shardline.storage import commit_dir, read_pointer, staging_dir, write_json_atomic
from training import registry
from training.config import ImageModelConfig, TextModelConfig, TrainConfig

log = logging.getLogger("shardline.training")


def resolve_dataset(paths: Paths, kind: str, dataset: str | None) -> Path:
    if dataset:
        path = Path(dataset).expanduser().resolve()
    else:
        version = read_pointer(paths.datasets / kind / "latest")
        if version is None:
            raise ShardlineError(f"no validated {kind} dataset under {paths.datasets / kind}: "
                                 "run publish_dataset and the validation gate first")
        path = paths.datasets / kind / version
    if not (path / "manifest.json").exists():
        raise ShardlineError(f"not a published dataset (no manifest.json): {path}")
    return path


def worker_rank() -> tuple[int, int]:
    """(index, count) of this worker from TF_CONFIG; (0, 1) when training alone."""
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    workers = tf_config.get("cluster", {}).get("worker", [])
    return (int(tf_config.get("task", {}).get("index", 0)), max(1, len(workers)))


def model_version(dt: str, manifest: dict, cfg: TrainConfig) -> str:
    """The training run's key: same date, data and config -> same key (a relaunched job resumes from its
    checkpoints under it); the registered version adds when it was saved (``new_version``)."""
    digest = hashlib.sha1(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:6]
    return f"{dt.replace('-', '')}-{manifest['version']}-{digest}"


def new_version(root: Path, run_key: str) -> str:
    """A version id no registered model has: ``<run key>-<UTC save time>`` (sortable, traceable to date,
    dataset and config). A rerun of a date registers a new version; none is ever rewritten."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    version, n = f"{run_key}-{stamp}", 1
    while (root / version).exists():
        n += 1
        version = f"{run_key}-{stamp}-{n}"
    return version


def evaluate(model, model_labels: list[str], url: str, kind: str, labels: list[str],
             train_counts: dict[str, int] | None = None, encoding: dict | None = None) -> dict:
    """Metrics of ``model`` on the split at ``url``, matching predictions to the dataset's labels by name
    (so a champion trained on another label set is still compared fairly)."""
    import numpy as np

    from training.evaluate import classification_metrics
    from training.inputs import build_inputs, open_reader

    index = {label: i for i, label in enumerate(labels)}
    y_true, y_pred = [], []
    column = "image" if kind == "image" else "text"
    with open_reader(url, ["id", column, "label_index"], num_epochs=1) as reader:
        for x, y in build_inputs(reader, kind, 256, **(encoding or {})):
            best = np.argmax(model.predict_on_batch(x), axis=1)
            y_pred.append(np.array([index.get(model_labels[i], -1) for i in best]))
            y_true.append(y.numpy())
    y_t = np.concatenate(y_true) if y_true else np.array([], dtype=int)
    y_p = np.concatenate(y_pred) if y_pred else np.array([], dtype=int)
    return classification_metrics(y_t, y_p, labels, train_counts or {})


def champion_metrics(paths: Paths, kind: str, url: str, labels: list[str],
                     encoding: dict) -> tuple[str | None, dict | None]:
    version = registry.champion(paths, kind)
    if version is None:
        return None, None
    import tf_keras as keras

    folder = registry.kind_root(paths, kind) / version
    model = keras.models.load_model(str(folder / "model.keras"), compile=False)
    model_labels = json.loads((folder / "labels.json").read_text())
    return version, evaluate(model, model_labels, url, kind, labels, encoding=encoding)


def decide(candidate: dict, champion: dict | None, champion_version: str | None, tolerance: float) -> tuple[bool, str]:
    if champion is None:
        return True, "no champion yet"
    floor = champion["accuracy"] - tolerance
    if candidate["accuracy"] >= floor:
        return True, (f"candidate accuracy {candidate['accuracy']:.4f} >= champion {champion_version} "
                      f"{champion['accuracy']:.4f} - tolerance {tolerance}")
    return False, (f"candidate accuracy {candidate['accuracy']:.4f} < champion {champion_version} "
                   f"{champion['accuracy']:.4f} - tolerance {tolerance}: keeping the champion")


class _DebugTrail:
    """Test hooks (``--debug-dir``): the ids each worker read, epochs it ran, final weights."""

    def __init__(self, folder: Path | None, index: int):
        self.folder, self.index = folder, index
        self.ids: list[str] = []
        if folder:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"worker{index}.pid").write_text(str(os.getpid()))
            self.log(f"start {os.getpid()}")

    def log(self, line: str) -> None:
        if self.folder:
            with open(self.folder / f"epochs_worker{self.index}.log", "a") as f:
                f.write(line + "\n")

    def tap(self, ds):
        """Record the ids flowing through ``ds`` (x, y, id) and drop them from the elements."""
        import tensorflow as tf

        def record(ids):
            self.ids.extend(i.decode() for i in ids.numpy())
            return 0

        def strip(x, y, ids):
            token = tf.py_function(record, [ids], tf.int32)
            with tf.control_dependencies([token]):
                return tf.identity(x), tf.identity(y)

        return ds.map(strip)

    def finish(self, model) -> None:
        if self.folder:
            import numpy as np

            (self.folder / f"ids_worker{self.index}.json").write_text(json.dumps(sorted(set(self.ids))))
            np.savez(self.folder / f"weights_worker{self.index}.npz", *model.get_weights())


def train(cfg: TrainConfig, dataset: Path, paths: Paths, dt: str, *, promote: bool = True, tolerance: float = 0.01,
          steps_per_epoch: int | None = None, debug_dir: Path | None = None, mixed_precision: bool = False) -> Path:
    import tensorflow as tf
    import tf_keras as keras

    from training.evaluate import confusion_png
    from training.inputs import build_inputs, open_reader
    from training.models import build_image_model, build_text_model, build_vectorizer, compile_model

    manifest = json.loads((dataset / "manifest.json").read_text())
    labels = manifest["labels"]
    index, n_workers = worker_rank()
    gpus = tf.config.list_physical_devices("GPU")
    if mixed_precision and gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
    tf.keras.utils.set_random_seed(cfg.seed)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    global_batch = cfg.batch_size * n_workers
    steps = steps_per_epoch or max(1, math.ceil(manifest["rows"]["train"] / global_batch))
    val_steps = max(1, math.ceil(manifest["rows"]["val"] / global_batch)) if manifest["rows"]["val"] else None
    column = "image" if cfg.kind == "image" else "text"
    fields = ["id", column, "label_index"]
    url = {split: spark_uri(dataset / split) for split in ("train", "val", "test")}  # not %-encoded (petastorm)
    run_key = model_version(dt, manifest, cfg)
    version = run_key  # until the chief registers it under a new version id
    root = registry.kind_root(paths, cfg.kind)
    trail = _DebugTrail(debug_dir, index)
    enc = {"encoding": manifest.get("encoding", "png"), "shape": manifest.get("image_shape")}
    log.info("training %s %s on dataset %s (%s), worker %d/%d, %d steps/epoch x %d epochs, global batch %d, GPUs %d",
             cfg.kind, version, manifest["version"], manifest["rows"], index, n_workers, steps, cfg.epochs,
             global_batch, len(gpus))

    class EpochTrail(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            trail.log(f"begin {epoch}")

        def on_epoch_end(self, epoch, logs=None):
            trail.log(f"end {epoch}")

    callbacks = [
        # Checkpoint each epoch; a relaunched job resumes here. Removed after a successful fit.
        keras.callbacks.BackupAndRestore(str(root / "_backup" / run_key)),
        keras.callbacks.EarlyStopping(monitor="val_loss" if val_steps else "loss", patience=3,
                                      restore_best_weights=True),
        keras.callbacks.TensorBoard(str(root / "_tensorboard" / run_key)),
        EpochTrail(),
    ]
    with open_reader(url["train"], fields, num_epochs=None, shard=index, shard_count=n_workers,
                     seed=cfg.seed, shuffle=True) as train_reader:
        train_ds = build_inputs(train_reader, cfg.kind, global_batch, shuffle_buffer=cfg.shuffle_buffer,
                                seed=cfg.seed, with_ids=bool(debug_dir), **enc)
        if debug_dir:
            train_ds = trail.tap(train_ds)
        with strategy.scope():
            if cfg.kind == "image":
                sample_x, _ = next(iter(train_ds))
                model = build_image_model(cfg.image, tuple(sample_x.shape[1:]), len(labels))
            else:
                with open_reader(url["train"], ["text"], num_epochs=1, workers_count=1) as text_reader:
                    texts = build_text_only(text_reader)
                    model = build_text_model(cfg.text, build_vectorizer(cfg.text, texts), len(labels))
            compile_model(model, cfg.learning_rate)
        fit_args = dict(epochs=cfg.epochs, steps_per_epoch=steps, callbacks=callbacks, verbose=2)
        if val_steps:
            with open_reader(url["val"], fields, num_epochs=None) as val_reader:
                history = model.fit(train_ds, validation_data=build_inputs(val_reader, cfg.kind, global_batch, **enc),
                                    validation_steps=val_steps, **fit_args)
        else:
            history = model.fit(train_ds, **fit_args)
    trail.finish(model)

    final = root / version
    # Under MultiWorkerMirroredStrategy, predicting and saving run collective ops: every worker must
    # issue the same sequence (evaluate, then save both formats) or they deadlock or abort. Only the
    # chief's results are kept.
    metrics = evaluate(model, labels, url["test"], cfg.kind, labels, manifest["counts"]["train"], enc)
    if index != 0:
        scratch = Path(tempfile.mkdtemp(prefix=f"shardline-worker{index}-"))
        model.save(scratch / "model.keras")
        model.save(scratch / "saved_model", save_format="tf")
        shutil.rmtree(scratch, ignore_errors=True)
        return final

    metrics["history"] = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    champ_version, champ = champion_metrics(paths, cfg.kind, url["test"], labels, enc)
    promoted, reason = decide(metrics, champ, champ_version, tolerance)
    metrics["promotion"] = {"promoted": promoted and promote, "reason": reason if promote else "--no-promote",
                            "champion": champ_version, "champion_metrics": champ, "tolerance": tolerance}
    log.info("test accuracy %.4f macro-F1 %.4f (majority baseline %.4f); %s", metrics["accuracy"],
             metrics["macro_f1"], metrics["majority_baseline_accuracy"], reason)

    version = new_version(root, run_key)  # a rerun never rewrites a registered version (nor the champion)
    final = root / version
    stage = staging_dir(final)
    model.save(stage / "model.keras")
    model.save(stage / "saved_model", save_format="tf")  # TF Serving layout
    confusion_png(metrics["confusion_matrix"], labels, stage / "confusion_matrix.png",
                  title=f"{cfg.kind} {version}: test accuracy {metrics['accuracy']:.3f}")
    write_json_atomic(stage / "labels.json", labels)
    write_json_atomic(stage / "config.json", cfg.to_dict())
    write_json_atomic(stage / "metrics.json", metrics)
    write_json_atomic(stage / "model.json", {
        "name": f"{cfg.kind}_classifier", "version": version, "kind": cfg.kind,
        "dataset_version": manifest["version"], "dataset_path": str(dataset), "dt": dt, "workers": n_workers,
        "code_version": manifest.get("code_version"), "gpus": len(gpus),
        "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat()})
    commit_dir(stage, final)
    shutil.rmtree(root / "_backup" / run_key, ignore_errors=True)  # the run finished: nothing to resume
    if promoted and promote:
        registry.promote(paths, cfg.kind, version, reason)
    log.info("registered %s model %s -> %s (champion: %s)", cfg.kind, version, final, registry.champion(paths, cfg.kind))
    return final


def build_text_only(reader):
    from petastorm.tf_utils import make_petastorm_dataset

    return make_petastorm_dataset(reader).map(lambda row: row.text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", required=True, choices=["image", "text"])
    p.add_argument("--date", required=True, help="run date YYYY-MM-DD")
    p.add_argument("--dataset", default=None, help="published dataset folder (default: the kind's latest)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, help="per worker (default: the configuration's, %(default)s)")
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--steps-per-epoch", type=int, default=None, help="override the manifest-derived value")
    p.add_argument("--tolerance", type=float, help="accuracy the candidate may lose to the champion (default: the configuration's, %(default)s)")
    p.add_argument("--no-promote", action="store_true", help="register the model but leave the champion alone")
    p.add_argument("--mixed-precision", action="store_true", help="float16 compute when a GPU is present")
    p.add_argument("--debug-dir", default=None, help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(build_parser(), "train", argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        parse_date(args.date)
        section = args.pipeline_config.train
        epochs = args.epochs or (section.image_epochs if args.kind == "image" else section.text_epochs)
        overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", args.batch_size),
                                       ("learning_rate", args.learning_rate)) if v is not None}
        cfg = TrainConfig.for_kind(
            args.kind, **overrides,
            image=ImageModelConfig(conv_filters=section.image_conv_filters, dense_units=section.image_dense_units),
            text=TextModelConfig(max_tokens=section.text_max_tokens, sequence_length=section.text_sequence_length,
                                 embedding_dim=section.text_embedding_dim))
        if not 0 <= args.tolerance < 1:
            raise ValueError(f"tolerance must be in [0, 1), got {args.tolerance}")
        paths = Paths.from_env()
        dataset = resolve_dataset(paths, args.kind, args.dataset)
    except (ShardlineError, ValueError) as exc:
        print(f"error: train: {exc}", file=sys.stderr)
        return 2
    out = train(cfg, dataset, paths, args.date, promote=not args.no_promote, tolerance=args.tolerance,
                steps_per_epoch=args.steps_per_epoch, debug_dir=Path(args.debug_dir) if args.debug_dir else None,
                mixed_precision=args.mixed_precision)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
