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
import contextlib
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from shardline.config import Paths, ShardlineError, parse_date, spark_uri
from shardline.settings import TrainSettings, add_setting_flags, parse_args
from shardline.storage import commit_dir, read_pointer, staging_dir, write_json_atomic
from training import registry
from training.config import TrainConfig

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


def predict_split(model, url: str, kind: str, encoding: dict | None = None):
    """(labels, [probabilities of each of ``model``'s outputs]) on the split at ``url``, read through
    petastorm as in training. Every worker of a multi-worker run must call it alike (collective ops)."""
    import numpy as np

    from training.inputs import build_inputs, open_reader

    n_out = len(model.outputs)
    y_true, probs = [], [[] for _ in range(n_out)]
    column = "image" if kind == "image" else "text"
    with open_reader(url, ["id", column, "label_index"], num_epochs=1) as reader:
        for x, y in build_inputs(reader, kind, 256, **(encoding or {})):
            out = model.predict_on_batch(x)
            for i, p in enumerate(out if n_out > 1 else [out]):
                probs[i].append(np.asarray(p, dtype=np.float64))
            y_true.append(y.numpy())
    width = model.outputs[0].shape[-1]
    return (np.concatenate(y_true) if y_true else np.array([], dtype=int),
            [np.concatenate(p) if p else np.zeros((0, width)) for p in probs])


def evaluate(model, model_labels: list[str], url: str, kind: str, labels: list[str],
             train_counts: dict[str, int] | None = None, encoding: dict | None = None) -> dict:
    """Metrics of the Keras ``model`` (one output) on the split at ``url``."""
    y_t, (p,) = predict_split(model, url, kind, encoding)
    return metrics_by_name(y_t, p, model_labels, labels, train_counts)


def mix_heads(heads, strategy, url: dict, kind: str, labels: list[str], train_counts: dict[str, int],
              encoding: dict, has_val: bool):
    """A two-headed image model (``classic_mix = "validation"``: the network alone, and the network with its
    wide branch) -> (the served model: the heads' probabilities mixed by the weight ``choose_mix`` takes on
    the validation split, its test metrics with ``mix``: the weight, the test behind it, and each head's
    accuracy on the validation and test splits)."""
    import numpy as np
    import tf_keras as keras

    from training.models import choose_mix, mixed_model

    if has_val:
        y_val, (deep, joint) = predict_split(heads, url["val"], kind, encoding)
        mix = choose_mix(deep, joint, y_val)
    else:
        mix = choose_mix([], [], [])
    w = mix["deep_weight"]
    with strategy.scope():
        model = mixed_model(heads, w)
        # the test split is scored by the served model's own graph (its float32 mix, as scoring runs it),
        # with the heads alongside in the same pass, so the gate's figure is the saved model's by
        # construction rather than a mix of the heads recomputed here
        scored = keras.Model(heads.inputs, [model.output, *heads.outputs], name="scored")
    y_test, (served, deep, joint) = predict_split(scored, url["test"], kind, encoding)
    metrics = metrics_by_name(y_test, served, labels, labels, train_counts)
    mix["test_accuracy"] = {"deep": float(np.mean(deep.argmax(1) == y_test)) if len(y_test) else None,
                            "joint": float(np.mean(joint.argmax(1) == y_test)) if len(y_test) else None}
    metrics["mix"] = mix
    log.info("mixed the network head and the network + wide branch head at deep weight %.2f, chosen on %d "
             "validation rows (%s); test accuracy: network %s, network + wide %s, mix %.4f", w, mix["rows"],
             mix.get("accuracy"), mix["test_accuracy"]["deep"], mix["test_accuracy"]["joint"], metrics["accuracy"])
    return model, metrics


