"""Text models against the baseline by k-fold cross-validation on labeled JSONL corpora (issue 17).

A nightly text test split of a hundred-odd pages moves by a point or more per page; this pools a corpus
(``{"id", "text", "label"}`` per line, the pipeline's input format), deals it into ``--folds`` stratified
folds and, for each fold, trains every variant on the other folds (a tenth of them held out for early
stopping) with the nightly regime of ``training/train.py`` (the text defaults: 15 epochs of at least 50 steps
of 64, Adam with cosine decay, ``sqrt`` label weights, early stopping on the validation loss from half the
run) and scores it on the fold. Variants:

- ``svm``: the baseline of every training run (``training/baseline.py``: TF-IDF of word 1-2-grams and
  character 2-5-grams into a linear SVM);
- ``net``: the nightly text network (``training/models.build_text_model``: TF-IDF of word 1-2-grams and
  character 3-5-grams learned from the train split, into an MLP);
- ``net-unweighted``: the same without label weights (``train.class_weight = "none"``);
- ``net-x3``: the mean of the probabilities of three networks trained with seeds 42, 43 and 44;
- ``idf-all``: the SVM with its vocabulary and document frequencies from the train *and* test texts
  (semi-supervised use of the unlabeled texts to be scored);
- ``self-train``: the SVM refitted twice with the test texts it is most sure of (the half of largest top-two
  margin), labeled by itself.

    python benchmarks/text_cv.py [CORPUS.jsonl ...] [--variants svm,net] [--folds 3] [--max-folds N]

Without corpora it builds three from real material on this machine into a temporary folder, as
``benchmarks/training_corpora.py`` and ``benchmarks/real_corpora.py`` do: the Python docstrings (40 modules),
the Debian package descriptions (40 archive sections; needs apt lists) and the man pages (by section).
About 40 minutes on 2 cores with the default variants. Writes docs/BENCHMARKS.md ("Text models, cross-validated").
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import update_section  # noqa: E402

MIN_PER_LABEL = 10  # labels with fewer records cannot be dealt into 3 folds and a held-out tenth


def real_corpora(folder: Path) -> list[Path]:
    """The three real corpora of the module docstring, written into ``folder`` (those this machine has)."""
    from benchmarks.real_corpora import MAN
    from benchmarks.real_corpora import build_text as build_manpages
    from benchmarks.training_corpora import build_debian, build_text

    out = [folder / "docstrings.jsonl", folder / "debian_descriptions.jsonl", folder / "manpages.jsonl"]
    build_text(out[0], 40)
    if not build_debian(out[1]):
        print("no apt lists (apt-get update first): the Debian descriptions are left out", flush=True)
    if MAN.is_dir():
        build_manpages(out[2], 200)
    return [path for path in out if path.exists() and path.stat().st_size]


def load(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    texts, names = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            texts.append(str(record["text"]))
            names.append(str(record["label"]))
    kept, counts = np.unique(names, return_counts=True)
    labels = sorted(str(k) for k, n in zip(kept, counts) if n >= MIN_PER_LABEL)
    index = {label: i for i, label in enumerate(labels)}
    keep = [i for i, n in enumerate(names) if n in index]
    return (np.asarray([texts[i] for i in keep], dtype=object), np.asarray([index[names[i]] for i in keep]), labels)


def train_network(x_train, y_train, x_val, y_val, labels: list[str], seed: int = 42, class_weight: str | None = None):
    """The nightly text regime on texts in memory -> (model, epochs run)."""
    import tensorflow as tf

    from training.config import TrainConfig
    from training.models import build_text_model, build_vectorizers, compile_model, cosine_schedule
    from training.train import early_stopping, epoch_steps, label_weights

    regime = TrainConfig.for_kind("text")
    tf.keras.utils.set_random_seed(seed)
    counts = {labels[i]: int(n) for i, n in zip(*np.unique(y_train, return_counts=True))}
    weights = tf.constant(label_weights(labels, counts, class_weight or regime.class_weight), tf.float32)
    steps = epoch_steps(len(x_train), regime.batch_size, regime.min_steps_per_epoch)
    x_train, x_val = tf.constant(list(x_train)), tf.constant(list(x_val))
    vectorizers = build_vectorizers(regime.text, tf.data.Dataset.from_tensor_slices(x_train).batch(256))
    model = compile_model(build_text_model(regime.text, vectorizers, len(labels)),
                          cosine_schedule(regime.learning_rate, regime.epochs * steps))
    data = (tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(1024, seed=seed).repeat()
            .batch(regime.batch_size).map(lambda x, y: (x, y, tf.gather(weights, y))))
    val = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(256)
    history = model.fit(data, epochs=regime.epochs, steps_per_epoch=steps, validation_data=val,
                        callbacks=[early_stopping(regime.epochs)], verbose=0)
    return model, len(history.history["loss"])


def svm_features(fit_on: list[str]):
    """The baseline's own two vectorizers (``training/baseline.text_pipeline``), fitted on ``fit_on``."""
    from training.baseline import text_pipeline

    return text_pipeline()[0].fit(fit_on)


