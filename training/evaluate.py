"""Test-split metrics of a trained model: accuracy, macro-F1, per-class precision/recall, confusion."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str],
                           train_counts: dict[str, int]) -> dict:
    idx = list(range(len(labels)))
    precision, recall, _, support = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    majority = labels.index(max(train_counts, key=train_counts.get)) if train_counts else 0
    return {
        "n_test": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=idx, average="macro", zero_division=0)),
        "majority_baseline_accuracy": float(np.mean(y_true == majority)) if len(y_true) else 0.0,
        "per_class": {label: {"precision": float(p), "recall": float(r), "support": int(s)}
                      for label, p, r, s in zip(labels, precision, recall, support)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
    }


def confusion_png(matrix: list[list[int]], labels: list[str], path: Path, title: str = "") -> None:
    """Draw the confusion matrix (rows: true, columns: predicted) as a PNG with Pillow."""
    from PIL import Image, ImageDraw

    n = len(labels)
    cell, margin = 40, 110
    size = (margin + n * cell + 20, margin + n * cell + 20)
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    peak = max((max(row) for row in matrix), default=1) or 1
    draw.text((10, 10), title or "confusion matrix (rows: true, columns: predicted)", fill="black")
    for i, label in enumerate(labels):
        draw.text((10, margin + i * cell + cell // 3), label[:14], fill="black")
        draw.text((margin + i * cell + 4, margin - 20), label[:5], fill="black")
        for j in range(n):
            value = matrix[i][j]
            shade = int(255 - 200 * value / peak)
            x0, y0 = margin + j * cell, margin + i * cell
            draw.rectangle([x0, y0, x0 + cell - 2, y0 + cell - 2],
                           fill=(shade, shade, 255) if i != j else (shade, 255, shade))
            draw.text((x0 + 6, y0 + cell // 3), str(value), fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG")