def metrics_by_name(y_true, probabilities, model_labels: list[str], labels: list[str],
                    train_counts: dict[str, int] | None = None) -> dict:
    """Metrics of a model's ``probabilities`` (columns: ``model_labels``) against the dataset's labels,
    matched by name (so a champion trained on another label set is still compared fairly): the model's
    own argmax decides (a label the dataset lacks counts as wrong); its probabilities, moved to the
    dataset's label order, give top-k and calibration."""
    import numpy as np

    from training.evaluate import classification_metrics

    index = {label: i for i, label in enumerate(labels)}
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(len(y_true), len(model_labels))
    y_pred = np.array([index.get(model_labels[i], -1) for i in np.argmax(probabilities, axis=1)], dtype=int)
    mapped = np.zeros((len(probabilities), len(labels)))
    for j, name in enumerate(model_labels):
        if name in index:
            mapped[:, index[name]] = probabilities[:, j]
    return classification_metrics(np.asarray(y_true, dtype=int), y_pred, labels, train_counts or {},
                                  probabilities=mapped)


def champion_metrics(paths: Paths, kind: str, dataset: Path, labels: list[str],
                     encoding: dict) -> tuple[str | None, dict | None]:
    """(champion version, its metrics on this dataset's test split); metrics None when there is no
    champion, or ``{"error": ...}`` when it cannot be loaded or scored (then it cannot serve either, so
    the candidate may replace it). The champion scores the raw column values as batch inference does,
    whichever flavour it is (a network, or a baseline that served in its place)."""
    version = registry.champion(paths, kind)
    if version is None:
        return None, None
    import numpy as np

    from training.baseline import read_split
    from training.inference import load_predictor

    try:
        predictor = load_predictor(str(registry.kind_root(paths, kind) / version))
        raw, y = read_split(dataset, "test", "image" if kind == "image" else "text")
        probs = [predictor.probabilities(raw[i:i + 256], **encoding) for i in range(0, len(raw), 256)]
        p = np.concatenate(probs) if probs else np.zeros((0, len(predictor.labels)))
        return version, metrics_by_name(y, p, predictor.labels, labels)
    except Exception as exc:  # noqa: BLE001 (any failure to load or run the old model)
        log.warning("champion %s %s could not be evaluated: %s", kind, version, exc)
        return version, {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}


def below_baseline(candidate: dict, baseline: dict | None, margin: float = 0.0) -> bool:
    """The candidate's test accuracy is below the baseline's plus ``margin`` (at margin 0 a tie is not)."""
    return bool(baseline and "accuracy" in baseline and candidate["accuracy"] < baseline["accuracy"] + margin)


def too_little_evidence(candidate: dict, min_rows: int, min_per_label: int) -> str | None:
    """Why the candidate's test accuracy says too little to replace a champion (few rows, a label with too few
    test rows), or None. Accuracy on 7 rows moves by 0.14 with one row."""
    n = candidate.get("n_test")
    if n is not None and n < min_rows:
        return f"only {n} test rows (train.promotion_min_test_rows = {min_rows})"
    thin = sorted(label for label, c in (candidate.get("per_class") or {}).items()
                  if c.get("support", 0) < min_per_label)
    if thin:
        return (f"{len(thin)} label(s) with fewer than {min_per_label} test rows, e.g. {thin[0]!r} "
                f"(train.promotion_min_test_per_label)")
    return None


def decide(candidate: dict, champion: dict | None, champion_version: str | None, tolerance: float,
           baseline: dict | None = None, policy: str = "off", margin: float = 0.0, min_rows: int = 0,
           min_per_label: int = 0) -> tuple[bool, str]:
    """Promote or not, and why. The baseline rule (``policy`` refuse) comes first: a candidate whose test
    accuracy is below the scikit-learn baseline's plus ``margin`` is never promoted, champion or not (at
    margin 0 a tie passes: both perfect on an easy set, say);
    ``warn`` only says so in the reason. Then the evidence rule: a candidate judged on fewer than
    ``min_rows`` test rows (or with a label under ``min_per_label``) never replaces a champion; with no
    champion it serves, marked provisional. Then the champion rule: not worse than the champion by more
    than ``tolerance``."""
    acc = candidate["accuracy"]
    notes = []
    thin = too_little_evidence(candidate, min_rows, min_per_label)
    if policy != "off" and below_baseline(candidate, baseline, margin):
        said = (f"candidate accuracy {acc:.4f} does not beat the baseline {baseline['name']} "
                f"{baseline['accuracy']:.4f}" + (f" + margin {margin}" if margin else ""))
        if policy == "refuse":
            return False, f"{said}: refused (train.baseline_policy = refuse)"
        notes.append(f"{said} (warn only)")
    if champion is None:
        return True, "; ".join(["no champion yet" + (f" (provisional: {thin})" if thin else ""), *notes])
    if thin:
        return False, "; ".join([f"{thin}: too little evidence to replace champion {champion_version}", *notes])
    if "accuracy" not in champion:
        return True, "; ".join([f"champion {champion_version} could not be evaluated "
                                f"({champion.get('error', 'no metrics')}): replacing it", *notes])
    floor = champion["accuracy"] - tolerance
    if acc >= floor:
        return True, "; ".join([f"candidate accuracy {acc:.4f} >= champion {champion_version} "
                                f"{champion['accuracy']:.4f} - tolerance {tolerance}", *notes])
    return False, "; ".join([f"candidate accuracy {acc:.4f} < champion {champion_version} "
                             f"{champion['accuracy']:.4f} - tolerance {tolerance}: keeping the champion", *notes])


