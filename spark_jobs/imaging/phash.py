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
bits whatever the picture looks like.

trimmed_dcthash: dcthash of the picture's content box (``content_box``): the uniform border an icon,
clipart or a scan sits in is left out, so a crop that takes 2-5% of that border, or of the content's edge,
changes the box by that much and the hash by little, where the whole-frame hashes see the content shift and
grow (a 5% crop moves both pHash and dcthash more than 10 bits for about 1 real icon in 7; both pHash and
this one for 1 in 25, docs/IMAGE_CLEANING.md). A picture without a uniform border (a photo) keeps nearly its
whole frame.

coarse_dcthash: the same content box, but only its 6x6 lowest frequencies (35 without the mean), each scaled
by the square root of its spatial frequency, projected on 64 directions as above. A crop that cuts into the
content moves and scales it by up to 5%, which turns the phase of frequency u by about u times that; the 8x8
frequencies whitened in full let the highest of them decide many bits, so 1 cropped real picture in 11 lands
more than 10 bits away on trimmed_dcthash, and 1 in 40 on this one. Fewer, lower frequencies also tell
unrelated pictures apart less well (4x more pairs of generated pictures within 10 bits), so a pair it
finds must also be within ``settings.GUARD_REACH`` bits on trimmed_dcthash (``HASH_GUARDS``), which
unrelated pictures (about 32 bits apart) almost never are (docs/IMAGE_CLEANING.md).

small_dcthash: dcthash (the whole frame), for pictures of at most ``SMALL_SIDE`` px on the shorter side only (null for
larger ones, which then have no tables of this kind). A 16 px icon's content box covers most of its frame and
moves by a good share of it when the icon is resized to 8-12 px (the edges blur across the tolerance), so
the trimmed hashes of 16 px icons resized to 50% were within reach for 0.71 of real icons; the whole frame
does not move (0.97, docs/IMAGE_CLEANING.md).

The default candidates are the union of trimmed_dcthash, the guarded coarse_dcthash and small_dcthash (decode.py).

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
_COARSE = ((_U < 6) & (_V < 6)).ravel()[1:]   # coarse_dcthash: the 35 of the 63 below 6 in both directions
_COARSE_WEIGHT = np.sqrt(_WHITEN[_COARSE])     # half whitened (the module text)
_COARSE_PROJECT = _directions(64, int(_COARSE.sum()))


TRIM_TOLERANCE = 24   # grey levels from the border colour that still count as border (JPEG ringing stays under)
TRIM_MASS = 0.005     # the box leaves out this share of the content's weight on each side (stray pixels, noise)
_TRIM_SIDE = 128      # the box is found on a copy whose longer side is reduced to about this


