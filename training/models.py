"""build_model for each dataset kind.

- images: augmentation that leaves labels alone (flips, crops, colour jitter; active only while
  training), a convolution stem, residual blocks of depthwise-separable convolutions with batch norm,
  global average pooling, dropout, softmax. Optionally a MobileNetV2 backbone started from a local
  Keras-applications weights file (``ImageModelConfig.pretrained``; nothing is downloaded). Beside it,
  unless ``classic_features`` is off, a wide linear branch on the baseline's own features (pixels and
  HOG, ``ClassicFeatures``; with ``classic_extra`` also a coarser HOG and colour histograms of the whole
  small picture and of its quarters) whose logits are added to the network's (wide and deep). With
  ``classic_mix = "validation"`` (the default) the network also has a head of its own, both heads are
  trained (each on its own loss), and the served model mixes their probabilities by a weight chosen on
  the validation split (``choose_mix``, ``mixed_model``); with ``"sum"`` the joint head alone. A model
  trained with flips predicts the mean over a picture and its mirror image (``mirror_averaged``).
- text: sublinear TF-IDF of word 1..n-grams and character 3-5-grams, learned from the train split and
  kept inside the model (so inference takes raw strings), L2-normalised, into a one-hidden-layer MLP:
  the n-gram MLP recipe for small corpora, on the same features as the TF-IDF + linear baseline.
"""
from __future__ import annotations

from pathlib import Path

import tensorflow as tf
import tf_keras as keras

from training.baseline import BASELINE_SIDE, HOG_BINS, HOG_CELL, HOG_SIDE
from training.config import ImageModelConfig, TextModelConfig


@keras.saving.register_keras_serializable(package="shardline")
class Log1p(keras.layers.Layer):
    """log(1 + x): sublinear term frequency on TF-IDF vectors (as scikit-learn's ``sublinear_tf``)."""

    def call(self, inputs):
        return tf.math.log1p(inputs)


@keras.saving.register_keras_serializable(package="shardline")
class NgramVectorization(keras.layers.TextVectorization):
    """``TextVectorization`` whose tuple ``ngrams`` survives a save: tf-keras writes (3, 4, 5) to the
    ``.keras`` config as a list, then refuses that list when loading the model."""

    @classmethod
    def from_config(cls, config):
        if isinstance(config.get("ngrams"), list):
            config = {**config, "ngrams": tuple(config["ngrams"])}
        return super().from_config(config)


@keras.saving.register_keras_serializable(package="shardline")
def marked_spaces(text: tf.Tensor) -> tf.Tensor:
    """Lower case, punctuation removed, each run of white space one ``_``: the character n-gram
    vocabulary then holds no term that starts or ends with a space (tf-keras strips those when it
    reloads a saved vocabulary, finds duplicates, and refuses to load the model)."""
    text = tf.strings.regex_replace(tf.strings.lower(text), r"[!-/:-@\[-`{-~]", "")
    return tf.strings.regex_replace(text, r"\s+", "_")


