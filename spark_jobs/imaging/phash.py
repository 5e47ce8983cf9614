"""Perceptual hashes as signed 64-bit ints (Spark ``bigint``), so Hamming distance is ``bit_count(a ^ b)``.

pHash: the sign of each of the 8x8 lowest DCT frequencies of a 32x32 grayscale thumbnail against their
median, as in the ``imagehash`` package. Very selective on unrelated pictures, but on symmetric or sparse
pictures (icons, clipart, line art) many coefficients sit at the median, so re-saving as JPEG or cropping
2-5% flips 12-28 of its 64 bits (measured on real icons, docs/IMAGE_CLEANING.md).

dcthash: the same 63 frequencies (8x8 without the mean), each scaled by its spatial frequency
``sqrt(u^2 + v^2)`` (natural pictures' spectra fall as 1/f, so this whitens them: unscaled, the two
lowest frequencies decide most bits and unrelated pictures with the same light-to-dark direction collide),
projected on 64 fixed random directions; bit i is the sign of projection i (SimHash). Two pictures whose
scaled vectors are an angle ``a`` apart differ in about ``64 * a / pi`` bits, so a small change flips few
bits whatever the picture looks like. The default candidates are the union of both hashes (decode.py).

dHash: the sign of horizontal gradients of a 9x8 thumbnail - cheaper, less robust to crops.
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
_U, _V = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
_WHITEN = np.sqrt(_U**2 + _V**2).ravel()[1:]  # 1/f whitening of the 63 frequencies (the module text)


def _to_int64(bits: np.ndarray) -> int:
    value = int((bits.astype(np.uint64) * _WEIGHTS).sum(dtype=np.uint64))
    return value - (1 << 64) if value >= 1 << 63 else value


def _low(gray_image) -> np.ndarray:
    """The 8x8 lowest DCT frequencies of the 32x32 thumbnail, row-major (the mean first)."""
    from PIL import Image

    x = np.asarray(gray_image.resize((_N, _N), Image.LANCZOS, reducing_gap=2.0), dtype=np.float64)
    return (_DCT @ x @ _DCT.T)[:8, :8].ravel()


def _phash_bits(low: np.ndarray) -> int:
    return _to_int64(low > np.median(low))


def _dcthash_bits(low: np.ndarray) -> int:
    scaled = low[1:] * _WHITEN
    if np.abs(scaled).max() < 1e-6:  # one flat colour: rounding noise would draw random bits
        return 0
    return _to_int64(_PROJECT @ scaled > 0)


def phash(gray_image) -> int:
    """``gray_image``: a Pillow image (any size, mode L)."""
    return _phash_bits(_low(gray_image))


def dcthash(gray_image) -> int:
    """``gray_image``: a Pillow image (any size, mode L); see the module text."""
    return _dcthash_bits(_low(gray_image))


def dhash(gray_image) -> int:
    from PIL import Image

    x = np.asarray(gray_image.resize((9, 8), Image.LANCZOS, reducing_gap=2.0), dtype=np.int16)
    return _to_int64((x[:, 1:] > x[:, :-1]).ravel())


def hamming(a: int, b: int) -> int:
    return bin((a ^ b) & ((1 << 64) - 1)).count("1")


HASHES = {"dcthash": dcthash, "phash": phash, "dhash": dhash}
_FROM_LOW = {"dcthash": _dcthash_bits, "phash": _phash_bits}


def hashes(gray_image, names: tuple[str, ...]) -> list[int]:
    """The hashes ``names`` of one picture, in that order; pHash and dcthash share one thumbnail and DCT."""
    low = _low(gray_image) if any(n in _FROM_LOW for n in names) else None
    return [_FROM_LOW[n](low) if n in _FROM_LOW else HASHES[n](gray_image) for n in names]
