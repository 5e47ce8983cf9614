"""build_inputs: a published petastorm split -> a batched ``tf.data.Dataset`` of (features, label).

Decoding happens in tf.data on whole batches (no per-sample Python). ``preprocess`` is the one
definition of the model's input preprocessing; batch inference calls it too.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import tensorflow as tf

# Pixels are scaled by multiplying with this constant, never by dividing by 255: a traced tf.function
# (scoring) rewrites ``x / 255.0`` into ``x * (1 / 255.0)`` while tf.data (training, the gate's test) and
# eager mode divide, and the two differ by one ulp for half of the 256 levels. The wide branch's gradient
# histograms are discontinuous (an orientation on a bin edge), so that ulp moved served probabilities by
# up to 0.015 and can flip a test picture against what the gate measured (docs/BENCHMARKS.md). A product is
# computed alike everywhere.
PIXEL_SCALE = 1.0 / 255.0


def to_unit(pixels: tf.Tensor) -> tf.Tensor:
    """uint8 pixels -> float32 in [0, 1], bit for bit the same in eager mode, tf.data and tf.function."""
    return tf.cast(pixels, tf.float32) * PIXEL_SCALE


def preprocess_images(png_bytes: tf.Tensor) -> tf.Tensor:
    """A batch of PNG byte strings -> float32 NHWC in [0, 1]."""
    pixels = tf.map_fn(lambda b: tf.io.decode_png(b, channels=0), png_bytes, fn_output_signature=tf.uint8)
    return to_unit(pixels)


def raw_images(pixels: tf.Tensor, shape: list[int]) -> tf.Tensor:
    """A batch of raw uint8 HWC pixel strings -> float32 NHWC in [0, 1], in one vectorised op."""
    flat = tf.io.decode_raw(pixels, tf.uint8)
    return to_unit(tf.reshape(flat, [-1, *shape]))


def preprocess(kind: str, raw: tf.Tensor, encoding: str = "png", shape: list[int] | None = None) -> tf.Tensor:
    """Column values (PNG bytes, raw pixels or strings) -> model input. Text models vectorise inside
    the model. Both image encodings give the same pixels (PNG is lossless)."""
    if kind != "image":
        return raw
    return raw_images(raw, shape) if encoding == "raw" else preprocess_images(raw)


@contextmanager
def open_reader(url: str, fields: list[str], *, num_epochs: int | None, shard: int = 0, shard_count: int = 1,
                seed: int | None = None, shuffle: bool = False, workers_count: int = 2) -> Iterator:
    """A petastorm batch reader for one split; its pyarrow FutureWarnings are silenced here only."""
    from petastorm import make_batch_reader

    # petastorm's pyarrow legacy-API FutureWarnings fire in its reader threads for the reader's whole
    # life, so the filter is scoped by module rather than by a with-block.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"petastorm\..*")
    warnings.filterwarnings("ignore", message=r".*make_reader.*", category=UserWarning, module=r"petastorm\..*")
    warnings.filterwarnings("ignore", category=UnicodeWarning, module=r"petastorm\..*")
    reader = make_batch_reader(url, schema_fields=fields, num_epochs=num_epochs, cur_shard=shard,
                               shard_count=shard_count, shuffle_row_groups=shuffle, shuffle_rows=shuffle,
                               seed=seed, workers_count=workers_count, reader_pool_type=pool_type(num_epochs))
    with reader:
        yield reader


def pool_type(num_epochs: int | None) -> str:
    """petastorm 0.13.1's thread pool can end a finite read with zero rows: ``get_results`` checks
    "all workers idle" and "ventilator finished" one after the other, and a small epoch can be fully
    ventilated in between. Infinite readers never finish, so only finite reads (evaluation, vocabulary)
    use the synchronous ``dummy`` pool."""
    return "thread" if num_epochs is None else "dummy"


def build_inputs(reader, kind: str, batch_size: int, *, shuffle_buffer: int = 0, seed: int | None = None,
                 with_ids: bool = False, encoding: str = "png", shape: list[int] | None = None) -> tf.data.Dataset:
    from petastorm.tf_utils import make_petastorm_dataset

    column = "image" if kind == "image" else "text"
    # Row groups arrive as variable-size batches; `rebatch` reslices them into training batches without
    # the per-element work of unbatch()/batch(). Shuffling: petastorm shuffles row groups and the rows
    # inside each (open_reader(shuffle=True)); the buffer below mixes whole batches across row groups.
    ds = make_petastorm_dataset(reader).rebatch(batch_size)
    if shuffle_buffer:
        ds = ds.shuffle(max(2, shuffle_buffer // batch_size), seed=seed)

    def to_xy(row):
        x = preprocess(kind, getattr(row, column), encoding, shape)
        y = tf.cast(row.label_index, tf.int32)
        return (x, y, row.id) if with_ids else (x, y)

    ds = ds.map(to_xy, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    # petastorm already gives each worker its own row groups (cur_shard/shard_count).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options)