@keras.saving.register_keras_serializable(package="shardline")
class ClassicFeatures(keras.layers.Layer):
    """The baseline's features as TensorFlow ops, so a network can carry them in a wide branch:
    the picture downscaled to ``pixel_side`` (all channels) and the histograms of oriented gradients of
    its grey levels at ``hog_side`` (``cell`` px cells, ``bins`` unsigned orientations, 2x2-cell blocks
    L2-Hys normalised), as ``training.baseline.hog``. With ``extra`` (``train.image_classic_extra``), also
    a coarser HOG (at ``EXTRA_HOG_SIDE`` in ``EXTRA_HOG_CELL`` px cells) and the square roots of a colour
    histogram of the small picture (hue x saturation x value in ``HSV_BINS``; grey levels for grey
    pictures); with ``colour_quadrants`` also one such histogram per quarter of the small picture (top
    left, top right, bottom left, bottom right: where the colours are, as a spatial pyramid's second
    level). Input in [0, 1]; no gradient flows through."""

    EXTRA_HOG_SIDE, EXTRA_HOG_CELL = 64, 8
    HSV_BINS = (8, 4, 4)
    GREY_BINS = 16

    def __init__(self, pixel_side: int = BASELINE_SIDE, hog_side: int = HOG_SIDE, cell: int = HOG_CELL,
                 bins: int = HOG_BINS, extra: bool = False, colour_quadrants: bool = False, **kwargs):
        kwargs["trainable"] = False  # also in a saved config: passing it twice would not load
        super().__init__(**kwargs)
        self.pixel_side, self.hog_side, self.cell, self.bins = pixel_side, hog_side, cell, bins
        self.extra = extra  # False for models saved before it existed
        self.colour_quadrants = colour_quadrants and extra  # False for models saved without the quarters' histograms

    def get_config(self):
        return {**super().get_config(), "pixel_side": self.pixel_side, "hog_side": self.hog_side,
                "cell": self.cell, "bins": self.bins, "extra": self.extra,
                "colour_quadrants": self.colour_quadrants}

    def build(self, input_shape):
        self.image_shape = tuple(int(d) for d in input_shape[1:])  # the model's fixed input size
        super().build(input_shape)

    def call(self, inputs):
        # scoring feeds decoded batches of unknown static shape: give them the model's own
        h, w, c = self.image_shape
        x = tf.reshape(tf.stop_gradient(tf.cast(inputs, tf.float32)), [-1, h, w, c])
        small = tf.image.resize(x, (min(self.pixel_side, h), min(self.pixel_side, w)), antialias=True)
        grey = (tf.tensordot(x, tf.constant([0.299, 0.587, 0.114]), axes=[[3], [0]])[..., None]
                if x.shape[-1] == 3 else x[..., :1])
        parts = [keras.layers.Flatten()(small), self._hog(grey, self.hog_side, self.cell)]
        if self.extra:
            bins = self._colour_bins(small)
            parts += [self._hog(grey, self.EXTRA_HOG_SIDE, self.EXTRA_HOG_CELL),
                      tf.sqrt(tf.reduce_mean(bins, axis=[1, 2]))]
            qh, qw = small.shape[1] // 2, small.shape[2] // 2
            if self.colour_quadrants and qh and qw:
                # each quarter's shares, row by row: top left, top right, bottom left, bottom right (an odd
                # side leaves its last row or column out); one pass over the bins, pooled
                quarters = tf.nn.avg_pool2d(bins, (qh, qw), (qh, qw), "VALID")
                parts.append(tf.sqrt(tf.reshape(quarters, [-1, 4 * bins.shape[-1]])))
        return tf.concat(parts, axis=1)

    def _colour_bins(self, small):
        """Each pixel of the small picture as a one-hot colour bin (HSV; grey levels if grey): the mean over
        an area is the share of its pixels in each bin."""
        if small.shape[-1] == 3:
            hsv = tf.image.rgb_to_hsv(tf.clip_by_value(small, 0.0, 1.0))
            index = tf.zeros_like(hsv[..., 0], dtype=tf.int32)
            for channel, n in enumerate(self.HSV_BINS):
                index = index * n + tf.minimum(tf.cast(hsv[..., channel] * n, tf.int32), n - 1)
            n_bins = self.HSV_BINS[0] * self.HSV_BINS[1] * self.HSV_BINS[2]
        else:
            n_bins = self.GREY_BINS
            index = tf.minimum(tf.cast(tf.clip_by_value(small[..., 0], 0.0, 1.0) * n_bins, tf.int32), n_bins - 1)
        return tf.one_hot(index, n_bins)

    def _hog(self, grey, side: int, cell: int):
        grey = tf.image.resize(grey, (side, side), antialias=True)[..., 0]

        def gradient(g, axis):  # numpy.gradient: central differences, one-sided at the edges
            first = tf.gather(g, [1], axis=axis) - tf.gather(g, [0], axis=axis)
            n = g.shape[axis]
            inner = (tf.gather(g, tf.range(2, n), axis=axis) - tf.gather(g, tf.range(0, n - 2), axis=axis)) / 2.0
            last = tf.gather(g, [n - 1], axis=axis) - tf.gather(g, [n - 2], axis=axis)
            return tf.concat([first, inner, last], axis=axis)

        gy, gx = gradient(grey, 1), gradient(grey, 2)
        magnitude = tf.sqrt(gx * gx + gy * gy)
        angle = tf.math.floormod(tf.math.atan2(gy, gx) * (180.0 / 3.141592653589793), 180.0)
        which = tf.minimum(tf.cast(angle / (180.0 / self.bins), tf.int32), self.bins - 1)
        votes = tf.one_hot(which, self.bins) * magnitude[..., None]
        c = side // cell
        votes = votes[:, :c * cell, :c * cell, :]
        cells = tf.nn.avg_pool2d(votes, cell, cell, "VALID") * float(cell * cell)
        blocks = tf.concat([cells[:, :-1, :-1], cells[:, 1:, :-1], cells[:, :-1, 1:], cells[:, 1:, 1:]], axis=3)
        blocks = blocks / (tf.norm(blocks, axis=3, keepdims=True) + 1e-6)
        blocks = tf.minimum(blocks, 0.2)
        blocks = blocks / (tf.norm(blocks, axis=3, keepdims=True) + 1e-6)
        return keras.layers.Flatten()(blocks)


