"""Training on real published datasets, with real worker processes (training.launch / training.train)."""
import io
import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from schemas.warehouse import CLEAN_IMAGES, CLEAN_TEXT
from shardline.config import Paths
from shardline.sample_corpora import make_image_corpus, make_text_corpus
from spark_jobs.common.files import read_files
from spark_jobs.common.flagged import accepted
from spark_jobs.common.warehouse import replace_partitions
from spark_jobs.imaging.clean import ImageCleanConfig
from spark_jobs.imaging.clean import transform as clean_images
from spark_jobs.publish_dataset import ShardConfig, SplitConfig, publish
from spark_jobs.text.clean import TextCleanConfig
from spark_jobs.text.clean import transform as clean_text
from spark_jobs.text.read import read_lines
from spark_jobs.validate_dataset import gate
from training import registry
from training.config import TrainConfig

pytestmark = pytest.mark.slow  # spark-submit, Airflow, training or servers: `make test`, not `make test-fast`

PY = sys.executable


def publish_images(spark, paths, corpus, dt, shards):
    cfg = ImageCleanConfig(root_uri=corpus.as_uri().replace("file:///", "file:/"))
    flagged = clean_images(read_files(spark, str(corpus)), cfg, near=None)  # training, not dedup, is tested here
    replace_partitions(spark, accepted(flagged, dt), CLEAN_IMAGES, {"dt": dt})
    manifest, _ = publish(spark, "image", dt, SplitConfig(), shards, paths)
    gate(paths, "image", manifest["version"])
    return paths.datasets / "image" / manifest["version"], manifest


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return Paths(tmp_path_factory.mktemp("train-home"))


@pytest.fixture(scope="module")
def uneven(spark, home, tmp_path_factory):
    """300 digits in a train split of a few (about 3) row groups: 2 workers get uneven shards."""
    corpus = make_image_corpus(tmp_path_factory.mktemp("c") / "images", per_class=30, plant_bad=False)
    return publish_images(spark, home, corpus, "2033-01-01", ShardConfig(1, 1, max_workers=1, row_groups_per_worker=3))


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory):
    """A configuration whose epoch is one pass over the train split (min_steps_per_epoch 0): the sharding
    and gate tests count epochs and steps, not accuracy on a bigger budget. No SavedModel export (about
    17 s of tracing per run on 2 cores): the digits test checks the export, with ``slim``."""
    path = tmp_path_factory.mktemp("cfg") / "one-pass.toml"
    path.write_text("[train]\nmin_steps_per_epoch = 0\nsaved_model = false\n")
    return str(path)


@pytest.fixture(scope="module")
def slim(tmp_path_factory):
    """One pass per epoch and a two-stage network (16 and 32 filters): the champion rule needs a model
    that learns the digits (0.93 test accuracy after 8 epochs, against 0.98 for the default four stages
    at twice the time); the default architecture's quality is measured in benchmarks/model_quality.py."""
    path = tmp_path_factory.mktemp("cfg") / "slim.toml"
    path.write_text("[train]\nmin_steps_per_epoch = 0\nimage_conv_filters = [16, 32]\n")
    return str(path)


def run(args, home, timeout=600, **kw):
    env = {**os.environ, "SHARDLINE_HOME": str(home.home)}
    return subprocess.run([PY, "-m", *args], env=env, capture_output=True, text=True, timeout=timeout, **kw)


def test_config_errors_name_the_value():
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        TrainConfig(kind="image", epochs=0)
    with pytest.raises(ValueError, match="kind must be 'image' or 'text', got 'audio'"):
        TrainConfig(kind="audio")


