"""batch_inference.transform on inline rows, checked against the same model run directly in this process."""
import numpy as np

from spark_jobs.batch_inference import transform
from tests.helpers import random_pngs, save_image_model


def test_scores_and_top_k_match_the_model_run_directly(spark, tmp_path):
    from training.models import keras

    labels = ["cat", "dog", "owl"]
    folder = save_image_model(tmp_path / "model", labels)
    arrays, pngs = random_pngs(40)
    df = spark.createDataFrame([(f"id{i}", f"src{i}", b) for i, b in enumerate(pngs)],
                               "id string, source string, image binary").repartition(3)
    got = {r["id"]: r for r in transform(df, "image", str(folder), top_k=2).collect()}

    direct = keras.models.load_model(str(folder / "model.keras")).predict(
        np.stack(arrays)[..., None].astype("float32") / 255.0, verbose=0)
    assert len(got) == 40
    for i, probs in enumerate(direct):
        row = got[f"id{i}"]
        order = np.argsort(-probs)
        assert row["predicted_label"] == labels[order[0]] and row["source"] == f"src{i}"
        assert abs(row["score"] - float(probs.max())) < 1e-5
        assert [t["label"] for t in row["top_k"]] == [labels[j] for j in order[:2]]
        assert abs(row["top_k"][1]["probability"] - float(probs[order[1]])) < 1e-5


def test_a_baseline_version_scores_raw_strings_in_spark(spark, tmp_path):
    """#17: a registered scikit-learn baseline (``flavour: sklearn``, what serves when the gate refused the
    network) scores through the same Spark path, giving the probabilities it gives in this process."""
    import json

    import shardline.settings
    import training.baseline
    import training.train
    from training.baseline import BaselineModel, text_pipeline

    # real prose: paragraphs of three modules' documentation, labelled by module
    modules = {"train": training.train, "baseline": training.baseline, "config": shardline.settings}
    texts, y = [], []
    for i, module in enumerate(modules.values()):
        for paragraph in (p for p in module.__doc__.split("\n\n") if p.strip()):
            texts.append(paragraph)
            y.append(i)
    labels = [*modules, "unseen"]  # a dataset label the train split lacks: probability 0
    model = BaselineModel("text", text_pipeline(), len(labels))
    model.pipeline.fit(texts, y)
    model.fit_temperature(texts, np.asarray(y))
    folder = tmp_path / "baseline"
    folder.mkdir()
    model.save(folder)
    (folder / "labels.json").write_text(json.dumps(labels))
    (folder / "model.json").write_text(json.dumps({"kind": "text", "name": model.name, "version": "b1",
                                                   "flavour": "sklearn"}))
    probe = texts[:4] + ["the champion is compared on the same test split", "", "ünïcode ⚙ only"]
    df = spark.createDataFrame([(f"id{i}", f"src{i}", t) for i, t in enumerate(probe)],
                               "id string, source string, text string").repartition(2)
    got = {r["id"]: r for r in transform(df, "text", str(folder), top_k=3).collect()}

    direct = BaselineModel.load(folder).probabilities(probe)
    np.testing.assert_allclose(direct.sum(axis=1), 1.0, rtol=1e-6)
    assert (direct[:, 3] == 0).all() and 0.01 <= model.temperature <= 10
    assert np.array_equal(np.argmax(direct, axis=1), np.argmax(model.scores(probe), axis=1))
    assert [labels[i] for i in np.argmax(direct[:4], axis=1)] == [labels[i] for i in y[:4]]
    for i, probs in enumerate(direct):
        row = got[f"id{i}"]
        assert row["predicted_label"] == labels[int(np.argmax(probs))]
        assert abs(row["score"] - float(probs.max())) < 1e-5 and len(row["top_k"]) == 3


def test_a_raw_corpus_is_scored_as_the_run_cleans_it(spark, tmp_path):
    """#41: scoring a raw image corpus prepares each picture with the run's settings (here crop and a green
    background), exactly as clean_images does, not with the image job's own defaults (pad, white)."""
    import io

    from PIL import Image

    from shardline.settings import Settings
    from spark_jobs.batch_inference import corpus_input
    from spark_jobs.common.files import listed_uri, read_files
    from spark_jobs.imaging.clean import ImageCleanConfig, transform

    root = tmp_path / "corpus"
    (root / "shapes").mkdir(parents=True)
    picture = Image.new("RGBA", (64, 32), (0, 0, 0, 0))  # left half transparent, right half opaque red
    picture.paste((255, 0, 0, 255), (32, 0, 64, 32))
    picture.save(root / "shapes" / "half.png")
    settings = Settings().with_overrides({"images.resize": "crop", "images.background": "#00ff00",
                                          "images.size": 32})

    scored = corpus_input(spark, "image", str(root), settings, shape=[32, 32, 3]).rows.collect()
    cleaned = transform(read_files(spark, str(root)),
                        ImageCleanConfig.from_settings(settings.images, listed_uri(root)), near=None).collect()
    assert len(scored) == len(cleaned) == 1
    assert bytes(scored[0]["image"]) == bytes(cleaned[0]["image"])
    pixels = Image.open(io.BytesIO(bytes(scored[0]["image"]))).convert("RGB")
    assert pixels.size == (32, 32)
    # centre crop of the 64x32 picture: columns 16..48, so green (transparent on the background) then red;
    # no pad bars at the top (pad would leave black rows above a 32x16 picture)
    assert pixels.getpixel((0, 0)) == (0, 255, 0) and pixels.getpixel((8, 16)) == (0, 255, 0)
    assert pixels.getpixel((31, 0)) == (255, 0, 0) and pixels.getpixel((24, 31)) == (255, 0, 0)