def augmentation(cfg: ImageModelConfig) -> list[keras.layers.Layer]:
    """The label-preserving random transforms named in ``cfg.augment`` (no-ops at inference)."""
    out: list[keras.layers.Layer] = []
    if "flip" in cfg.augment:
        out.append(keras.layers.RandomFlip("horizontal"))
    if "crop" in cfg.augment:  # shift and zoom by up to 10%: a random crop, refilled at the border
        out += [keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest"),
                keras.layers.RandomZoom((-0.1, 0.1), fill_mode="nearest")]
    if "color" in cfg.augment:
        out += [keras.layers.RandomBrightness(0.15, value_range=(0.0, 1.0)), keras.layers.RandomContrast(0.15)]
    return out


def batch_norm() -> keras.layers.Layer:
    """Batch norm whose moving statistics follow the weights within a few dozen steps (momentum 0.9, not
    Keras' 0.99): small nightly datasets have few steps per epoch, and with 0.99 the validation loss
    stayed at chance for 7 epochs while training accuracy reached 0.59, so early stopping ended the run."""
    return keras.layers.BatchNormalization(momentum=0.9)


def _residual_block(x, filters: int, stride: int):
    shortcut = x
    y = keras.layers.SeparableConv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = batch_norm()(y)
    y = keras.layers.ReLU()(y)
    y = keras.layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(y)
    y = batch_norm()(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
        shortcut = batch_norm()(shortcut)
    return keras.layers.ReLU()(keras.layers.Add()([shortcut, y]))


def pretrained_backbone(cfg: ImageModelConfig, input_shape: tuple[int, int, int]) -> keras.Model:
    """MobileNetV2 without its top, weights from ``cfg.pretrained`` (a Keras-applications ``.h5``)."""
    path = Path(cfg.pretrained).expanduser()
    if not path.is_file():
        raise ValueError(f"train.image_pretrained: no such weights file: {path}")
    if input_shape[-1] != 3 or min(input_shape[:2]) < 32:
        raise ValueError(f"train.image_pretrained needs RGB images of at least 32x32, got {input_shape}")
    try:
        return keras.applications.MobileNetV2(input_shape=input_shape, include_top=False, weights=str(path),
                                              alpha=cfg.pretrained_alpha)
    except ValueError as exc:
        raise ValueError(f"train.image_pretrained: {path} is not a MobileNetV2 (alpha "
                         f"{cfg.pretrained_alpha}) no-top weights file: {exc}") from None


def build_image_model(cfg: ImageModelConfig, input_shape: tuple[int, int, int], n_classes: int) -> keras.Model:
    inputs = keras.Input(input_shape)
    x = inputs
    for layer in augmentation(cfg):
        x = layer(x)
    augmented = x
    if cfg.pretrained:
        x = keras.layers.Rescaling(2.0, offset=-1.0)(x)  # MobileNetV2 expects [-1, 1]
        x = pretrained_backbone(cfg, input_shape)(x)
    else:
        # Larger pictures start with a strided stem so the blocks see at most ~48 px.
        stride = 2 if min(input_shape[:2]) >= 64 else 1
        x = keras.layers.Conv2D(cfg.conv_filters[0], 3, strides=stride, padding="same", use_bias=False)(x)
        x = batch_norm()(x)
        x = keras.layers.ReLU()(x)
        for i, filters in enumerate(cfg.conv_filters):
            x = _residual_block(x, filters, stride=1 if i == 0 else 2)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(cfg.dropout)(x)
    if cfg.dense_units:
        x = keras.layers.Dense(cfg.dense_units, activation="relu")(x)
        x = keras.layers.Dropout(cfg.dropout)(x)
    logits = keras.layers.Dense(n_classes, dtype="float32", name="deep_logits")(x)
    if cfg.classic_features and cfg.classic_mix == "validation":
        # two heads on one network, each with its own loss: the network alone, and the network with the wide
        # branch's logits added; ``mixed_model`` joins them once the mix is chosen on the validation split
        joint = keras.layers.Add(name="wide_and_deep")([
            keras.layers.Dense(n_classes, dtype="float32", name="joint_logits")(x),
            wide_logits(augmented, n_classes, cfg)])
        return keras.Model(inputs, [keras.layers.Activation("softmax", dtype="float32", name="deep")(logits),
                                    keras.layers.Activation("softmax", dtype="float32", name="joint")(joint)],
                           name="image_classifier")
    if cfg.classic_features:
        logits = keras.layers.Add(name="wide_and_deep")([logits, wide_logits(augmented, n_classes, cfg)])
    outputs = keras.layers.Activation("softmax", dtype="float32")(logits)
    return keras.Model(inputs, outputs, name="image_classifier")


@keras.saving.register_keras_serializable(package="shardline")
class MixProbabilities(keras.layers.Layer):
    """``deep_weight`` x the network head's probabilities + (1 - ``deep_weight``) x the joint head's."""

    def __init__(self, deep_weight: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.deep_weight = float(deep_weight)

    def get_config(self):
        return {**super().get_config(), "deep_weight": self.deep_weight}

    def call(self, inputs):
        deep, joint = inputs
        return self.deep_weight * deep + (1.0 - self.deep_weight) * joint


def mixed_model(model: keras.Model, deep_weight: float) -> keras.Model:
    """The served model of a two-headed one (``classic_mix = "validation"``): one output, the heads'
    probabilities mixed by ``deep_weight``. It shares the heads' layers and weights."""
    mixed = MixProbabilities(deep_weight, dtype="float32", name="mix")(model.outputs)
    return keras.Model(model.inputs, mixed, name=model.name)


def as_served(model: keras.Model, deep_weight: float = 0.5) -> keras.Model:
    """The one-output model scoring loads: ``model`` itself, or a two-headed model mixed at ``deep_weight``
    (training chooses the weight on validation; this is for a model built and saved without training)."""
    return mixed_model(model, deep_weight) if len(model.outputs) == 2 else model


@keras.saving.register_keras_serializable(package="shardline")
class MirrorImage(keras.layers.Layer):
    """The pictures of a batch mirrored left to right."""

    def call(self, inputs):
        return tf.reverse(inputs, axis=[2])


def mirror_averaged(model: keras.Model) -> keras.Model:
    """``model`` with each output the mean of its outputs on a picture and on the picture's mirror image
    (``train.image_mirror_average``, for models trained with flips). The wrapper shares ``model``'s layers
    and weights; the saved model holds both, so scoring loads one model as before."""
    inputs = keras.Input(model.input_shape[1:], name="picture")
    plain, mirrored = model(inputs), model(MirrorImage(name="mirror")(inputs))
    if len(model.outputs) == 1:
        plain, mirrored = [plain], [mirrored]
    names = [t.name.split("/")[0] for t in model.outputs]
    outputs = [keras.layers.Average(dtype="float32", name=f"{name}_with_mirror")([a, b])
               for name, a, b in zip(names, plain, mirrored)]
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)


MIX_GRID = tuple(i / 20 for i in range(21))
MIX_SIGNIFICANCE = 0.05


def choose_mix(deep, joint, y) -> dict:
    """The weight of the network head's probabilities against the joint head's (network + wide branch):
    the weight in 0, 0.05, ..., 1 that is right most often on a held-out split (ties: the lower log loss),
    kept only when it is right on significantly more of those rows than the joint head alone (one-sided
    sign test over the rows where the two disagree, p < ``MIX_SIGNIFICANCE``); else 0, the joint head.
    A validation split of a few dozen rows cannot tell a weight from its neighbours, and choosing among
    21 by such noise cost points (measured on the icons, docs/TRAINING.md); a clear difference (the
    glyphs: the network alone is right on 8 more of 229 rows) still takes the network head.
    -> ``{"deep_weight", "rows", "accuracy" of each head and of the mix, "best_weight" before the test,
    "p_value"}``. Without rows: 0.5."""
    import math

    import numpy as np

    deep, joint, y = np.asarray(deep, np.float64), np.asarray(joint, np.float64), np.asarray(y, int)
    if not len(y):
        return {"deep_weight": 0.5, "rows": 0}
    rows = np.arange(len(y))

    def right(w):
        return (w * deep + (1 - w) * joint).argmax(1) == y

    def score(w):
        p = w * deep + (1 - w) * joint
        return float(np.mean(right(w))), float(-np.mean(np.log(np.maximum(p[rows, y], 1e-12))))

    scores = {w: score(w) for w in MIX_GRID}
    best = max(MIX_GRID, key=lambda w: (scores[w][0], -scores[w][1]))
    gains, losses = int(np.sum(right(best) & ~right(0.0))), int(np.sum(~right(best) & right(0.0)))
    n = gains + losses  # P(at least `gains` of n fair coin flips)
    p_value = sum(math.comb(n, k) for k in range(gains, n + 1)) / 2 ** n if n else 1.0
    chosen = best if best == 0.0 or p_value < MIX_SIGNIFICANCE else 0.0
    return {"deep_weight": chosen, "rows": int(len(y)), "best_weight": best, "p_value": round(p_value, 4),
            "accuracy": {"deep": scores[1.0][0], "joint": scores[0.0][0], "mixed": scores[chosen][0]}}


def wide_logits(images, n_classes: int, cfg: ImageModelConfig):
    """The wide branch: the baseline's features (``ClassicFeatures``), standardised by batch norm
    without a learned shift or scale, into a linear layer with the L2 penalty of the baseline's
    logistic regression (C = 0.1 on a few hundred pictures is about 0.01 per weight)."""
    f = ClassicFeatures(extra=cfg.classic_extra, colour_quadrants=cfg.classic_extra, name="classic_features")(images)
    f = keras.layers.BatchNormalization(momentum=0.9, center=False, scale=False, name="classic_standardise")(f)
    return keras.layers.Dense(n_classes, kernel_regularizer=keras.regularizers.L2(cfg.classic_l2),
                              dtype="float32", name="wide_logits")(f)


def build_vectorizers(cfg: TextModelConfig, train_texts: tf.data.Dataset) -> list[keras.layers.TextVectorization]:
    """TF-IDF vectorizers (word n-grams, and character n-grams unless ``cfg.char_ngrams`` is off),
    their vocabulary and document frequencies learned from ``train_texts``."""
    vectorizers = [keras.layers.TextVectorization(max_tokens=cfg.max_tokens, ngrams=cfg.ngrams,
                                                  output_mode="tf_idf", name="word_tfidf")]
    if cfg.char_ngrams:
        vectorizers.append(NgramVectorization(
            max_tokens=cfg.max_tokens, standardize=marked_spaces, split="character", ngrams=(3, 4, 5),
            output_mode="tf_idf", name="char_tfidf"))
    for vectorizer in vectorizers:  # train_texts: batches of strings
        vectorizer.adapt(train_texts)
    return vectorizers


def build_text_model(cfg: TextModelConfig, vectorizers: list[keras.layers.TextVectorization],
                     n_classes: int) -> keras.Model:
    inputs = keras.Input(shape=(), dtype=tf.string)
    branches = [keras.layers.UnitNormalization()(Log1p()(vectorizer(inputs))) for vectorizer in vectorizers]
    x = branches[0] if len(branches) == 1 else keras.layers.Concatenate()(branches)
    x = keras.layers.Dropout(cfg.dropout)(x)
    x = keras.layers.Dense(cfg.hidden_units, activation="relu")(x)
    x = keras.layers.Dropout(cfg.dropout)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="text_classifier")


def per_head(ds, model: keras.Model):
    """A dataset of (x, y) or (x, y, weight) with the target (and weight) repeated for each of ``model``'s
    outputs (a two-headed image model trains both heads on the same labels)."""
    n = len(model.outputs)
    if n == 1:
        return ds
    return ds.map(lambda x, y, *w: (x, (y,) * n, *(((w[0],) * n,) if w else ())))


def compile_model(model: keras.Model, learning_rate: float | keras.optimizers.schedules.LearningRateSchedule
                  ) -> keras.Model:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def cosine_schedule(learning_rate: float, total_steps: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """Cosine decay from ``learning_rate`` to 1% of it over the whole run."""
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, total_steps), alpha=0.01)


def load_model(folder: Path) -> keras.Model:
    """A registered version's ``model.keras`` (this module's custom layers registered first)."""
    return keras.models.load_model(str(Path(folder) / "model.keras"), compile=False)