def test_two_workers_read_disjoint_shards_and_agree_on_weights(uneven, home, tmp_path, one_pass):
    folder, manifest = uneven
    groups = [pq.ParquetFile(f).metadata.row_group(i).num_rows for f in sorted((folder / "train").glob("*.parquet"))
              for i in range(pq.ParquetFile(f).metadata.num_row_groups)]
    # petastorm deals row groups round-robin: the two workers' shards differ a lot in size
    shard_rows = sorted([sum(groups[0::2]), sum(groups[1::2])])
    assert shard_rows[1] >= 1.3 * shard_rows[0], groups
    debug = tmp_path / "debug"
    done = run(["training.launch", "--workers", "2", "--max-restarts", "0", "--", "--kind", "image", "--date",
                "2033-01-01", "--dataset", str(folder), "--epochs", "2", "--debug-dir", str(debug), "--no-promote",
                "--config", one_pass], home)
    assert done.returncode == 0, done.stderr[-4000:]
    ids = [set(json.loads((debug / f"ids_worker{i}.json").read_text())) for i in (0, 1)]
    train_ids = set(pq.read_table(folder / "train", columns=["id"]).column("id").to_pylist())
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    assert ids[0] | ids[1] <= train_ids
    epochs = [(debug / f"epochs_worker{i}.log").read_text().split()[2:] for i in (0, 1)]
    assert epochs[0] == epochs[1] == ["begin", "0", "end", "0", "begin", "1", "end", "1"]  # same steps, no stall

    import numpy as np

    w0, w1 = np.load(debug / "weights_worker0.npz"), np.load(debug / "weights_worker1.npz")
    assert w0.files == w1.files
    for k in w0.files:
        np.testing.assert_allclose(w0[k], w1[k], rtol=1e-5, atol=1e-6)