def epoch_steps(rows: int, global_batch: int, min_steps: int) -> int:
    """Steps per epoch of the nightly regime. The readers repeat forever, so an "epoch" is a number of steps:
    one pass over the train split, but at least ``min_steps`` (525 icons in batches of 64 made 9 steps an
    epoch, and early stopping ended the run after 144 steps, underfitted)."""
    return max(1, min_steps, math.ceil(rows / global_batch))


def early_stopping(epochs: int, monitor: str = "val_loss"):
    """The nightly regime's early stopping: patience 5, counted from half the run, the best epoch's weights kept.

    Not sooner: under the cosine schedule the rate is still high in the first half, and the validation loss of
    a hundred-odd held-out pictures jumps by up to 0.9 between epochs there, so an earlier start stops runs
    that would still gain several points (docs/TRAINING.md)."""
    import tf_keras as keras

    return keras.callbacks.EarlyStopping(monitor=monitor, patience=5, restore_best_weights=True,
                                         start_from_epoch=epochs // 2)


def label_weights(labels: list[str], counts: dict[str, int], mode: str) -> list[float]:
    """Loss weight per label for a long-tailed train split: ``balanced`` is n / (k * n_label) (every
    label weighs the same in total), ``sqrt`` its square root (a softer push toward rare labels),
    ``none`` all ones. Labels absent from the split get weight 1."""
    total, k = sum(counts.values()), max(1, len(labels))
    out = []
    for label in labels:
        n = counts.get(label, 0)
        w = total / (k * n) if n and mode != "none" else 1.0
        out.append(float(w ** 0.5 if mode == "sqrt" else w))
    return out


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


@dataclass(frozen=True)
class Gate:
    """The promotion rules (docs/TRAINING.md): the champion rule's tolerance and the baseline rule."""
    tolerance: float = TrainSettings().promotion_tolerance
    baseline_policy: str = TrainSettings().baseline_policy
    baseline_margin: float = TrainSettings().baseline_margin
    serve_baseline: bool = TrainSettings().serve_baseline  # a refused network leaves the baseline to serve
    min_test_rows: int = TrainSettings().promotion_min_test_rows
    min_test_per_label: int = TrainSettings().promotion_min_test_per_label

    @classmethod
    def from_settings(cls, train: TrainSettings) -> "Gate":
        return cls(train.promotion_tolerance, train.baseline_policy, train.baseline_margin, train.serve_baseline,
                   train.promotion_min_test_rows, train.promotion_min_test_per_label)


@dataclass
class Fitted:
    """What training under the strategy leaves for the chief's evaluation, promotion and registration."""
    config: TrainConfig           # the configuration trained: the search's best when there was a search
    model: Any
    metrics: dict                 # the served model's test metrics (and the mix, for two heads)
    history: dict
    epoch_seconds: list[float]
    steps: int
    global_batch: int
    trials: dict | None
    run_key: str
    manifest: dict
    worker: int
    n_workers: int
    gpus: int
    encoding: dict


def epoch_trail(trail: _DebugTrail, seconds: list[float], epochs: int = 0, kind: str = "", chief: bool = True):
    """A callback that times each epoch (into ``seconds``), logs it to the debug trail and, on the chief, prints
    one progress line per epoch (loss, held-out accuracy, elapsed, ETA at the epoch budget; early stopping may
    end sooner): the Airflow task log and the terminal show it while the run goes on."""
    import tf_keras as keras

    started: list[float] = []

    def begin(epoch, logs=None):
        trail.log(f"begin {epoch}")
        started[:] = [time.perf_counter()]

    def end(epoch, logs=None):
        trail.log(f"end {epoch}")
        seconds.append(round(time.perf_counter() - started[0], 3))
        if chief:
            logs = logs or {}
            figures = ", ".join(f"{k} {logs[k]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy")
                                if isinstance(logs.get(k), (int, float)))
            left = max(0, epochs - epoch - 1) * (sum(seconds) / len(seconds))
            print(f"train {kind}: epoch {epoch + 1}/{epochs}: {figures}; {seconds[-1]:.1f} s, elapsed "
                  f"{sum(seconds):.0f} s, ETA <= {left:.0f} s", file=sys.stderr, flush=True)

    return keras.callbacks.LambdaCallback(on_epoch_begin=begin, on_epoch_end=end)


