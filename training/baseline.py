"""The classic baseline every training run fits beside the network, on the same train split.

- text: TF-IDF of word 1-2-grams and character 2-5-grams (within word boundaries), sublinear term
  frequency, into a linear SVM (one-vs-rest). The recipe that wins most small text-classification
  comparisons; scored on the same test split as the network.
- images: logistic regression on the pixels downscaled to at most 32x32 (RGB or grey as published) and
  the histograms of oriented gradients of the grey levels at 48x48 (HOG: 6x6-pixel cells, 9 unsigned
  orientations, 2x2-cell blocks L2-Hys normalised, as Dalal & Triggs), standardised per feature. Pixels alone fail whenever
  colours vary within a class (0.09 on the glyph benchmark, where HOG gives the linear model shape).

The splits are read straight from the published Parquet files (``pyarrow``), not through petastorm:
a baseline must not depend on the input pipeline it is there to check. ``fit_and_score`` returns the
same metric dictionary as the network's evaluation plus ``name`` and ``fit_seconds``.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BASELINE_SIDE = 32  # pixels per side at most (the reference: logistic regression on 32x32 RGB)
HOG_SIDE = 48       # grey levels at 48x48 in 6x6-pixel cells: 0.37 on the glyph benchmark, 32/4 0.29, 64/8 0.35
HOG_CELL, HOG_BINS = 6, 9  # the defaults of ``hog``, shared with the network's wide branch (models.ClassicFeatures)


def read_split(dataset: Path, split: str, column: str) -> tuple[list, np.ndarray]:
    import pyarrow.dataset as pads

    folder = dataset / split
    if not folder.exists():
        return [], np.array([], dtype=int)
    table = pads.dataset(str(folder), format="parquet").to_table(columns=[column, "label_index"])
    return table.column(column).to_pylist(), np.asarray(table.column("label_index").to_pylist(), dtype=int)


def image_features(values: list, encoding: str = "png", shape: list[int] | None = None,
                   side: int = BASELINE_SIDE) -> np.ndarray:
    """Encoded images -> one row per image: pixel values in [0, 1], downscaled to ``side`` at most, then
    the HOG of their grey levels."""
    from PIL import Image

    rows = []
    for value in values:
        if encoding == "raw":
            h, w, c = shape
            pixels = np.frombuffer(value, dtype=np.uint8).reshape(h, w, c)
            img = Image.fromarray(pixels[:, :, 0] if c == 1 else pixels)
        else:
            img = Image.open(io.BytesIO(value))
            img.load()
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        small = img.resize((min(side, img.width), min(side, img.height)), Image.BILINEAR)
        grey = np.asarray(img.convert("L").resize((HOG_SIDE, HOG_SIDE), Image.BILINEAR), dtype=np.float32) / 255.0
        rows.append(np.concatenate([np.asarray(small, dtype=np.float32).reshape(-1) / 255.0, hog(grey)]))
    return np.stack(rows) if rows else np.zeros((0, 1), dtype=np.float32)


def hog(grey: np.ndarray, cell: int = HOG_CELL, bins: int = HOG_BINS) -> np.ndarray:
    """Histograms of oriented gradients of a 2-D image: unsigned orientation (light-on-dark and
    dark-on-light give the same features), magnitude-weighted, per ``cell`` x ``cell`` pixels; each 2x2
    block of cells L2-normalised, clipped at 0.2 and normalised again (L2-Hys)."""
    gy, gx = np.gradient(grey.astype(np.float32))
    magnitude = np.hypot(gx, gy)
    angle = np.rad2deg(np.arctan2(gy, gx)) % 180.0
    which = np.minimum((angle / (180.0 / bins)).astype(int), bins - 1)
    ch, cw = max(1, grey.shape[0] // cell), max(1, grey.shape[1] // cell)
    h, w = ch * cell, cw * cell
    onehot = np.zeros((h, w, bins), dtype=np.float32)
    np.put_along_axis(onehot, which[:h, :w, None], magnitude[:h, :w, None], axis=2)
    cells = onehot.reshape(ch, cell, cw, cell, bins).sum(axis=(1, 3))
    if ch < 2 or cw < 2:
        return (cells / (np.linalg.norm(cells) + 1e-6)).reshape(-1)
    blocks = np.concatenate([cells[:-1, :-1], cells[1:, :-1], cells[:-1, 1:], cells[1:, 1:]], axis=2)
    blocks /= np.linalg.norm(blocks, axis=2, keepdims=True) + 1e-6
    blocks = np.minimum(blocks, 0.2)
    blocks /= np.linalg.norm(blocks, axis=2, keepdims=True) + 1e-6
    return blocks.reshape(-1)


def text_pipeline():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2,
                            max_features=200_000)
    return make_pipeline(make_union(words, chars), LinearSVC(C=1.0))


def image_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500))


NAMES = {"text": "tfidf_word1-2_char2-5_linear_svm", "image": f"logreg_pixels{BASELINE_SIDE}_hog{HOG_SIDE}"}
FILE = "baseline.joblib"  # a registered baseline version's model (``BaselineModel.save``)


@dataclass
class BaselineModel:
    """A fitted baseline that can serve: raw column values (encoded images or strings) in, probabilities
    over the dataset's ``n_labels`` labels out. The linear SVM has no probabilities of its own: its
    decision values go through a softmax at the ``temperature`` that fits the validation split best
    (1.0 when there is none), which leaves its argmax, and so its accuracy, unchanged."""

    kind: str
    pipeline: object
    n_labels: int
    temperature: float = 1.0

    @property
    def name(self) -> str:
        return NAMES[self.kind]

    def features(self, raw: list, encoding: str = "png", shape: list[int] | None = None):
        return image_features(raw, encoding, shape) if self.kind == "image" else [str(v) for v in raw]

    def scores(self, raw: list, encoding: str = "png", shape: list[int] | None = None) -> np.ndarray:
        """Decision values, one column per dataset label (-inf for labels the train split lacked)."""
        return self.scores_and_probabilities(raw, encoding, shape)[0]

    def probabilities(self, raw: list, encoding: str = "png", shape: list[int] | None = None) -> np.ndarray:
        return self.scores_and_probabilities(raw, encoding, shape)[1]

    def scores_and_probabilities(self, raw: list, encoding: str = "png",
                                 shape: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Both, from one computation of the features (decoding pictures is most of the cost)."""
        if not len(raw):
            return np.zeros((0, self.n_labels)), np.zeros((0, self.n_labels))
        x = self.features(raw, encoding, shape)
        scores = _full_width(self.pipeline.decision_function(x), self.pipeline.classes_, self.n_labels, -np.inf)
        if hasattr(self.pipeline, "predict_proba"):
            return scores, _full_width(self.pipeline.predict_proba(x), self.pipeline.classes_, self.n_labels, 0.0)
        return scores, softmax(scores / self.temperature)

    def fit_temperature(self, raw: list, y: np.ndarray, encoding: str = "png", shape: list[int] | None = None) -> None:
        """The softmax temperature with the lowest log loss on (``raw``, ``y``): the validation split."""
        if hasattr(self.pipeline, "predict_proba") or not len(raw):
            return
        scores = self.scores(raw, encoding, shape)
        known = np.isfinite(scores[np.arange(len(y)), y])  # labels the train split had
        if not known.any():
            return
        scores, y = scores[known], y[known]
        grid = np.logspace(-2, 1, 61)
        losses = [-np.mean(np.log(softmax(scores / t)[np.arange(len(y)), y] + 1e-12)) for t in grid]
        self.temperature = float(grid[int(np.argmin(losses))])

    def save(self, folder: Path) -> None:
        import joblib

        joblib.dump({"kind": self.kind, "pipeline": self.pipeline, "n_labels": self.n_labels,
                     "temperature": self.temperature}, Path(folder) / FILE)

    @classmethod
    def load(cls, folder: Path) -> "BaselineModel":
        """A version this project's trainer registered (``FILE`` is a pickle: load only from the registry)."""
        import joblib

        return cls(**joblib.load(Path(folder) / FILE))


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def fit(dataset: Path, kind: str, n_labels: int, encoding: str = "png",
        shape: list[int] | None = None) -> tuple[BaselineModel | None, float]:
    """The kind's baseline fitted on ``dataset``'s train split (None with fewer than two labels there),
    its temperature on the validation split; and the seconds that took."""
    column = "image" if kind == "image" else "text"
    started = time.perf_counter()
    x_train, y_train = read_split(dataset, "train", column)
    if len(set(y_train.tolist())) < 2:
        return None, time.perf_counter() - started
    pipeline = image_pipeline() if kind == "image" else text_pipeline()
    model = BaselineModel(kind, pipeline, n_labels)
    pipeline.fit(model.features(x_train, encoding, shape), y_train)
    x_val, y_val = read_split(dataset, "val", column)
    model.fit_temperature(x_val, y_val, encoding, shape)
    return model, time.perf_counter() - started