@pytest.mark.fault_injection
def test_killed_worker_is_relaunched_and_resumes_from_checkpoint(uneven, home, tmp_path):
    folder, _ = uneven
    debug = tmp_path / "debug"
    env = {**os.environ, "SHARDLINE_HOME": str(home.home)}
    proc = subprocess.Popen([PY, "-m", "training.launch", "--workers", "2", "--max-restarts", "1", "--", "--kind",
                             "image", "--date", "2033-01-02", "--dataset", str(folder), "--epochs", "3",
                             "--steps-per-epoch", "40", "--debug-dir", str(debug), "--no-promote"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log1 = debug / "epochs_worker1.log"
    deadline = time.time() + 300
    while time.time() < deadline and not (log1.exists() and "end 0" in log1.read_text()):
        time.sleep(0.1)
    assert log1.exists() and "end 0" in log1.read_text(), "worker 1 never finished an epoch"
    os.kill(int((debug / "worker1.pid").read_text()), signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-4000:]
    attempts = [a.split() for a in (debug / "epochs_worker0.log").read_text().split("start ")[1:]]
    assert len(attempts) == 2, attempts
    first_epoch_after_restart = int(attempts[1][attempts[1].index("begin") + 1])
    assert first_epoch_after_restart >= 1  # resumed from the checkpoint, not from epoch 0
    assert attempts[1][-2:] == ["end", "2"]


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


@pytest.mark.fault_injection
def test_sigkill_while_saving_leaves_the_registry_and_champion_as_they_were(uneven, home):
    """#19: a training run SIGKILLed while it writes its model (staging folder half full): no version
    appears, the champion and its files are untouched, and the next run registers normally."""
    folder, _ = uneven
    args = ["training.train", "--kind", "image", "--date", "2033-01-09", "--dataset", str(folder),
            "--epochs", "1", "--steps-per-epoch", "3", "--baseline-policy", "off"]  # a champion, whatever ran before
    first = run(args, home)
    assert first.returncode == 0, first.stderr[-4000:]
    champion = registry.champion(home, "image")
    before = {m["version"] for m in registry.list_models(home, "image")}
    champion_files = {p: p.stat().st_mtime_ns for p in (registry.kind_root(home, "image") / champion).rglob("*")}
    staging = registry.kind_root(home, "image") / "_staging"
    old = set(staging.iterdir()) if staging.exists() else set()
    proc = subprocess.Popen([PY, "-m", *args], env={**os.environ, "SHARDLINE_HOME": str(home.home)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    killed_in = None
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        new = [d for d in (set(staging.iterdir()) if staging.exists() else set()) - old if any(d.iterdir())]
        if new:
            os.killpg(proc.pid, signal.SIGKILL)  # mid-save: the model files are being written
            killed_in = new[0]
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert killed_in is not None, "the run ended before it began saving"
    assert proc.returncode == -signal.SIGKILL
    assert {m["version"] for m in registry.list_models(home, "image")} == before
    assert registry.champion(home, "image") == champion
    assert {p: p.stat().st_mtime_ns for p in (registry.kind_root(home, "image") / champion).rglob("*")} == champion_files
    again = run(args, home)
    assert again.returncode == 0, again.stderr[-4000:]
    after = {m["version"] for m in registry.list_models(home, "image")}
    assert before < after and len(after) == len(before) + 1


def test_gate_refuses_a_candidate_that_does_not_beat_the_baseline(uneven, tmp_path, one_pass):
    """#17: ``--baseline-policy warn`` promotes a candidate below the scikit-learn baseline (and says so);
    the default ``refuse`` registers it (with both figures and a report) but never promotes it. The
    fitted baseline is then registered as a version of its own and goes through the champion rule: here
    it replaces the weak champion and serves, scoring the test split exactly as the gate measured it."""
    import numpy as np

    from training.baseline import read_split
    from training.inference import load_predictor, resolve_model_dir

    fresh = Paths(tmp_path / "home")
    weak = ["training.train", "--kind", "image", "--date", "2033-01-01", "--dataset", str(uneven[0]),
            "--epochs", "1", "--steps-per-epoch", "1", "--learning-rate", "1e-6", "--config", one_pass]
    warned = run(weak + ["--baseline-policy", "warn"], fresh)
    assert warned.returncode == 0, warned.stderr[-4000:]
    (first,) = registry.list_models(fresh, "image")  # warn registers no baseline version
    assert registry.champion(fresh, "image") == first["version"]
    assert "warn only" in registry.read_model(fresh, "image", first["version"])["metrics"]["promotion"]["reason"]

    refused = run(weak, fresh)
    assert refused.returncode == 0, refused.stderr[-4000:]
    models = registry.list_models(fresh, "image")
    (model,) = [m for m in models if m["name"] == "image_classifier" and m["version"] != first["version"]]
    metrics = registry.read_model(fresh, "image", model["version"])["metrics"]
    baseline = metrics["baseline"]
    assert baseline["name"] == "logreg_pixels32_hog48" and baseline["accuracy"] > 0.6 > metrics["accuracy"]
    assert metrics["promotion"]["promoted"] is False
    assert "does not beat the baseline logreg_pixels32_hog48" in metrics["promotion"]["reason"]
    for key in ("top_3_accuracy", "top_5_accuracy", "calibration_error"):
        assert metrics[key] is not None and baseline[key if key != "calibration_error" else "accuracy"] is not None
    report = (registry.kind_root(fresh, "image") / model["version"] / "report.html").read_text()
    assert "not promoted" in report and "logreg_pixels32_hog48" in report
    show = [os.path.join(os.path.dirname(PY), "shardline"), "models", "show", model["version"], "--kind", "image"]
    env = {**os.environ, "SHARDLINE_HOME": str(fresh.home)}
    shown = subprocess.run(show, env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "not promoted: candidate accuracy" in shown.stdout and "baseline: logreg_pixels32_hog48" in shown.stdout
    assert f"{baseline['accuracy']:.4f}" in shown.stdout and "report.html" in shown.stdout
    as_json = json.loads(subprocess.run(show + ["--json"], env=env, capture_output=True, text=True).stdout)
    assert as_json["metrics"]["baseline"]["accuracy"] == baseline["accuracy"]

    # the baseline serves: a version of its own, champion, scoring raw pictures as the gate measured it
    champion = registry.champion(fresh, "image")
    assert {m["version"] for m in models} == {first["version"], model["version"], champion}
    assert champion.startswith(model["version"].rsplit("-", 1)[0] + "-baseline-")
    served = registry.read_model(fresh, "image", champion)
    assert served["flavour"] == "sklearn" and served["name"] == "logreg_pixels32_hog48"
    assert served["metrics"]["accuracy"] == baseline["accuracy"] and served["metrics"]["refused_network"] == model["version"]
    assert f"its baseline serves instead: candidate accuracy {baseline['accuracy']:.4f} >= champion " \
           f"{first['version']}" in served["metrics"]["promotion"]["reason"]
    predictor = load_predictor(str(resolve_model_dir(fresh, "image")))
    pictures, truth = read_split(uneven[0], "test", "image")
    labels, scores, top_labels, _ = predictor.predict(pictures, uneven[1].get("encoding") or "png",
                                                      uneven[1].get("image_shape"), top_k=3)
    assert np.mean(labels == np.asarray(predictor.labels)[truth]) == baseline["accuracy"]
    assert ((scores > 0) & (scores <= 1)).all() and (top_labels[:, 0] == labels).all()
    shown = subprocess.run(show[:3] + [champion, "--kind", "image"], env=env, capture_output=True, text=True)
    assert f"in place of the refused network {model['version']}" in shown.stdout


def test_pretrained_backbone_loads_a_local_weights_file(tmp_path):
    """The optional MobileNetV2 start (``train.image_pretrained``) from a file this test writes; a wrong
    file is one clear error."""
    import numpy as np
    import tf_keras as keras

    from training.config import ImageModelConfig
    from training.models import build_image_model

    source = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None, alpha=0.35)
    weights = tmp_path / "mobilenet_v2_0.35_no_top.h5"
    source.save_weights(str(weights))
    cfg = ImageModelConfig(pretrained=str(weights), pretrained_alpha=0.35, augment=())
    model = build_image_model(cfg, (32, 32, 3), 5)
    backbone = next(layer for layer in model.layers if layer.name.startswith("mobilenetv2"))
    for got, want in zip(backbone.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert model.output_shape == [(None, 5), (None, 5)]  # the network head and the one with the wide branch
    with pytest.raises(ValueError, match="no such weights file"):
        build_image_model(ImageModelConfig(pretrained=str(tmp_path / "missing.h5")), (32, 32, 3), 5)
    with pytest.raises(ValueError, match="not a MobileNetV2 \\(alpha 1.0\\)"):
        build_image_model(ImageModelConfig(pretrained=str(weights)), (32, 32, 3), 5)


def test_text_model_saves_and_loads_with_its_vocabulary(tmp_path):
    """The TF-IDF word and character n-gram model round-trips through model.keras (tf-keras writes the
    character n-gram sizes as a list it then refuses to load) and scores raw strings the same after."""
    import numpy as np
    import tensorflow as tf

    import training.launch
    import training.train
    from training.config import TextModelConfig
    from training.models import build_text_model, build_vectorizers, load_model

    # real prose, so the character n-gram vocabulary holds n-grams at word edges (" t h" and "t h e")
    texts = [p for m in (training.train, training.launch) for p in m.__doc__.split("\n\n")] * 2
    cfg = TextModelConfig(max_tokens=5000, hidden_units=8)
    model = build_text_model(cfg, build_vectorizers(cfg, tf.data.Dataset.from_tensor_slices(texts).batch(2)), 3)
    model.save(tmp_path / "model.keras")
    again = load_model(tmp_path)
    probe = tf.constant(["a cat at night", "unseen words only"])
    np.testing.assert_allclose(again.predict(probe, verbose=0), model.predict(probe, verbose=0), rtol=1e-5)


def test_search_trials_are_recorded_and_the_best_one_trains(uneven, tmp_path, one_pass):
    """#17: ``--search-trials`` runs that many seeded trials on the validation split, records each in
    search.json / metrics / the report, and trains the best configuration for the full epochs."""
    fresh = Paths(tmp_path / "home")
    done = run(["training.train", "--kind", "image", "--date", "2033-01-03", "--dataset", str(uneven[0]),
                "--epochs", "3", "--search-trials", "2", "--baseline-policy", "off", "--config", one_pass], fresh)
    assert done.returncode == 0, done.stderr[-4000:]
    (model,) = registry.list_models(fresh, "image")
    folder = registry.kind_root(fresh, "image") / model["version"]
    search = json.loads((folder / "search.json").read_text())
    assert search["n_trials"] == 2 and search["trial_epochs"] == 2 and search["metric"] == "val_accuracy"
    assert [t["trial"] for t in search["trials"]] == [0, 1]
    assert search["trials"][0]["params"]["learning_rate"] == 0.001  # trial 0: the configured values
    assert search["trials"][1]["params"] != search["trials"][0]["params"]
    best = max(search["trials"], key=lambda t: t["val_accuracy"])
    assert search["best"] == best
    config = json.loads((folder / "config.json").read_text())
    assert config["learning_rate"] == best["params"]["learning_rate"] and config["epochs"] == 3
    assert len(json.loads((folder / "metrics.json").read_text())["history"]["loss"]) == 3
    assert "Hyperparameter search (2 trials" in (folder / "report.html").read_text()