def fit(cfg: TrainConfig, dataset: Path, paths: Paths, dt: str, *, search_trials: int = 0,
        steps_per_epoch: int | None = None, debug_dir: Path | None = None, mixed_precision: bool = False) -> Fitted:
    """Train under ``MultiWorkerMirroredStrategy`` (each worker reads its own shard), then score the test split
    with the model as it will be served. Every worker runs all of it: predicting runs collective ops."""
    import tensorflow as tf
    import tf_keras as keras

    from training.inputs import build_inputs, open_reader
    from training.models import (
        build_image_model,
        build_text_model,
        build_vectorizers,
        compile_model,
        cosine_schedule,
        mirror_averaged,
        per_head,
    )
    from training.search import random_search

    manifest = json.loads((dataset / "manifest.json").read_text())
    labels = manifest["labels"]
    index, n_workers = worker_rank()
    gpus = tf.config.list_physical_devices("GPU")
    if mixed_precision and gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
    tf.keras.utils.set_random_seed(cfg.seed)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    global_batch = cfg.batch_size * n_workers
    steps = steps_per_epoch or epoch_steps(manifest["rows"]["train"], global_batch, cfg.min_steps_per_epoch)
    val_steps = max(1, math.ceil(manifest["rows"]["val"] / global_batch)) if manifest["rows"]["val"] else None
    column = "image" if cfg.kind == "image" else "text"
    fields = ["id", column, "label_index"]
    url = {split: spark_uri(dataset / split) for split in ("train", "val", "test")}  # not %-encoded (petastorm)
    run_key = model_version(dt, manifest, cfg)
    root = registry.kind_root(paths, cfg.kind)
    trail = _DebugTrail(debug_dir, index)
    enc = {"encoding": manifest.get("encoding", "png"), "shape": manifest.get("image_shape")}
    weights = tf.constant(label_weights(labels, manifest["counts"]["train"], cfg.class_weight), tf.float32)
    log.info("training %s %s on dataset %s (%s), worker %d/%d, %d steps/epoch x %d epochs, global batch %d, GPUs %d",
             cfg.kind, run_key, manifest["version"], manifest["rows"], index, n_workers, steps, cfg.epochs,
             global_batch, len(gpus))

    epoch_seconds: list[float] = []
    with open_reader(url["train"], fields, num_epochs=None, shard=index, shard_count=n_workers,
                     seed=cfg.seed, shuffle=True) as train_reader, \
            (open_reader(url["val"], fields, num_epochs=None) if val_steps else contextlib.nullcontext()) as val_reader:
        train_ds = build_inputs(train_reader, cfg.kind, global_batch, shuffle_buffer=cfg.shuffle_buffer,
                                seed=cfg.seed, with_ids=bool(debug_dir), **enc)
        if debug_dir:
            train_ds = trail.tap(train_ds)
        train_ds = train_ds.map(lambda x, y: (x, y, tf.gather(weights, y)))  # per-label loss weights
        val_ds = build_inputs(val_reader, cfg.kind, global_batch, **enc) if val_steps else None
        with strategy.scope():
            if cfg.kind == "image":
                input_shape = tuple(next(iter(train_ds))[0].shape[1:])
            else:
                with open_reader(url["train"], ["text"], num_epochs=1, workers_count=1) as text_reader:
                    vectorizers = build_vectorizers(cfg.text, build_text_only(text_reader))

        def build(c: TrainConfig):
            with strategy.scope():
                model = (build_image_model(c.image, input_shape, len(labels)) if c.kind == "image"
                         else build_text_model(c.text, vectorizers, len(labels)))
                return compile_model(model, cosine_schedule(c.learning_rate, c.epochs * steps))

        def fit_one(model, c: TrainConfig, callbacks: list):
            args = dict(epochs=c.epochs, steps_per_epoch=steps, callbacks=callbacks, verbose=2)
            if val_ds is not None:
                args.update(validation_data=per_head(val_ds, model), validation_steps=val_steps)
            return model.fit(per_head(train_ds, model), **args)

        def stopper():
            return early_stopping(cfg.epochs, "val_loss" if val_steps else "loss")

        trials = None
        if search_trials:
            cfg, trials = random_search(cfg, search_trials, build, fit_one, stopper)
            log.info("search: %d trials, best %s", len(trials["trials"]), trials["best"])
        model = build(cfg)
        callbacks = [
            # Checkpoint each epoch; a relaunched job resumes here. Removed after a successful fit.
            keras.callbacks.BackupAndRestore(str(root / "_backup" / run_key)),
            stopper(),
            keras.callbacks.TensorBoard(str(root / "_tensorboard" / run_key)),
            epoch_trail(trail, epoch_seconds, cfg.epochs, cfg.kind, chief=index == 0),
        ]
        history = fit_one(model, cfg, callbacks)
    trail.finish(model)
    if cfg.kind == "image" and cfg.image.mirrors:
        # trained on mirror images too: each picture is predicted with its mirror and the two averaged
        # (+0.9 points over 4 folds of the icon families, docs/TRAINING.md); before the mix is chosen
        with strategy.scope():
            model = mirror_averaged(model)
    if len(model.outputs) == 2:  # the network's two heads: mix them on validation
        model, metrics = mix_heads(model, strategy, url, cfg.kind, labels, manifest["counts"]["train"], enc,
                                   bool(val_steps))
    else:
        metrics = evaluate(model, labels, url["test"], cfg.kind, labels, manifest["counts"]["train"], enc)
    return Fitted(cfg, model, metrics, {k: [float(v) for v in vals] for k, vals in history.history.items()},
                  epoch_seconds, steps, global_batch, trials, run_key, manifest, index, n_workers, len(gpus), enc)