def predict(variant: str, x_train, y_train, x_val, y_val, x_test, labels: list[str]) -> tuple[np.ndarray, int]:
    """The fold's predicted label indices and the epochs run (0 for the scikit-learn variants)."""
    import tensorflow as tf
    from scipy import sparse
    from sklearn.svm import LinearSVC

    from training.baseline import text_pipeline

    fit = np.concatenate([x_train, x_val])  # the scikit-learn variants have no use for a held-out tenth
    y_fit = np.concatenate([y_train, y_val])
    if variant == "svm":
        return text_pipeline().fit(list(fit), y_fit).predict(list(x_test)), 0
    if variant == "idf-all":
        union = svm_features(list(fit) + list(x_test))
        return LinearSVC(C=1.0).fit(union.transform(list(fit)), y_fit).predict(union.transform(list(x_test))), 0
    if variant == "self-train":
        union = svm_features(list(fit))
        a, b = union.transform(list(fit)), union.transform(list(x_test))
        clf = LinearSVC(C=1.0).fit(a, y_fit)
        for _ in range(2):
            decision = clf.decision_function(b)
            top_two = np.sort(decision, axis=1)[:, -2:]
            sure = top_two[:, 1] - top_two[:, 0] >= np.quantile(top_two[:, 1] - top_two[:, 0], 0.5)
            labeled = clf.classes_[np.argmax(decision, axis=1)]  # what clf.predict(b) returns
            clf = LinearSVC(C=1.0).fit(sparse.vstack([a, b[sure]]), np.concatenate([y_fit, labeled[sure]]))
        return clf.predict(b), 0
    seeds = (42, 43, 44) if variant == "net-x3" else (42,)
    weighting = "none" if variant == "net-unweighted" else None
    probabilities, epochs = 0.0, 0
    for seed in seeds:
        model, epochs = train_network(x_train, y_train, x_val, y_val, labels, seed, weighting)
        probabilities = probabilities + model.predict(tf.constant(list(x_test)), verbose=0)
    return np.argmax(probabilities, axis=1), epochs


def main() -> int:
    from sklearn.model_selection import StratifiedKFold, train_test_split

    import training  # noqa: F401  (tf-keras before TensorFlow loads)

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpora", type=Path, nargs="*", help="JSONL files (default: real_corpora())")
    p.add_argument("--variants", default="svm,net")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--max-folds", type=int, default=None, help="stop after this many folds (time)")
    args = p.parse_args()
    variants = args.variants.split(",")
    known = {"svm", "net", "net-unweighted", "net-x3", "idf-all", "self-train"}
    if set(variants) - known or "svm" not in variants:
        raise SystemExit(f"error: --variants takes svm (always) and any of {sorted(known - {'svm'})}")
    lines = ["| corpus | records, labels (largest..smallest) | variant | mean accuracy | per fold | points over "
             "the SVM (mean, min..max) | epochs | seconds per fold |", "|---|---|---|---:|---|---|---|---:|"]
    scratch = tempfile.TemporaryDirectory(prefix="text-cv-")
    for corpus in args.corpora or real_corpora(Path(scratch.name)):
        x, y, labels = load(corpus)
        counts = np.bincount(y)
        scores: dict[str, list[float]] = {v: [] for v in variants}
        seconds: dict[str, list[float]] = {v: [] for v in variants}
        epochs: dict[str, list[int]] = {v: [] for v in variants}
        folds = StratifiedKFold(args.folds, shuffle=True, random_state=0).split(x, y)
        for fold, (train, test) in enumerate(folds):
            if args.max_folds is not None and fold >= args.max_folds:
                break
            train, val = train_test_split(train, test_size=0.1, random_state=fold, stratify=y[train])
            for v in variants:
                started = time.perf_counter()
                predicted, ran = predict(v, x[train], y[train], x[val], y[val], x[test], labels)
                scores[v].append(float(np.mean(predicted == y[test])))
                seconds[v].append(time.perf_counter() - started)
                epochs[v].append(ran)
                print(f"{corpus.stem} fold {fold} {v}: accuracy {scores[v][-1]:.4f} ({ran} epochs, "
                      f"{seconds[v][-1]:.0f} s)", flush=True)
        base = np.asarray(scores["svm"])
        for v in variants:
            s = np.asarray(scores[v])
            gain = "" if v == "svm" else \
                f"**{100 * np.mean(s - base):+.1f}** ({100 * np.min(s - base):+.1f}..{100 * np.max(s - base):+.1f})"
            lines.append(f"| {corpus.stem} | {len(y)}, {len(labels)} ({counts.max()}..{counts.min()}) | {v} | "
                         f"{np.mean(s):.3f} | {' '.join(f'{a:.3f}' for a in s)} | {gain} | "
                         f"{' '.join(str(e) for e in epochs[v]) if any(epochs[v]) else ''} | {np.mean(seconds[v]):.0f} |")
            print(lines[-1], flush=True)
    update_section("Text models, cross-validated", "\n".join([
        f"`benchmarks/text_cv.py`: each corpus pooled and dealt into {args.folds} stratified folds (labels with at "
        f"least {MIN_PER_LABEL} records){f'; the first {args.max_folds} run' if args.max_folds else ''}; each variant trained on the other folds and scored on the fold. `svm` is "
        "the baseline of every training run, `net` the nightly text network in the nightly regime (a tenth of the "
        "training folds held out for early stopping; the scikit-learn variants fit on all of them), "
        "`net-unweighted` the same without label weights, `net-x3` three seeds' networks averaged, `idf-all` the "
        "SVM with vocabulary and IDF from the train and test texts, `self-train` the SVM refitted on the test "
        "texts it is surest of. See the module docstring.", "", *lines]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
