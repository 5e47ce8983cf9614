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


def fit_and_score(dataset: Path, kind: str, labels: list[str], train_counts: dict[str, int],
                  encoding: str = "png", shape: list[int] | None = None) -> dict:
    """Fit the kind's baseline on ``dataset``'s train split and score it on its test split."""
    from training.evaluate import classification_metrics

    column = "image" if kind == "image" else "text"
    started = time.perf_counter()
    x_train, y_train = read_split(dataset, "train", column)
    x_test, y_test = read_split(dataset, "test", column)
    if kind == "image":
        x_train, x_test = image_features(x_train, encoding, shape), image_features(x_test, encoding, shape)
        model = image_pipeline()
    else:
        model = text_pipeline()
    if len(set(y_train.tolist())) < 2:
        return {"name": NAMES[kind], "skipped": "fewer than two labels in the train split"}
    model.fit(x_train, y_train)
    fit_seconds = time.perf_counter() - started
    scores = model.decision_function(x_test) if len(y_test) else np.zeros((0, len(labels)))
    scores = _full_width(scores, model.classes_, len(labels), -np.inf)
    probabilities = model.predict_proba(x_test) if hasattr(model, "predict_proba") and len(y_test) else None
    if probabilities is not None:
        probabilities = _full_width(probabilities, model.classes_, len(labels), 0.0)
    out = classification_metrics(y_test, np.argmax(scores, axis=1) if len(y_test) else y_test, labels,
                                 train_counts, scores=scores, probabilities=probabilities)
    return {"name": NAMES[kind], "fit_seconds": round(fit_seconds, 2), **out}


def _full_width(scores: np.ndarray, classes: np.ndarray, n_labels: int, fill: float) -> np.ndarray:
    """Scores over the classes seen in training -> one column per dataset label (``fill`` for the rest)."""
    if scores.ndim == 1:  # a binary decision function: positive means classes[1]
        scores = np.stack([-scores, scores], axis=1)
    full = np.full((scores.shape[0], n_labels), fill)
    full[:, classes] = scores
    return full
