"""Test-split metrics of a trained model: accuracy, macro-F1, per-class precision/recall, confusion."""
from __future__ import annotations

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
