"""The image network's wide branch: the baseline's features computed inside the model."""
from __future__ import annotations

import io

import numpy as np
import pytest
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


def hsv_shares(small: np.ndarray) -> np.ndarray:
    import colorsys

    shares = np.zeros(128)
    for r, g, b in small.reshape(-1, 3):
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        shares[min(int(h * 8), 7) * 16 + min(int(s * 4), 3) * 4 + min(int(v * 4), 3)] += 1 / small[..., 0].size
    return shares


def test_extra_classic_features_are_a_coarser_hog_and_colour_histograms():
    """``train.image_classic_extra``: the baseline's features unchanged, then the HOG at 64 px in 8 px cells
    (as ``training.baseline.hog`` computes it), the square roots of the pixels' shares per HSV bin, and
    (``colour_quadrants``) the same shares in each quarter of the small picture."""
    from training.baseline import hog
    from training.models import ClassicFeatures

    pictures = photo_crops(8)
    x = np.stack([np.asarray(p, dtype=np.float32) / 255.0 for p in pictures])
    base = ClassicFeatures()(x).numpy()
    got = ClassicFeatures(extra=True)(x).numpy()
    n_base, n_hog = base.shape[1], (64 // 8 - 1) ** 2 * 4 * 9
    assert got.shape[1] == n_base + n_hog + 8 * 4 * 4
    assert np.allclose(got[:, :n_base], base, atol=1e-5)
    coarse = np.stack([hog(np.asarray(p.convert("L").resize((64, 64), Image.BILINEAR), dtype=np.float32) / 255.0, 8)
                       for p in pictures])
    assert np.corrcoef(got[:, n_base:n_base + n_hog].ravel(), coarse.ravel())[0, 1] > 0.9
    colours = got[:, n_base + n_hog:]
    assert np.allclose((colours ** 2).sum(axis=1), 1.0, atol=1e-4)  # shares of all pixels
    smalls = [np.asarray(p.resize((BASELINE_SIDE, BASELINE_SIDE), Image.BILINEAR), dtype=np.float32) / 255
              for p in pictures]
    for small, row in zip(smalls, colours):
        assert np.abs(row ** 2 - hsv_shares(small)).sum() < 0.15  # 0.01-0.10: resampling filters differ at bin edges
    grey = ClassicFeatures(extra=True)(x[..., :1]).numpy()
    assert np.allclose((grey[:, -16:] ** 2).sum(axis=1), 1.0, atol=1e-4)  # grey levels for grey pictures

    # the quarters: the same features first, then top left, top right, bottom left, bottom right
    quartered = ClassicFeatures(extra=True, colour_quadrants=True)(x).numpy()
    assert quartered.shape[1] == got.shape[1] + 4 * 128
    assert np.allclose(quartered[:, :got.shape[1]], got, atol=1e-5)
    quarters = quartered[:, got.shape[1]:].reshape(len(pictures), 4, 128)
    assert np.allclose((quarters ** 2).sum(axis=2), 1.0, atol=1e-4)
    q = BASELINE_SIDE // 2
    for small, rows in zip(smalls, quarters):
        expected = [hsv_shares(small[top:top + q, left:left + q]) for top in (0, q) for left in (0, q)]
        errors = np.abs(rows ** 2 - np.stack(expected)).sum(axis=1)
        assert (errors < 0.3).all()  # a quarter has 256 pixels, so one pixel across a bin edge moves 0.008
    # the order of the quarters: a picture painted red, green / blue, white puts each quarter in one bin
    painted = np.zeros((1, 96, 96, 3), dtype=np.float32)
    painted[0, :48, :48] = (1, 0, 0)
    painted[0, :48, 48:] = (0, 1, 0)
    painted[0, 48:, :48] = (0, 0, 1)
    painted[0, 48:, 48:] = (1, 1, 1)
    bins = ClassicFeatures(extra=True, colour_quadrants=True)(painted).numpy()[0, got.shape[1]:].reshape(4, 128)
    expected = [hsv_shares(np.array([[colour]], dtype=np.float32)).argmax()
                for colour in ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1))]
    # (the antialiased downscaling blends the colours along the seams: 88% of a quarter at least is its own)
    assert bins.argmax(axis=1).tolist() == expected and (bins.max(axis=1) > 0.9).all()
    grey_quartered = ClassicFeatures(extra=True, colour_quadrants=True)(x[..., :1]).numpy()
    assert grey_quartered.shape[1] == grey.shape[1] + 4 * 16

    # a model saved before an option existed has no key for it in its config and loads without it
    config = ClassicFeatures(extra=True, colour_quadrants=True).get_config()
    before_quadrants = {k: v for k, v in config.items() if k != "colour_quadrants"}
    assert ClassicFeatures.from_config(before_quadrants).extra is True
    assert ClassicFeatures.from_config(before_quadrants).colour_quadrants is False
    before_extra = {k: v for k, v in before_quadrants.items() if k != "extra"}
    assert ClassicFeatures.from_config(before_extra).extra is False
    # quarters need the extra features: without them the option changes nothing
    assert ClassicFeatures(extra=False, colour_quadrants=True)(x).numpy().shape == base.shape


