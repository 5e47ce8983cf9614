"""Training that must learn, each file in its own registry: the digits' champion rule, export, mirror and
rollback; the text model against the majority class. A file of its own so that it trains beside
test_training.py's sharding and gate tests (each about 500 s on 2 cores) rather than after them."""
import io
import os
import subprocess
import sys

import pytest

from schemas.warehouse import CLEAN_TEXT
from shardline.sample_corpora import make_image_corpus, make_text_corpus
from spark_jobs.common.flagged import accepted
from spark_jobs.common.warehouse import replace_partitions
from spark_jobs.publish_dataset import ShardConfig, SplitConfig, publish
from spark_jobs.text.clean import TextCleanConfig
from spark_jobs.text.clean import transform as clean_text
from spark_jobs.text.read import read_lines
from spark_jobs.validate_dataset import gate
from tests.helpers import publish_images
from tests.helpers import run_module as run
from training import registry

PY = sys.executable


@pytest.fixture(scope="module")
def slim(tmp_path_factory):
    """One pass per epoch and a two-stage network (16 and 32 filters): the champion rule needs a model
    that learns the digits (0.93 test accuracy after 8 epochs, against 0.98 for the default four stages
    at twice the time); the default architecture's quality is measured in benchmarks/model_quality.py."""
    path = tmp_path_factory.mktemp("cfg") / "slim.toml"
    path.write_text("[train]\nmin_steps_per_epoch = 0\nimage_conv_filters = [16, 32]\n")
    return str(path)


def test_digits_accuracy_gate_and_rollback(spark, home, tmp_path_factory, one_pass, slim):
    corpus = make_image_corpus(tmp_path_factory.mktemp("full") / "images", plant_bad=False)
    folder, manifest = publish_images(spark, home, corpus, "2033-02-01", ShardConfig.for_kind("image"))
    # the champion rule on its own (the baseline rule has its own test): the 8x8 digits' baseline is ~0.99
    good = run(["training.train", "--kind", "image", "--date", "2033-02-01", "--dataset", str(folder),
                "--epochs", "8", "--baseline-policy", "off", "--config", slim], home)
    assert good.returncode == 0, good.stderr[-4000:]
    champion = registry.champion(home, "image")
    metrics = registry.read_model(home, "image", champion)["metrics"]
    assert metrics["accuracy"] >= 0.9 > metrics["majority_baseline_accuracy"]
    assert metrics["n_test"] == manifest["rows"]["test"]
    model_dir = registry.kind_root(home, "image") / champion
    assert (model_dir / "saved_model" / "saved_model.pb").exists()  # the default export (one_pass turns it off)
    assert (model_dir / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the network's two heads (alone, and with its wide branch) were mixed by a weight chosen on validation;
    # the saved model is that mix: scoring the raw test pictures with it gives the accuracy the gate measured
    from training.models import MIX_GRID

    mix = metrics["mix"]
    assert mix["rows"] == manifest["rows"]["val"] and 0 <= mix["deep_weight"] <= 1
    assert mix["accuracy"]["mixed"] >= mix["accuracy"]["joint"] and mix["best_weight"] in MIX_GRID
    assert set(mix["test_accuracy"]) == {"deep", "joint"}

    import numpy as np

    from training.baseline import read_split
    from training.inference import load_predictor

    pictures, truth = read_split(folder, "test", "image")
    predictor = load_predictor(str(model_dir))
    predicted, _, _, _ = predictor.predict(pictures, manifest.get("encoding") or "png", manifest.get("image_shape"))
    assert np.mean(predicted == np.asarray(predictor.labels)[truth]) == pytest.approx(metrics["accuracy"])
    # trained with flips (the default augmentation): a picture and its mirror image score alike
    from PIL import Image

    encoding, shape = manifest.get("encoding") or "png", manifest.get("image_shape")

    def mirrored(value: bytes) -> bytes:
        if encoding == "raw":
            return np.ascontiguousarray(np.frombuffer(value, np.uint8).reshape(shape)[:, ::-1]).tobytes()
        out = io.BytesIO()
        Image.open(io.BytesIO(value)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out, format="PNG")
        return out.getvalue()

    np.testing.assert_allclose(predictor.probabilities([mirrored(p) for p in pictures[:20]], encoding, shape),
                               predictor.probabilities(pictures[:20], encoding, shape), atol=1e-5)

    worse = run(["training.train", "--kind", "image", "--date", "2033-02-01", "--dataset", str(folder),
                 "--epochs", "1", "--steps-per-epoch", "1", "--learning-rate", "1e-6", "--baseline-policy", "off",
                 "--config", one_pass], home)
    assert worse.returncode == 0, worse.stderr[-4000:]
    candidate = next(m["version"] for m in registry.list_models(home, "image")
                     if m["version"] != champion and m["dataset_version"] == manifest["version"])
    promotion = registry.read_model(home, "image", candidate)["metrics"]["promotion"]
    assert promotion["promoted"] is False and "keeping the champion" in promotion["reason"]
    assert registry.champion(home, "image") == champion

    from training.inference import resolve_model_dir

    assert resolve_model_dir(home, "image") == model_dir  # batch inference still scores with the champion
    cli = [str(os.path.join(os.path.dirname(PY), "shardline")), "models"]
    env = {**os.environ, "SHARDLINE_HOME": str(home.home)}
    assert subprocess.run(cli + ["promote", candidate, "--kind", "image"], env=env).returncode == 0
    assert registry.champion(home, "image") == candidate
    assert subprocess.run(cli + ["rollback", "--kind", "image"], env=env).returncode == 0
    assert registry.champion(home, "image") == champion


def test_text_model_beats_majority_baseline(spark, home, tmp_path_factory, one_pass):
    corpus = make_text_corpus(tmp_path_factory.mktemp("t") / "corpus.jsonl", per_class=60, plant_bad=False)
    dt = "2033-03-01"
    flagged = clean_text(read_lines(spark, str(corpus)), TextCleanConfig())
    replace_partitions(spark, accepted(flagged, dt), CLEAN_TEXT, {"dt": dt})
    manifest, _ = publish(spark, "text", dt, SplitConfig(), ShardConfig.for_kind("text"), home)
    gate(home, "text", manifest["version"])
    done = run(["training.train", "--kind", "text", "--date", dt, "--baseline-policy", "warn", "--epochs", "8",
                "--config", one_pass], home)
    assert done.returncode == 0, done.stderr[-4000:]
    metrics = registry.read_model(home, "text", registry.champion(home, "text"))["metrics"]
    assert metrics["accuracy"] > metrics["majority_baseline_accuracy"] + 0.3
