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
