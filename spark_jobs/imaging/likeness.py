"""The check that confirms a near-duplicate candidate: do two pictures look the same, region by region?

A 64-bit perceptual hash (``phash.py``) finds candidates cheaply but is coarse: on icons and clipart,
distinct pictures with the same layout (battery levels, volume levels, two emoji faces, a speech bubble
with and without a dash) sit 0-6 bits apart, as close as a re-saved copy. So each candidate pair is
confirmed on small colour thumbnails:

- ``thumbnail``: the picture (already flattened, RGB) shrunk to 36 x 36 by box averaging, 3,888 bytes;
- ``block_difference``: both thumbnails normalised by their own luminance mean and spread (brightness and
  contrast changes cancel), then the central 32 x 32 compared at every shift of up to 2 pixels (crops,
  padding); per 4 x 4 block the mean difference of each colour channel; the pair's difference is the
  largest block difference at the best shift. Noise from re-encoding and edge shifts from resizing average
  out inside a block; a changed region (a battery level, an emblem, another colour) does not.

Measured on real icons and photo tiles (``benchmarks/dedup_quality.py``): re-saved, resized, re-lit and
re-flattened copies mostly stay under 0.6, while distinct pictures that the hash cannot tell apart are
mostly above it (docs/IMAGE_CLEANING.md has the figures).
"""
from __future__ import annotations

import numpy as np

SIDE = 36      # thumbnail side; the compared window is SIDE - 2 * SHIFT
SHIFT = 2
BLOCK = 4


def thumbnail(rgb_image) -> bytes:
    """A Pillow RGB image -> SIDE x SIDE x 3 uint8 bytes."""
    from PIL import Image

    return rgb_image.resize((SIDE, SIDE), Image.BOX).tobytes()


def is_flat(rgb_image) -> bool:
    """A picture with nothing in it (one colour, e.g. a black glyph flattened onto black)."""
    from PIL import Image

    gray = np.asarray(rgb_image.convert("L").resize((32, 32), Image.BOX), dtype=np.float32)
    return float(gray.std()) < 4.0


def _normalised(thumb: bytes) -> np.ndarray:
    t = np.frombuffer(thumb, dtype=np.uint8).reshape(SIDE, SIDE, 3).astype(np.float32)
    lum = t.mean(axis=2)
    return (t - lum.mean()) / (lum.std() + 8.0)


def block_difference(a: bytes, b: bytes) -> float:
    """0 for the same picture; see the module text. Symmetric up to the shift search."""
    x, y = _normalised(a), _normalised(b)
    n = SIDE - 2 * SHIFT
    core = x[SHIFT:SHIFT + n, SHIFT:SHIFT + n]
    best = float("inf")
    for dy in range(-SHIFT, SHIFT + 1):
        for dx in range(-SHIFT, SHIFT + 1):
            other = y[SHIFT + dy:SHIFT + dy + n, SHIFT + dx:SHIFT + dx + n]
            blocks = np.abs((core - other).reshape(n // BLOCK, BLOCK, n // BLOCK, BLOCK, 3).mean(axis=(1, 3)))
            best = min(best, float(blocks.max()))
    return best