def train(cfg: TrainConfig, dataset: Path, paths: Paths, dt: str, *, promote: bool = True, gate: Gate = Gate(),
          search_trials: int = 0, steps_per_epoch: int | None = None, debug_dir: Path | None = None,
          mixed_precision: bool = False, saved_model: bool = True) -> Path:
    """Fit on every worker; the chief then evaluates, decides and registers (``register_candidate``)."""
    fitted = fit(cfg, dataset, paths, dt, search_trials=search_trials, steps_per_epoch=steps_per_epoch,
                 debug_dir=debug_dir, mixed_precision=mixed_precision)

    def save(stage: Path) -> None:
        fitted.model.save(stage / "model.keras")  # what scoring loads
        if saved_model:  # TF Serving layout, an export only: tracing it takes ~17 s of a 1-step run on 2 cores
            fitted.model.save(stage / "saved_model", save_format="tf")

    if fitted.worker != 0:
        # Saving runs collective ops too: every worker issues the chief's sequence of saves (or they deadlock),
        # into a folder nobody keeps
        scratch = Path(tempfile.mkdtemp(prefix=f"shardline-worker{fitted.worker}-"))
        save(scratch)
        shutil.rmtree(scratch, ignore_errors=True)
        return registry.kind_root(paths, cfg.kind) / fitted.run_key
    return register_candidate(fitted.config, fitted, save, dataset, paths, dt, promote=promote, gate=gate)


