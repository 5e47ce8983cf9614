"""Perceptual hashes as signed 64-bit ints (Spark ``bigint``), so Hamming distance is ``bit_count(a ^ b)``.

pHash (the default): the sign of the 8x8 lowest DCT frequencies of a 32x32 grayscale thumbnail against
their median - robust to resizing, re-encoding and brightness. dHash: the sign of horizontal gradients
of a 9x8 thumbnail - cheaper, a little less robust to crops. Same definitions as the ``imagehash``
package, computed with numpy only.
"""
from __future__ import annotations

import numpy as np

_N = 32
# Orthonormal DCT-II matrix: dct(x) = D @ x, so the 2-D transform is D @ X @ D.T.
_K = np.arange(_N)
_DCT = np.sqrt(2.0 / _N) * np.cos(np.pi * (2 * _K[None, :] + 1) * _K[:, None] / (2 * _N))
_DCT[0] /= np.sqrt(2.0)
_WEIGHTS = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


def _to_int64(bits: np.ndarray) -> int:
    value = int((bits.astype(np.uint64) * _WEIGHTS).sum(dtype=np.uint64))
    return value - (1 << 64) if value >= 1 << 63 else value


def phash(gray_image) -> int:
    """``gray_image``: a Pillow image (any size, mode L)."""
    from PIL import Image

    x = np.asarray(gray_image.resize((_N, _N), Image.LANCZOS, reducing_gap=2.0), dtype=np.float64)
    low = (_DCT @ x @ _DCT.T)[:8, :8].ravel()
    return _to_int64(low > np.median(low))


def dhash(gray_image) -> int:
    from PIL import Image

    x = np.asarray(gray_image.resize((9, 8), Image.LANCZOS, reducing_gap=2.0), dtype=np.int16)
    return _to_int64((x[:, 1:] > x[:, :-1]).ravel())


def hamming(a: int, b: int) -> int:
    return bin((a ^ b) & ((1 << 64) - 1)).count("1")


HASHES = {"phash": phash, "dhash": dhash}