def _reduced(gray_image):
    """(a copy whose longer side is at most about ``_TRIM_SIDE``, the factor)."""
    k = max(1, -(-max(gray_image.size) // _TRIM_SIDE))
    return (gray_image.reduce(k) if k > 1 else gray_image), k


def _box_of(small) -> tuple[float, float, float, float] | None:
    """``content_box`` in the coordinates of the reduced copy ``small``, to a fraction of a pixel: each side is
    where the cumulative weight, taken as growing evenly across each pixel, reaches ``TRIM_MASS``. Whole pixels
    moved a small icon's box by up to one pixel in 16 when it was resized, and its trimmed hash with it (a 16-24
    px icon resized to 75% stayed within 10 bits for 0.92 of real icons; with fractions 0.96, docs/IMAGE_CLEANING.md)."""
    a = np.asarray(small, dtype=np.float32)
    border = float(np.median([a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]]))
    weight = np.abs(a - border)
    weight[weight <= TRIM_TOLERANCE] = 0
    total = float(weight.sum())
    if total <= 0:
        return None

    def span(profile: np.ndarray) -> tuple[float, float]:
        cum = np.concatenate([[0.0], np.cumsum(profile, dtype=np.float64) / total])  # the weight left of each edge
        edges = np.arange(len(cum), dtype=np.float64)
        return float(np.interp(TRIM_MASS, cum, edges)), float(np.interp(1 - TRIM_MASS, cum, edges))

    (x0, x1), (y0, y1) = span(weight.sum(axis=0)), span(weight.sum(axis=1))
    x0, x1 = _at_least(x0, x1, small.width)
    y0, y1 = _at_least(y0, y1, small.height)
    return x0, y0, x1, y1


MIN_BOX_SHARE = 0.125  # a box side narrower than this share of the frame is widened to it, about its centre


def _at_least(lo: float, hi: float, size: int) -> tuple[float, float]:
    """(lo, hi) widened about its centre to at least MIN_BOX_SHARE of ``size``, kept inside the frame. A thin
    line (a 'minimize' glyph) has a box of a few pixels; a fixed pixel floor (fall back to the whole frame
    under 4 px) would put a 32 px and a 96 px rendition of one glyph on either side of the step, 35 bits
    apart. A share of the frame is the same at every size."""
    need = MIN_BOX_SHARE * size
    if hi - lo >= need:
        return lo, hi
    centre = (lo + hi) / 2
    lo = min(max(0.0, centre - need / 2), size - need)
    return lo, lo + need


def content_box(gray_image) -> tuple[float, float, float, float] | None:
    """(left, top, right, bottom) of the picture's content, or None for the whole picture (nothing but border;
    a side under ``MIN_BOX_SHARE`` of the frame is widened to it, ``_at_least``). Border colour: the median of the four corners. Each pixel weighs its distance from
    that colour (none within ``TRIM_TOLERANCE``); the box keeps all but ``TRIM_MASS`` of the weight on each side,
    so the box depends on the content, not on a single stray pixel or on how a brightness change moved a faint
    shadow. Found on a copy reduced to about ``_TRIM_SIDE`` px, to a fraction of its pixels (``_box_of``)."""
    small, k = _reduced(gray_image)
    box = _box_of(small)
    if box is None:
        return None
    w, h = gray_image.size
    return (box[0] * k, box[1] * k, min(w, box[2] * k), min(h, box[3] * k))


def _trimmed_low(gray_image) -> np.ndarray:
    """``_low`` of the content box, from the reduced copy the box was found on (cheap on large pictures)."""
    small, _ = _reduced(gray_image)
    return _low(small, _box_of(small))


def _to_int64(bits: np.ndarray) -> int:
    value = int((bits.astype(np.uint64) * _WEIGHTS).sum(dtype=np.uint64))
    return value - (1 << 64) if value >= 1 << 63 else value


def _low(gray_image, box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """The 8x8 lowest DCT frequencies of the 32x32 thumbnail (of ``box`` only, if given), row-major (the mean
    first)."""
    from PIL import Image

    x = np.asarray(gray_image.resize((_N, _N), Image.LANCZOS, box=box, reducing_gap=2.0), dtype=np.float64)
    return (_DCT @ x @ _DCT.T)[:8, :8].ravel()


def _phash_bits(low: np.ndarray) -> int:
    return _to_int64(low > np.median(low))


def _simhash(scaled: np.ndarray, directions: np.ndarray) -> int:
    """Bit i: the sign of ``scaled`` projected on direction i."""
    if np.abs(scaled).max() < 1e-6:  # one flat colour: rounding noise would draw random bits
        return 0
    return _to_int64(directions @ scaled > 0)


def _dcthash_bits(low: np.ndarray) -> int:
    return _simhash(low[1:] * _WHITEN, _PROJECT)


def _coarse_bits(low: np.ndarray) -> int:
    return _simhash(low[1:][_COARSE] * _COARSE_WEIGHT, _COARSE_PROJECT)


def phash(gray_image) -> int:
    """``gray_image``: a Pillow image (any size, mode L)."""
    return _phash_bits(_low(gray_image))


def dcthash(gray_image) -> int:
    """``gray_image``: a Pillow image (any size, mode L); see the module text."""
    return _dcthash_bits(_low(gray_image))


def trimmed_dcthash(gray_image) -> int:
    """dcthash of ``content_box`` (the module text)."""
    return _dcthash_bits(_trimmed_low(gray_image))


def coarse_dcthash(gray_image) -> int:
    """The content box's 6x6 lowest frequencies (the module text)."""
    return _coarse_bits(_trimmed_low(gray_image))


SMALL_SIDE = 32  # small_dcthash: pictures whose shorter side is at most this (px)


def _is_small(gray_image) -> bool:
    return min(gray_image.size) <= SMALL_SIDE


def small_dcthash(gray_image) -> int | None:
    """dcthash of a picture of at most SMALL_SIDE px on its shorter side, else None (the module text)."""
    return dcthash(gray_image) if _is_small(gray_image) else None


def dhash(gray_image) -> int:
    from PIL import Image

    x = np.asarray(gray_image.resize((9, 8), Image.LANCZOS, reducing_gap=2.0), dtype=np.int16)
    return _to_int64((x[:, 1:] > x[:, :-1]).ravel())


def hamming(a: int | None, b: int | None) -> int:
    """Bits apart; 64 (never within reach) when either picture has no such hash (small_dcthash of a large one)."""
    if a is None or b is None:
        return 64
    return bin((a ^ b) & ((1 << 64) - 1)).count("1")


HASHES = {"dcthash": dcthash, "phash": phash, "trimmed_dcthash": trimmed_dcthash, "coarse_dcthash": coarse_dcthash,
          "small_dcthash": small_dcthash, "dhash": dhash}
# the hashes made from the DCT of a 32x32 thumbnail: (of the content box?, bits from the frequencies)
_FROM_LOW = {"dcthash": (False, _dcthash_bits), "phash": (False, _phash_bits), "trimmed_dcthash": (True, _dcthash_bits),
             "coarse_dcthash": (True, _coarse_bits), "small_dcthash": (False, _dcthash_bits)}
# hashes only some pictures have: name -> which (settings.PARTIAL_HASHES)
_ONLY_FOR = {"small_dcthash": _is_small}


def hashes(gray_image, names: tuple[str, ...]) -> list[int | None]:
    """The hashes ``names`` of one picture, in that order (None for small_dcthash of a larger picture); the DCT
    hashes of one frame share its thumbnail and DCT."""
    lows: dict[bool, np.ndarray] = {}

    def one(name: str) -> int | None:
        if name in _ONLY_FOR and not _ONLY_FOR[name](gray_image):
            return None
        if name not in _FROM_LOW:
            return HASHES[name](gray_image)
        trimmed, bits = _FROM_LOW[name]
        if trimmed not in lows:
            lows[trimmed] = _trimmed_low(gray_image) if trimmed else _low(gray_image)
        return bits(lows[trimmed])

    return [one(n) for n in names]