@pytest.mark.parametrize("mix", ["validation", "sum"])
def test_a_model_with_the_wide_branch_saves_reloads_and_scores_batches_of_unknown_shape(tmp_path, mix):
    import tensorflow as tf

    from training.config import ImageModelConfig
    from training.models import build_image_model, load_model, mixed_model

    model = build_image_model(ImageModelConfig(conv_filters=(8,), augment=(), classic_mix=mix), (40, 40, 3), 5)
    assert "classic_features" in [layer.name for layer in model.layers]
    x = np.stack([np.asarray(p, dtype=np.float32) / 255.0 for p in photo_crops(4, side=40)])
    if mix == "validation":  # the network alone and with the wide branch; the served model mixes the two
        assert model.output_names == ["deep", "joint"]
        deep, joint = (t.numpy() for t in model(x, training=False))
        model = mixed_model(model, 0.3)
        np.testing.assert_allclose(model(x, training=False).numpy(), 0.3 * deep + 0.7 * joint, atol=1e-6)
    assert len(model.outputs) == 1
    model.save(tmp_path / "model.keras")
    again = load_model(tmp_path)
    # batch inference decodes PNGs into a tensor whose static shape is unknown
    score = tf.function(lambda t: again(t, training=False),
                        input_signature=[tf.TensorSpec([None, None, None, None], tf.float32)])
    np.testing.assert_allclose(score(tf.constant(x)).numpy(), model(x, training=False).numpy(), atol=1e-5)
    plain = build_image_model(ImageModelConfig(conv_filters=(8,), augment=(), classic_features=False), (40, 40, 3), 5)
    assert "classic_features" not in [layer.name for layer in plain.layers] and len(plain.outputs) == 1


def test_a_mirror_averaged_model_predicts_the_mean_over_the_picture_and_its_mirror(tmp_path):
    """``train.image_mirror_average``: each head's probabilities are the mean of the trained model's on the
    picture and on its mirror image, in the saved model that scoring loads."""
    import tensorflow as tf

    from training.config import ImageModelConfig
    from training.models import build_image_model, load_model, mirror_averaged, mixed_model

    x = np.stack([np.asarray(p, dtype=np.float32) / 255.0 for p in photo_crops(4, side=40)])
    mirror = x[:, :, ::-1]
    heads = build_image_model(ImageModelConfig(conv_filters=(8,)), (40, 40, 3), 5)
    by_hand = [(a.numpy() + b.numpy()) / 2 for a, b in zip(heads(x, training=False), heads(mirror, training=False))]
    assert not np.allclose(heads(x, training=False)[1].numpy(), by_hand[1], atol=1e-4)  # the mirror matters
    averaged = mirror_averaged(heads)
    assert len(averaged.outputs) == 2
    for got, want in zip(averaged(x, training=False), by_hand):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-6)
    served = mixed_model(averaged, 0.3)
    served.save(tmp_path / "model.keras")
    again = load_model(tmp_path)
    score = tf.function(lambda t: again(t, training=False),
                        input_signature=[tf.TensorSpec([None, None, None, None], tf.float32)])
    np.testing.assert_allclose(score(tf.constant(x)).numpy(), 0.3 * by_hand[0] + 0.7 * by_hand[1], atol=1e-5)
    np.testing.assert_allclose(score(tf.constant(mirror)).numpy(), score(tf.constant(x)).numpy(), atol=1e-5)
    one = build_image_model(ImageModelConfig(conv_filters=(8,), classic_mix="sum"), (40, 40, 3), 5)
    np.testing.assert_allclose(mirror_averaged(one)(x, training=False).numpy(),
                               (one(x, training=False).numpy() + one(mirror, training=False).numpy()) / 2, atol=1e-6)


