"""The opt-in hyperparameter search (``train.search_trials`` / ``--search-trials`` / DAG param
``search_trials``): a budgeted random search, recorded next to the model (``search.json``).

Each trial samples a configuration around the configured one (learning rate log-uniform in
[0.3x, 3x], dropout, and the model's width), trains it for a third of the configured epochs (at least
2) with early stopping, and is scored by its best validation accuracy (a two-headed image model: its
better head); the test split is never looked at. The best trial's configuration then trains for the
full epochs. Sampling is seeded by ``TrainConfig.seed``, so every worker of a multi-worker run draws the
same trials (they run collective ops together) and a rerun repeats the search.
"""
from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable

from training.config import TrainConfig

log = logging.getLogger("shardline.search")

IMAGE_WIDTHS = ((16, 32, 64), (32, 64, 128), (32, 64, 128, 256))
TEXT_HIDDEN = (128, 256, 512)
DROPOUTS = {"image": (0.1, 0.2, 0.3), "text": (0.2, 0.4, 0.5)}


def sample(cfg: TrainConfig, rng: random.Random) -> TrainConfig:
    lr = min(0.05, cfg.learning_rate * 10 ** rng.uniform(-0.5, 0.5))
    dropout = rng.choice(DROPOUTS[cfg.kind])
    if cfg.kind == "image":
        model = {"image": dataclasses.replace(cfg.image, conv_filters=rng.choice(IMAGE_WIDTHS), dropout=dropout)}
    else:
        model = {"text": dataclasses.replace(cfg.text, hidden_units=rng.choice(TEXT_HIDDEN), dropout=dropout)}
    return dataclasses.replace(cfg, learning_rate=round(lr, 6), **model)


def searched_params(cfg: TrainConfig) -> dict:
    out = {"learning_rate": cfg.learning_rate}
    if cfg.kind == "image":
        out.update(conv_filters=list(cfg.image.conv_filters), dropout=cfg.image.dropout)
    else:
        out.update(hidden_units=cfg.text.hidden_units, dropout=cfg.text.dropout)
    return out


def best_accuracy(history: dict) -> float:
    """The best validation accuracy of any epoch (the training accuracy without a validation split). A
    two-headed image model has one per head (``val_deep_accuracy``, ``val_wide_accuracy``): the better
    one, which the mix chosen on validation matches at least."""
    keys = [k for k in history if k.startswith("val_") and k.endswith("accuracy")] or \
        [k for k in history if k.endswith("accuracy")]
    return float(max((max(history[k]) for k in keys if history[k]), default=0.0))


def random_search(cfg: TrainConfig, n_trials: int, build: Callable, fit: Callable,
                  stopper: Callable) -> tuple[TrainConfig, dict]:
    """-> (the best configuration, with the full epoch count; the record of every trial)."""
    rng = random.Random(cfg.seed)
    trial_epochs = max(2, cfg.epochs // 3)
    candidates = [cfg] + [sample(cfg, rng) for _ in range(n_trials - 1)]  # trial 0: the configured values
    trials, best_i, best_score = [], 0, -1.0
    for i, c in enumerate(candidates):
        c = dataclasses.replace(c, epochs=trial_epochs)
        started = time.perf_counter()
        history = fit(build(c), c, [stopper()]).history
        score = best_accuracy(history)
        trials.append({"trial": i, "params": searched_params(c), "epochs_run": len(history.get("loss", [])),
                       "val_accuracy": round(float(score), 4), "seconds": round(time.perf_counter() - started, 1)})
        log.info("trial %d/%d %s: val accuracy %.4f", i + 1, len(candidates), trials[-1]["params"], score)
        if score > best_score:
            best_i, best_score = i, score
    best = dataclasses.replace(candidates[best_i], epochs=cfg.epochs)
    return best, {"n_trials": len(trials), "trial_epochs": trial_epochs, "metric": "val_accuracy",
                  "best": trials[best_i], "trials": trials}
