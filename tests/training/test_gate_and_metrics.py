"""The promotion rules, the long-tail loss weights and the metrics a person reads (no training here;
the real-run checks are in test_training.py)."""
import numpy as np
import pytest

from training.evaluate import calibration_error, classification_metrics, top_k_accuracy
from training.report import render
from training.train import decide, label_weights

BASE = {"name": "tfidf", "accuracy": 0.80}


def test_a_candidate_that_does_not_beat_the_baseline_is_refused_even_without_champion():
    ok, why = decide({"accuracy": 0.79}, None, None, 0.01, BASE, "refuse")
    assert not ok and "does not beat the baseline tfidf 0.8000: refused" in why
    assert decide({"accuracy": 0.80}, None, None, 0.01, BASE, "refuse")[0]  # a tie passes at margin 0
    ok, why = decide({"accuracy": 0.83}, None, None, 0.01, BASE, "refuse", margin=0.05)
    assert not ok and "+ margin 0.05" in why
    ok, why = decide({"accuracy": 0.81}, None, None, 0.01, BASE, "refuse")
    assert ok and why == "no champion yet"


def test_warn_and_off_leave_the_decision_to_the_champion_rule():
    ok, why = decide({"accuracy": 0.5}, None, None, 0.01, BASE, "warn")
    assert ok and "warn only" in why
    ok, why = decide({"accuracy": 0.5}, {"accuracy": 0.9}, "v1", 0.01, BASE, "warn")
    assert not ok and "keeping the champion" in why and "warn only" in why
    ok, why = decide({"accuracy": 0.5}, None, None, 0.01, BASE, "off")
    assert ok and "baseline" not in why
    # a baseline that could not be fitted (one label) does not block
    assert decide({"accuracy": 0.5}, None, None, 0.01, {"name": "x", "skipped": "one label"}, "refuse")[0]


def test_beating_the_baseline_still_needs_to_hold_against_the_champion():
    ok, why = decide({"accuracy": 0.85}, {"accuracy": 0.90}, "v1", 0.01, BASE, "refuse")
    assert not ok and "keeping the champion" in why


def test_label_weights_for_long_tails():
    labels = ["big", "small", "absent"]
    counts = {"big": 90, "small": 10}
    assert label_weights(labels, counts, "none") == [1.0, 1.0, 1.0]
    balanced = label_weights(labels, counts, "balanced")
    assert balanced[0] * 90 == pytest.approx(balanced[1] * 10)  # each label weighs the same in total
    assert balanced[2] == 1.0
    soft = label_weights(labels, counts, "sqrt")
    assert soft == pytest.approx([balanced[0] ** 0.5, balanced[1] ** 0.5, 1.0])