def test_the_mix_is_chosen_on_the_held_out_rows():
    from training.models import choose_mix

    y = np.arange(40) % 4
    eye = np.eye(4)
    right, wrong = eye[y] * 0.8 + 0.05, eye[(y + 1) % 4] * 0.8 + 0.05
    assert choose_mix(right, wrong, y)["deep_weight"] == 1.0  # the network head alone is right
    assert choose_mix(wrong, right, y)["deep_weight"] == 0.0  # the head with the wide branch is right
    # each right on half the rows, sure where right and unsure where wrong: only a mix gets all of them
    sure, unsure = eye[y] * 0.9 + 0.025, np.full((40, 4), 0.25) + eye[(y + 1) % 4] * 0.01
    half = (np.arange(40) < 20)[:, None]
    chosen = choose_mix(np.where(half, sure, unsure), np.where(half, unsure, sure), y)
    assert 0 < chosen["deep_weight"] < 1 and chosen["accuracy"] == {"deep": 0.5, "joint": 0.5, "mixed": 1.0}
    assert chosen["p_value"] < 1e-5
    # ties in accuracy go to the lower log loss, and a weight right on no more rows than the joint head
    # is not taken: the joint head serves
    tie = choose_mix(sure, right, y)
    assert tie["best_weight"] == 1.0 and tie["deep_weight"] == 0.0 and tie["p_value"] == 1.0
    # two more rows right of 40 is noise (p 0.25): the joint head; eight more is not
    for more, expected in ((2, 0.0), (8, 1.0)):  # the joint head wrong on the first `more` rows
        got = choose_mix(right, np.where((np.arange(40) < more)[:, None], wrong, right), y)
        assert got["deep_weight"] == expected, (more, got)
    assert choose_mix([], [], [])["deep_weight"] == 0.5


@pytest.mark.parametrize("encoding", ["png", "raw"])
def test_pixels_are_the_same_bits_in_training_in_scoring_and_eagerly(encoding):
    """Training and the gate read pictures through tf.data, scoring through a traced tf.function. A traced
    ``x / 255`` became ``x * (1 / 255)`` (one ulp apart on half the levels), and the wide branch's gradient
    histograms turned that ulp into served probabilities up to 0.015 away from the ones the gate measured."""
    import tensorflow as tf

    from training.inputs import preprocess

    levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    raw = [png(Image.fromarray(levels[..., 0], mode="L")) if encoding == "png" else levels.tobytes()]
    shape = [16, 16, 1]
    eager = preprocess("image", tf.constant(raw), encoding, shape).numpy()
    traced = tf.function(lambda r: preprocess("image", r, encoding, shape),
                         input_signature=[tf.TensorSpec([None], tf.string)])(tf.constant(raw)).numpy()
    dataset = next(iter(tf.data.Dataset.from_tensors(tf.constant(raw))
                        .map(lambda r: preprocess("image", r, encoding, shape)))).numpy()
    assert eager.shape == (1, 16, 16, 1)
    np.testing.assert_array_equal(traced, eager)
    np.testing.assert_array_equal(dataset, eager)
    np.testing.assert_allclose(eager[0, ..., 0], levels[..., 0] / 255.0, atol=1e-7)


def test_a_wide_branch_model_scores_the_same_in_training_and_in_scoring():
    """The same real pictures through the gate's path (tf.data, ``predict_on_batch``) and batch inference's
    (one traced function over the PNG bytes) give the same probabilities, bit for bit."""
    import tensorflow as tf

    from training.config import ImageModelConfig
    from training.inputs import preprocess
    from training.models import build_image_model, mixed_model

    tf.keras.utils.set_random_seed(3)
    model = mixed_model(build_image_model(ImageModelConfig(conv_filters=(8,), augment=(), classic_mix="validation"),
                                          (40, 40, 3), 5), 0.5)
    raw = tf.constant([png(p) for p in photo_crops(16, side=40)])
    gate = model.predict_on_batch(next(iter(tf.data.Dataset.from_tensors(raw).map(
        lambda r: preprocess("image", r, "png")))))
    scoring = tf.function(lambda r: model(preprocess("image", r, "png"), training=False),
                          input_signature=[tf.TensorSpec([None], tf.string)])(raw).numpy()
    np.testing.assert_array_equal(scoring, np.asarray(gate))