def register_candidate(cfg: TrainConfig, fitted: Fitted, save: Callable[[Path], None], dataset: Path, paths: Paths,
                       dt: str, *, promote: bool, gate: Gate) -> Path:
    """The chief's part after training: the baseline on the same split, the champion rule, registration (a new
    version, never a rewrite), and the baseline's own version when the baseline rule refused the network."""
    from training.baseline import fit_and_score

    manifest, metrics, labels, enc = fitted.manifest, fitted.metrics, fitted.manifest["labels"], fitted.encoding
    root = registry.kind_root(paths, cfg.kind)
    seconds = fitted.epoch_seconds
    metrics["history"] = fitted.history
    metrics["epoch_seconds"] = seconds
    metrics["train_samples_per_second"] = (round(fitted.steps * fitted.global_batch / (sum(seconds) / len(seconds)), 1)
                                           if seconds else None)
    metrics["baseline"], baseline_model = fit_and_score(dataset, cfg.kind, labels, manifest["counts"]["train"], **enc)
    if fitted.trials:
        metrics["search"] = {k: v for k, v in fitted.trials.items() if k != "trials"}
    champ_version, champ = champion_metrics(paths, cfg.kind, dataset, labels, enc)
    promoted, reason = decide(metrics, champ, champ_version, gate.tolerance, metrics["baseline"],
                              gate.baseline_policy, gate.baseline_margin, gate.min_test_rows, gate.min_test_per_label)
    metrics["promotion"] = {"promoted": promoted and promote, "reason": reason if promote else "--no-promote",
                            "champion": champ_version, "champion_metrics": champ, "tolerance": gate.tolerance,
                            "baseline_policy": gate.baseline_policy, "baseline_margin": gate.baseline_margin}
    log.info("test accuracy %.4f macro-F1 %.4f; baseline %s %.4f / %.4f; majority %.4f; %s", metrics["accuracy"],
             metrics["macro_f1"], metrics["baseline"].get("name"), metrics["baseline"].get("accuracy", float("nan")),
             metrics["baseline"].get("macro_f1", float("nan")), metrics["majority_baseline_accuracy"], reason)

    version = new_version(root, fitted.run_key)  # a rerun never rewrites a registered version (nor the champion)
    model_meta = {
        "name": f"{cfg.kind}_classifier", "version": version, "kind": cfg.kind,
        "dataset_version": manifest["version"], "dataset_path": str(dataset), "dt": dt, "workers": fitted.n_workers,
        "code_version": manifest.get("code_version"), "gpus": fitted.gpus,
        "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat()}

    final = register_version(paths, cfg.kind, version, save, model_meta, metrics, labels, cfg.to_dict(),
                             reason if promoted and promote else None, fitted.trials)
    shutil.rmtree(root / "_backup" / fitted.run_key, ignore_errors=True)  # the run finished: nothing to resume
    log.info("registered %s model %s -> %s (champion: %s); report: %s", cfg.kind, version, final,
             registry.champion(paths, cfg.kind), final / "report.html")
    if (promote and not promoted and gate.serve_baseline and gate.baseline_policy == "refuse"
            and baseline_model is not None and below_baseline(metrics, metrics["baseline"], gate.baseline_margin)):
        register_baseline(paths, baseline_model, metrics["baseline"], labels, manifest, dataset, dt,
                          fitted.run_key, (version, reason), (champ_version, champ), gate)
    return final


def register_version(paths: Paths, kind: str, version: str, save_model, meta: dict, metrics: dict,
                     labels: list[str], config: dict, promote_reason: str | None, trials: dict | None = None,
                     note: str = "") -> Path:
    """The one way a model version enters the registry, whatever its flavour: ``save_model(folder)`` writes
    the model's own files into a staging folder, then the confusion matrix, labels, config, metrics, trials,
    model.json and the report join them, and the folder is renamed into place whole (never rewritten after).
    Promoted to champion with ``promote_reason`` when given."""
    from training.evaluate import confusion_png
    from training.report import write_report

    final = registry.kind_root(paths, kind) / version
    stage = staging_dir(final)
    save_model(stage)
    confusion_png(metrics["confusion_matrix"], labels, stage / "confusion_matrix.png",
                  title=f"{kind} {version}{note}: test accuracy {metrics['accuracy']:.3f}")
    write_json_atomic(stage / "labels.json", labels)
    write_json_atomic(stage / "config.json", config)
    write_json_atomic(stage / "metrics.json", metrics)
    if trials:
        write_json_atomic(stage / "search.json", trials)
    write_json_atomic(stage / "model.json", meta)
    write_report(stage / "report.html", meta, metrics, labels, stage / "confusion_matrix.png", trials)
    commit_dir(stage, final)
    if promote_reason is not None:
        registry.promote(paths, kind, version, promote_reason)
    return final


def register_baseline(paths: Paths, model, metrics: dict, labels: list[str], manifest: dict, dataset: Path,
                      dt: str, run_key: str, refused: tuple[str, str], champion: tuple[str | None, dict | None],
                      gate: Gate) -> Path:
    """Register the run's fitted baseline as a version of its own (``flavour: sklearn``) when the
    baseline rule refused the network, and put it through the champion rule: the night then serves
    the better model it has rather than none (a first night) or an older one."""
    kind = model.kind
    root = registry.kind_root(paths, kind)
    version = new_version(root, f"{run_key}-baseline")
    champ_version, champ = champion
    promoted, why = decide(metrics, champ, champ_version, gate.tolerance, min_rows=gate.min_test_rows,
                           min_per_label=gate.min_test_per_label)
    reason = f"network {refused[0]} refused ({refused[1]}); its baseline serves instead: {why}"
    metrics = {**metrics, "refused_network": refused[0],
               "promotion": {"promoted": promoted, "reason": reason, "champion": champ_version,
                             "champion_metrics": champ, "tolerance": gate.tolerance}}
    meta = {"name": model.name, "version": version, "kind": kind, "flavour": "sklearn",
            "dataset_version": manifest["version"], "dataset_path": str(dataset), "dt": dt,
            "code_version": manifest.get("code_version"),
            "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat()}
    final = register_version(paths, kind, version, model.save, meta, metrics, labels,
                             {"baseline": model.name, "temperature": model.temperature,
                              "pipeline": str(model.pipeline)},
                             reason if promoted else None, note=" (baseline)")
    log.info("registered the %s baseline %s as %s (champion: %s): %s", kind, model.name, version,
             registry.champion(paths, kind), reason)
    return final


def build_text_only(reader):
    from petastorm.tf_utils import make_petastorm_dataset

    return make_petastorm_dataset(reader).map(lambda row: row.text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train", description=__doc__.splitlines()[0])
    p.add_argument("--kind", required=True, choices=["image", "text"])
    p.add_argument("--date", required=True, help="run date YYYY-MM-DD")
    p.add_argument("--dataset", default=None, help="published dataset folder (default: the kind's latest)")
    p.add_argument("--epochs", type=int, default=None, help="this kind's epochs (default: train.<kind>_epochs)")
    p.add_argument("--steps-per-epoch", type=int, default=None, help="override the manifest-derived value")
    add_setting_flags(p, "train")
    p.add_argument("--no-promote", action="store_true", help="register the model but leave the champion alone")
    p.add_argument("--mixed-precision", action="store_true", help="float16 compute when a GPU is present")
    p.add_argument("--debug-dir", default=None, help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    section = args.settings.train
    try:
        parse_date(args.date)
        cfg = TrainConfig.from_settings(args.kind, section, epochs=args.epochs)
        gate = Gate.from_settings(section)
        paths = Paths.from_env()
        dataset = resolve_dataset(paths, args.kind, args.dataset)
    except (ShardlineError, ValueError) as exc:
        print(f"error: train: {exc}", file=sys.stderr)
        return 2
    out = train(cfg, dataset, paths, args.date, promote=not args.no_promote, gate=gate,
                search_trials=section.search_trials, steps_per_epoch=args.steps_per_epoch, debug_dir=Path(args.debug_dir) if args.debug_dir else None,
                mixed_precision=args.mixed_precision, saved_model=section.saved_model)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
