"""Test-split metrics of a trained model: accuracy, macro-F1, top-k accuracy, expected calibration error,
per-class precision/recall, confusion matrix; and the HTML model report that shows them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

TOP_K = (3, 5)


def top_k_accuracy(y_true: np.ndarray, scores: np.ndarray, k: int) -> float | None:
    """Share of rows whose true label is among the ``k`` highest scores (None when k >= labels)."""
    if not len(y_true) or k >= scores.shape[1]:
        return None
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float(np.mean(np.any(top == y_true[:, None], axis=1)))


def calibration_error(y_true: np.ndarray, probabilities: np.ndarray, bins: int = 15) -> float | None:
    """Expected calibration error: the confidence-weighted gap between the top probability and the
    accuracy, over ``bins`` equal-width confidence bins (0 = perfectly calibrated)."""
    if not len(y_true):
        return None
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(error)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str],
                           train_counts: dict[str, int], scores: np.ndarray | None = None,
                           probabilities: np.ndarray | None = None) -> dict:
    """``scores`` (any monotone per-label score) gives top-k accuracy; ``probabilities`` also gives the
    calibration error."""
    idx = list(range(len(labels)))
    precision, recall, _, support = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    majority = labels.index(max(train_counts, key=train_counts.get)) if train_counts else 0
    ranked = probabilities if probabilities is not None else scores
    return {
        "n_test": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=idx, average="macro", zero_division=0)),
        "majority_baseline_accuracy": float(np.mean(y_true == majority)) if len(y_true) else 0.0,
        **{f"top_{k}_accuracy": top_k_accuracy(y_true, ranked, k) if ranked is not None else None for k in TOP_K},
        "calibration_error": calibration_error(y_true, probabilities) if probabilities is not None else None,
        "per_class": {label: {"precision": float(p), "recall": float(r), "support": int(s)}
                      for label, p, r, s in zip(labels, precision, recall, support)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
    }


def confusion_png(matrix: list[list[int]], labels: list[str], path: Path, title: str = "") -> None:
    """Draw the confusion matrix (rows: true, columns: predicted) as a PNG with Pillow, in its scalable built-in
    font: whole labels (rows at the left, columns written upwards), cells sized so 40 labels stay readable."""
    from PIL import Image, ImageDraw, ImageFont

    n = max(1, len(labels))
    face, small, head = (ImageFont.load_default(size=s) for s in (13, 11, 15))
    cell = max(22, min(44, 1100 // n))
    longest = max((face.getlength(label) for label in labels), default=40)
    left, top = int(longest) + 24, int(longest) + 56
    size = (left + n * cell + 20, top + n * cell + 40)
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    peak = max((max(row) for row in matrix), default=1) or 1
    draw.text((10, 10), title or "confusion matrix", fill="black", font=head)
    draw.text((10, 30), "rows: true label, columns: predicted label", fill=(90, 90, 90), font=small)
    for i, label in enumerate(labels):
        draw.text((left - 8 - face.getlength(label), top + i * cell + (cell - 13) // 2), label, fill="black", font=face)
        column = Image.new("RGBA", (int(face.getlength(label)) + 4, 18), (255, 255, 255, 0))
        ImageDraw.Draw(column).text((0, 0), label, fill="black", font=face)
        column = column.rotate(90, expand=True)
        img.paste(column, (left + i * cell + (cell - 18) // 2, top - 8 - column.height), column)
        for j in range(len(labels)):
            value = matrix[i][j]
            shade = int(255 - 200 * value / peak)
            x0, y0 = left + j * cell, top + i * cell
            draw.rectangle([x0, y0, x0 + cell - 2, y0 + cell - 2],
                           fill=(shade, shade, 255) if i != j else (shade, 255, shade))
            if value:
                text = str(value)
                draw.text((x0 + (cell - 2 - small.getlength(text)) / 2, y0 + (cell - 13) // 2), text,
                          fill="white" if i != j and shade < 110 else "black", font=small)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG")
