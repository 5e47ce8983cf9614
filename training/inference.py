"""inference_step for batch inference: load a saved model once per process, score raw inputs.

``load_predictor`` caches by model folder, so a Spark Python worker (reused across tasks by default)
loads each model once however many Arrow batches it scores. ``LOAD_COUNT`` records real loads in this
process; with ``SHARDLINE_MODEL_LOAD_LOG`` set, each load also appends "<pid> <model dir>" to that file,
so loads in Spark's worker processes can be counted from outside. ``SHARDLINE_TF_THREADS`` caps
TensorFlow's thread pools in a worker (Spark already runs one worker per core).
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import training  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
from shardline.config import Paths, ShardlineError
from shardline.storage import read_pointer

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
    flavour: str = "keras"  # or "sklearn": a baseline registered in place of a refused network
    _graphs: dict = field(default_factory=dict, repr=False)

    def _graph(self, encoding: str, shape: list[int] | None):
        """Preprocessing + model as one traced ``tf.function`` per input encoding: decoding a batch
        eagerly costs ~10x more than the model itself (measured in docs/BENCHMARKS.md)."""
        key = (encoding, tuple(shape or ()))
        if key not in self._graphs:
            import tensorflow as tf

            from training.inputs import preprocess

            model, kind = self.model, self.kind
            self._graphs[key] = tf.function(lambda x: model(preprocess(kind, x, encoding, shape), training=False),
                                            input_signature=[tf.TensorSpec([None], tf.string)])
        return self._graphs[key]

    def probabilities(self, raw: list, encoding: str = "png", shape: list[int] | None = None) -> np.ndarray:
        """Raw image bytes (PNG, or raw pixels of ``shape``) or strings -> class probabilities."""
        import tensorflow as tf

        if not raw:
            return np.zeros((0, len(self.labels)), dtype="float32")
        if self.flavour == "sklearn":
            return self.model.probabilities(raw, encoding, shape).astype("float32")
        return np.asarray(self._graph(encoding, shape)(tf.constant(raw, dtype=tf.string)))

    def predict(self, raw: list, encoding: str = "png", shape: list[int] | None = None,
                top_k: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """-> (predicted labels, their probabilities, the ``top_k`` labels and their probabilities per
        row, best first), all NumPy arrays."""
        probs = self.probabilities(raw, encoding, shape)
        k = max(1, min(top_k, len(self.labels)))
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        top_p = np.take_along_axis(probs, order, axis=1).astype("float64")
        names = np.asarray(self.labels, dtype=object)
        return names[order[:, 0]], top_p[:, 0].copy(), names[order], top_p


def resolve_model_dir(paths: Paths, kind: str, version: str | None = None) -> Path:
    version = version or read_pointer(paths.models / kind / "champion")
    if version is None:
        raise ShardlineError(no_champion_message(paths, kind))
    path = paths.models / kind / version
    if not (path / "model.json").exists():
        raise ShardlineError(f"{kind} model {version} not found at {path}")
    return path


def no_champion_message(paths: Paths, kind: str) -> str:
    """Why there is nothing to score with: never trained, or every version refused by the gate (and why
    the newest was)."""
    from training import registry

    models = registry.list_models(paths, kind)
    if not models:
        return f"no champion {kind} model under {paths.models / kind}: train one first"
    newest = models[-1]["version"]
    reason = (registry.read_model(paths, kind, newest)["metrics"].get("promotion") or {}).get("reason", "unknown")
    return (f"no champion {kind} model: none of the {len(models)} registered versions was promoted; the newest, "
            f"{newest}: {reason} (see `shardline models show --kind {kind} {newest}`; "
            f"train.baseline_policy = warn promotes it anyway)")


def load_predictor(model_dir: str) -> Predictor:
    global LOAD_COUNT
    with _LOCK:
        if model_dir not in _CACHE:
            threads = os.environ.get("SHARDLINE_TF_THREADS")
            if threads:
                import tensorflow as tf

                try:
                    tf.config.threading.set_intra_op_parallelism_threads(int(threads))
                    tf.config.threading.set_inter_op_parallelism_threads(int(threads))
                except RuntimeError:  # TensorFlow already started in this process: keep its pools
                    pass
            meta = json.loads((Path(model_dir) / "model.json").read_text())
            labels = json.loads((Path(model_dir) / "labels.json").read_text())
            flavour = meta.get("flavour", "keras")
            if flavour == "sklearn":
                from training.baseline import BaselineModel

                model = BaselineModel.load(Path(model_dir))
            else:
                from training.models import load_model

                model = load_model(Path(model_dir))
            _CACHE[model_dir] = Predictor(meta["kind"], meta["name"], meta["version"], labels, model, flavour)
            LOAD_COUNT += 1
            if os.environ.get("SHARDLINE_MODEL_LOAD_LOG"):
                with open(os.environ["SHARDLINE_MODEL_LOAD_LOG"], "a") as f:
                    f.write(f"{os.getpid()} {model_dir}\n")
        return _CACHE[model_dir]
