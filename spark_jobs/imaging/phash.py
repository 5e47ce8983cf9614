"""Perceptual hashes as signed 64-bit ints (Spark ``bigint``), so Hamming distance is ``bit_count(a ^ b)``.

dcthash (the default): the 63 lowest DCT frequencies of a 32x32 grayscale thumbnail (8x8 without the
mean), projected on 64 fixed random directions; bit i is the sign of projection i (SimHash). Two pictures
whose low-frequency vectors are an angle ``a`` apart differ in about ``64 * a / pi`` bits, so a small
change of the picture flips few bits whatever the picture looks like.

pHash: the sign of each of the 8x8 lowest DCT frequencies against their median, as in the ``imagehash``
package. On symmetric or sparse pictures (icons, clipart, line art) many coefficients sit at the median,
so re-saving as JPEG at quality 95 or cropping 2% flips 12-28 of its 64 bits (measured on real icons,
docs/IMAGE_CLEANING.md); kept for corpora tuned to it. dHash: the sign of horizontal gradients of a 9x8
thumbnail - cheaper, less robust to crops.
"""
from __future__ import annotations

import numpy as np

_N = 32
# Orthonormal DCT-II matrix: dct(x) = D @ x, so the 2-D transform is D @ X @ D.T.
_K = np.arange(_N)
_DCT = np.sqrt(2.0 / _N) * np.cos(np.pi * (2 * _K[None, :] + 1) * _K[:, None] / (2 * _N))
_DCT[0] /= np.sqrt(2.0)
_WEIGHTS = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


def _directions(n: int = 64, dims: int = 63) -> np.ndarray:
    """``n`` fixed Gaussian directions in ``dims`` dimensions, derived from SHA-256 (Box-Muller), so every
    worker, machine and numpy version draws the same ones."""
    import hashlib

    words = np.frombuffer(b"".join(hashlib.sha256(b"shardline-dcthash-%d" % i).digest()
                                   for i in range((n * dims * 8 + 31) // 32)), dtype=">u4")[:n * dims * 2]
    u = (words.astype(np.float64) + 0.5) / 2.0**32
    z = np.sqrt(-2 * np.log(u[0::2])) * np.cos(2 * np.pi * u[1::2])
    return z.reshape(n, dims)


_PROJECT = _directions()


def _to_int64(bits: np.ndarray) -> int:
    value = int((bits.astype(np.uint64) * _WEIGHTS).sum(dtype=np.uint64))
    return value - (1 << 64) if value >= 1 << 63 else value


def phash(gray_image) -> int:
    """``gray_image``: a Pillow image (any size, mode L)."""
    from PIL import Image

    x = np.asarray(gray_image.resize((_N, _N), Image.LANCZOS, reducing_gap=2.0), dtype=np.float64)
    low = (_DCT @ x @ _DCT.T)[:8, :8].ravel()
    return _to_int64(low > np.median(low))


def dcthash(gray_image) -> int:
    """``gray_image``: a Pillow image (any size, mode L); see the module text."""
    from PIL import Image

    x = np.asarray(gray_image.resize((_N, _N), Image.LANCZOS, reducing_gap=2.0), dtype=np.float64)
    low = (_DCT @ x @ _DCT.T)[:8, :8].ravel()[1:]
    if np.abs(low).max() < 1e-6:  # one flat colour: rounding noise would draw random bits
        return 0
    return _to_int64(_PROJECT @ low > 0)


def dhash(gray_image) -> int:
    from PIL import Image

    x = np.asarray(gray_image.resize((9, 8), Image.LANCZOS, reducing_gap=2.0), dtype=np.int16)
    return _to_int64((x[:, 1:] > x[:, :-1]).ravel())


def hamming(a: int, b: int) -> int:
    return bin((a ^ b) & ((1 << 64) - 1)).count("1")


HASHES = {"dcthash": dcthash, "phash": phash, "dhash": dhash}