def fit_and_score(dataset: Path, kind: str, labels: list[str], train_counts: dict[str, int],
                  encoding: str = "png", shape: list[int] | None = None) -> tuple[dict, BaselineModel | None]:
    """Fit the kind's baseline on ``dataset``'s train split and score it on its test split: (metrics,
    the fitted model)."""
    from training.evaluate import classification_metrics

    model, fit_seconds = fit(dataset, kind, len(labels), encoding, shape)
    if model is None:
        return {"name": NAMES[kind], "skipped": "fewer than two labels in the train split"}, None
    x_test, y_test = read_split(dataset, "test", "image" if kind == "image" else "text")
    scores, probabilities = model.scores_and_probabilities(x_test, encoding, shape)
    out = classification_metrics(y_test, np.argmax(scores, axis=1) if len(y_test) else y_test, labels,
                                 train_counts, scores=scores, probabilities=probabilities)
    extra = {"temperature": round(model.temperature, 4)} if kind == "text" else {}
    return {"name": NAMES[kind], "fit_seconds": round(fit_seconds, 2), **extra, **out}, model


def _full_width(scores: np.ndarray, classes: np.ndarray, n_labels: int, fill: float) -> np.ndarray:
    """Scores over the classes seen in training -> one column per dataset label (``fill`` for the rest)."""
    if scores.ndim == 1:  # a binary decision function: positive means classes[1]
        scores = np.stack([-scores, scores], axis=1)
    full = np.full((scores.shape[0], n_labels), fill)
    full[:, classes] = scores
    return full
