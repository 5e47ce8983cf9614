"""The image network's wide branch: the baseline's features computed inside the model."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from training.baseline import BASELINE_SIDE, image_features


def photo_crops(n: int, side: int = 96) -> list[Image.Image]:
    """Real pictures: tiles of scikit-learn's two sample photographs, some flipped."""
    from sklearn.datasets import load_sample_images

    out = []
    for k, photo in enumerate(load_sample_images().images):
        img = Image.fromarray(photo)
        for i in range(n // 2):
            tile = img.crop((i * 61, i * 37, i * 61 + side * 2, i * 37 + side * 2)).resize((side, side))
            out.append(tile.transpose(Image.FLIP_LEFT_RIGHT) if (i + k) % 2 else tile)
    return out


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_classic_features_in_the_model_match_the_baselines():
    from training.models import ClassicFeatures

    pictures = photo_crops(8)
    expected = image_features([png(p) for p in pictures])
    x = np.stack([np.asarray(p, dtype=np.float32) / 255.0 for p in pictures])
    got = ClassicFeatures()(x).numpy()
    assert got.shape == expected.shape
    n_pixels = BASELINE_SIDE * BASELINE_SIDE * 3
    # resampling filters differ (PIL's bilinear vs TensorFlow's antialiased one) by a few grey levels
    assert np.abs(got[:, :n_pixels] - expected[:, :n_pixels]).mean() < 0.01
    hog_got, hog_expected = got[:, n_pixels:], expected[:, n_pixels:]
    assert np.corrcoef(hog_got.ravel(), hog_expected.ravel())[0, 1] > 0.9  # 0.93 on these photo tiles, 0.98 on icons
    # and per picture, each one is nearest to its own baseline features
    distances = ((hog_got[:, None, :] - hog_expected[None, :, :]) ** 2).sum(axis=2)
    assert (distances.argmin(axis=1) == np.arange(len(pictures))).all()


def test_a_model_with_the_wide_branch_saves_reloads_and_scores_batches_of_unknown_shape(tmp_path):
    import tensorflow as tf

    from training.config import ImageModelConfig
    from training.models import build_image_model, load_model

    model = build_image_model(ImageModelConfig(conv_filters=(8,), augment=()), (40, 40, 3), 5)
    assert "classic_features" in [layer.name for layer in model.layers]
    model.save(tmp_path / "model.keras")
    again = load_model(tmp_path)
    x = np.stack([np.asarray(p, dtype=np.float32) / 255.0 for p in photo_crops(4, side=40)])
    # batch inference decodes PNGs into a tensor whose static shape is unknown
    score = tf.function(lambda t: again(t, training=False),
                        input_signature=[tf.TensorSpec([None, None, None, None], tf.float32)])
    np.testing.assert_allclose(score(tf.constant(x)).numpy(), model(x, training=False).numpy(), atol=1e-5)
    plain = build_image_model(ImageModelConfig(conv_filters=(8,), augment=(), classic_features=False), (40, 40, 3), 5)
    assert "classic_features" not in [layer.name for layer in plain.layers]