def test_top_k_and_calibration_error():
    y = np.array([0, 1, 2, 3])
    scores = np.array([[0.7, 0.2, 0.1, 0.0], [0.5, 0.4, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    assert top_k_accuracy(y, scores, 1) == 0.25
    assert top_k_accuracy(y, scores, 2) == 0.75
    assert top_k_accuracy(y, scores, 3) == 0.75
    assert top_k_accuracy(y, scores, 4) is None  # k >= labels says nothing
    sure_and_right = np.eye(4)
    assert calibration_error(y, sure_and_right) == 0.0
    sure_and_wrong = np.roll(np.eye(4), 1, axis=1)
    assert calibration_error(y, sure_and_wrong) == pytest.approx(1.0)
    # 60% confident and right 1 time in 2 -> gap 0.1
    half = np.array([[0.6, 0.4], [0.4, 0.6]])
    assert calibration_error(np.array([0, 0]), half) == pytest.approx(0.1)


def test_metrics_and_report_show_the_baseline_side_by_side():
    labels = ["a", "b", "c"]
    y, p = np.array([0, 1, 2, 2]), np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.1, 0.4]])
    m = classification_metrics(y, p.argmax(1), labels, {"a": 5, "b": 3, "c": 9}, probabilities=p)
    assert m["accuracy"] == 0.75 and m["top_3_accuracy"] is None and m["calibration_error"] is not None
    m["baseline"] = {"name": "logreg_pixels32_hog48", "accuracy": 0.5, "macro_f1": 0.4, "per_class": {}}
    m["promotion"] = {"promoted": False, "reason": "candidate accuracy 0.75 does not beat <b>", "champion": None}
    page = render({"kind": "image", "version": "v<1>", "dataset_version": "d", "dt": "2025-01-01"}, m, labels,
                  b"\x89PNG fake", None)
    assert "logreg_pixels32_hog48" in page and "0.7500" in page and "0.5000" in page
    assert "<b>" not in page.split("</b>", 1)[1]  # the reason and version are escaped
    assert "v&lt;1&gt;" in page and "data:image/png;base64," in page
    assert "Mix:" not in page and "<svg" not in page  # no history: no curves
    m["history"] = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8], "val_accuracy": [0.4, 0.7]}
    page = render({"kind": "image", "version": "v1", "dataset_version": "d", "dt": "2025-01-01"}, m, labels,
                  b"\x89PNG fake", None)
    assert page.count("<svg") == 1 and "loss by epoch" in page and "accuracy by epoch" in page  # a plot
    m["mix"] = {"deep_weight": 0.35, "rows": 40, "accuracy": {"deep": 0.5, "joint": 0.6, "mixed": 0.7},
                "test_accuracy": {"deep": 0.55, "joint": 0.65}}
    page = render({"kind": "image", "version": "v", "dataset_version": "d", "dt": "2025-01-01"}, m, labels, None, None)
    assert "Mix: weight 0.35 on the network alone, 0.65 on the network with its wide branch" in page
    assert "40 validation rows" in page and "mix 0.7000" in page
    assert "the test split the network alone 0.5500, with the wide branch 0.6500" in page
    assert "significantly" not in page
    m["mix"].update(deep_weight=0.0, best_weight=0.4, p_value=0.25)
    page = render({"kind": "image", "version": "v", "dataset_version": "d", "dt": "2025-01-01"}, m, labels, None, None)
    assert "weight 0.00 on the network alone, 1.00 on the network with its wide branch" in page
    assert "the best weight there, 0.40, was not right on significantly more rows than the joint head (sign test p 0.25)" in page


def test_a_champion_that_cannot_be_evaluated_is_replaced():
    ok, why = decide({"accuracy": 0.9}, {"error": "ValueError: bad file"}, "v1", 0.01, BASE, "refuse")
    assert ok and "champion v1 could not be evaluated (ValueError: bad file): replacing it" in why
    assert not decide({"accuracy": 0.5}, {"error": "x"}, "v1", 0.01, BASE, "refuse")[0]  # the baseline rule first


def test_scoring_without_a_champion_says_why(tmp_path):
    """Batch inference's one line when every registered version was refused names the newest one's reason."""
    import json

    from shardline.config import Paths, ShardlineError
    from training.inference import resolve_model_dir

    paths = Paths(tmp_path)
    with pytest.raises(ShardlineError, match="no champion text model under .*: train one first"):
        resolve_model_dir(paths, "text")
    folder = paths.models / "text" / "v1"
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"name": "text_classifier", "saved_at": "2026-01-01"}))
    (folder / "metrics.json").write_text(json.dumps({"promotion": {"reason": "does not beat the baseline x"}}))
    with pytest.raises(ShardlineError, match="none of the 1 registered versions was promoted; the newest, v1: "
                                             "does not beat the baseline x"):
        resolve_model_dir(paths, "text")


def test_a_few_test_rows_never_replace_a_champion():
    """#43: a model was promoted on 7 test rows. Too little evidence never replaces a champion; with none yet the
    candidate serves (something must), marked provisional in the reason the report shows."""
    small = {"accuracy": 0.95, "n_test": 7, "per_class": {"a": {"support": 4}, "b": {"support": 3}}}
    ok, why = decide(small, {"accuracy": 0.90}, "v1", 0.01, min_rows=30, min_per_label=1)
    assert not ok and why.startswith("only 7 test rows (train.promotion_min_test_rows = 30)")
    assert "replace champion v1" in why
    ok, why = decide(small, None, None, 0.01, min_rows=30, min_per_label=1)
    assert ok and why == "no champion yet (provisional: only 7 test rows (train.promotion_min_test_rows = 30))"
    enough = {"accuracy": 0.95, "n_test": 40, "per_class": {"a": {"support": 40}, "b": {"support": 0}}}
    ok, why = decide(enough, {"accuracy": 0.90}, "v1", 0.01, min_rows=30, min_per_label=1)
    assert not ok and "1 label(s) with fewer than 1 test rows, e.g. 'b'" in why
    enough["per_class"]["b"]["support"] = 2
    assert decide(enough, {"accuracy": 0.90}, "v1", 0.01, min_rows=30, min_per_label=1)[0]
