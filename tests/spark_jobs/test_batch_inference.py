"""batch_inference.transform on inline rows, checked against the same model run directly in this process."""
import io
import json

import numpy as np
from PIL import Image

from spark_jobs.batch_inference import transform


def test_scores_match_the_model_run_directly(spark, tmp_path):
    from training.config import ImageModelConfig
    from training.models import build_image_model, keras  # via training: TF_USE_LEGACY_KERAS set first

    labels = ["cat", "dog", "owl"]
    model = build_image_model(ImageModelConfig(conv_filters=(4,), dense_units=8), (28, 28, 1), len(labels))
    folder = tmp_path / "model"
    folder.mkdir()
    model.save(folder / "model.keras")
    (folder / "labels.json").write_text(json.dumps(labels))
    (folder / "model.json").write_text(json.dumps({"kind": "image", "name": "image_classifier", "version": "t1"}))

    rng = np.random.default_rng(3)
    arrays = [rng.integers(0, 255, (28, 28), dtype=np.uint8) for _ in range(40)]
    pngs = []
    for a in arrays:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    df = spark.createDataFrame([(f"id{i}", f"src{i}", b) for i, b in enumerate(pngs)],
                               "id string, source string, image binary").repartition(3)
    got = {r["id"]: (r["predicted_label"], r["score"], r["source"]) for r in transform(df, "image", str(folder)).collect()}

    direct = keras.models.load_model(str(folder / "model.keras")).predict(
        np.stack(arrays)[..., None].astype("float32") / 255.0, verbose=0)
    assert len(got) == 40
    for i, probs in enumerate(direct):
        label, score, source = got[f"id{i}"]
        assert label == labels[int(probs.argmax())] and source == f"src{i}"
        assert abs(score - float(probs.max())) < 1e-5
