"""inference_step for batch inference: load a saved model once per process, score raw inputs.

``load_predictor`` caches by model folder, so a Spark Python worker (reused across tasks by default)
loads each model once however many Arrow batches it scores. ``LOAD_COUNT`` records real loads.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import training  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
from spark_jobs.common.config import Paths, ShardlineError
from spark_jobs.common.publish import read_pointer

_CACHE: dict[str, "Predictor"] = {}
_LOCK = threading.Lock()
LOAD_COUNT = 0


@dataclass
class Predictor:
    kind: str
    name: str
    version: str
    labels: list[str]
    model: object

    def predict(self, raw: list) -> tuple[list[str], np.ndarray]:
        """Raw PNG bytes or strings -> (predicted labels, their probabilities)."""
        import tensorflow as tf

        from training.inputs import preprocess

        if not raw:
            return [], np.zeros(0)
        x = preprocess(self.kind, tf.constant(raw, dtype=tf.string))
        probs = np.asarray(self.model(x, training=False))
        best = probs.argmax(axis=1)
        return [self.labels[i] for i in best], probs[np.arange(len(best)), best].astype("float64")


def resolve_model_dir(paths: Paths, kind: str, version: str | None = None) -> Path:
    version = version or read_pointer(paths.models / kind / "champion")
    if version is None:
        raise ShardlineError(f"no champion {kind} model under {paths.models / kind}: train one first")
    path = paths.models / kind / version
    if not (path / "model.keras").exists():
        raise ShardlineError(f"{kind} model {version} not found at {path}")
    return path


def load_predictor(model_dir: str) -> Predictor:
    global LOAD_COUNT
    with _LOCK:
        if model_dir not in _CACHE:
            import tf_keras as keras

            meta = json.loads((Path(model_dir) / "model.json").read_text())
            labels = json.loads((Path(model_dir) / "labels.json").read_text())
            model = keras.models.load_model(str(Path(model_dir) / "model.keras"), compile=False)
            _CACHE[model_dir] = Predictor(meta["kind"], meta["name"], meta["version"], labels, model)
            LOAD_COUNT += 1
        return _CACHE[model_dir]
