"""The check that confirms a near-duplicate candidate: do two pictures look the same, region by region?

A 64-bit perceptual hash (``phash.py``) finds candidates cheaply but is coarse: on icons and clipart,
distinct pictures with the same layout (battery and volume levels, emoji faces, a speech bubble with and
without a dash) sit as close as a re-saved copy. So each candidate pair is confirmed on small colour
thumbnails:

- ``thumbnail``: the picture (already flattened, in the job's colour mode) resampled to 36 x 36 with a
  Lanczos filter, 3,888 bytes. Not box averaging: it aliases the thin lines of small icons differently in a
  48 px original and in its 47 px crop or 24 px copy (Pillow's box filter does not smooth when it enlarges),
  which misses some 2% crops and 50% resizes of real icons (figures in docs/IMAGE_CLEANING.md);
- ``differences``: both thumbnails normalised by their own luminance mean and spread (brightness and
  contrast changes cancel); the central 32 x 32 of one is compared with the other resampled at each of 5
  scales (0.95-1.05: crops of up to 5%, which also shift and enlarge what is left) and 81 shifts (up to 2
  pixels in half-pixel steps: a sharp edge half a pixel off costs as much as a changed detail), in both
  directions; per 4 x 4 block the mean absolute difference over the colour channels; a
  pair's difference is the *second* largest block difference at the best alignment (one block at a corner
  where a crop removed something does not decide). Noise from re-encoding and edge shifts from resizing
  average out inside a block; a changed region (a level, an emblem, a mouth) does not.
- ``spread_ratio``: the ratio of the two luminance spreads. Normalising cancels contrast, including the
  difference between a grey glyph and the same glyph in black, which are different icons; a confirmed
  pair's spreads are within ``MAX_SPREAD_RATIO`` (a 15% contrast or brightness change moves it by about 1.15).

A pair whose smaller picture is under ``SIDE`` px and that the check turns away as it is gets a second look at
that picture's resolution (``low_passed``; a second look, because low-passing also lowers the spread the
check normalises by, and two renditions a theme drew apart at two sizes then drift apart): a 20
px icon and its 10 px copy, both enlarged to the thumbnail, differ in the sharpness of every edge, which is
detail the smaller one never had (the check turned away 12% of 16-24 px icons resized to 50%; none so,
docs/IMAGE_CLEANING.md); its colour at half that, as a JPEG re-encode keeps it.

Two transparent pictures get a second chance: a brightness change darkens an icon's fill but not the
transparent background it is flattened on, so on white the picture changes region by region. Flattened
on black, the same change is a pure scaling that normalising cancels. A pair of transparent pictures whose
difference flattened on the other extreme is at most ``DARK_LIMIT`` x the limit is confirmed when its
difference on the configured background is at most ``DARK_WIDEN`` x the limit, or when the two opacities
(``alpha_thumbnail``) look alike, and in both cases when the two pictures, each flattened onto its own mean
colour, are within the limit (``on_own_colour``: what is drawn inside an outline decides there, so a page
with lines and a blank page stay two icons) (docs/IMAGE_CLEANING.md). Black alone is not enough: two
different dark glyphs with the same coloured emblem are one picture there (and a picture that the other
extreme mostly hides has no such thumbnail at all, ``visible_share``).

Measured on real icons and photo tiles (``benchmarks/dedup_quality.py``; figures in docs/IMAGE_CLEANING.md).
"""
from __future__ import annotations

import numpy as np

SIDE = 36      # thumbnail side; the compared window is CORE
CORE = 32
BLOCK = 4
SHIFTS = (-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2)
COARSE_SHIFTS = (-2, -1, 0, 1, 2)  # the first pass of look_alike
REFINE_MARGIN = 0.3  # look_alike refines pairs whose first pass is within this of the limit
SCALES = (0.95, 0.975, 1.0, 1 / 0.975, 1 / 0.95)
MAX_SPREAD_RATIO = 1.35
_CHUNK = 256  # pairs per vectorised step
DARK_WIDEN = 1.8  # transparent pairs: on the configured background at most this x the limit, and ...
DARK_LIMIT = 0.6  # ... on the other extreme at most this x the limit (0.36 box thumbnails, 0.45 before on_own_colour)


def thumbnail(rgb_image) -> bytes:
    """A Pillow RGB image -> SIDE x SIDE x 3 uint8 bytes."""
    from PIL import Image

    return rgb_image.resize((SIDE, SIDE), Image.LANCZOS, reducing_gap=2.0).tobytes()


def low_passed(thumb: bytes, side: int) -> bytes:
    """The thumbnail as a picture of ``side`` x ``side`` px would give it: reduced to that and enlarged back
    (Lanczos), so it keeps only the detail such a picture can hold; its colour (YCbCr chroma) at half that, as
    JPEG stores it (4:2:0). In a 16 px icon a JPEG re-encode smears every colour edge over two pixels, an
    eighth of the picture, while its brightness keeps the detail: compared in full colour, 16-24 px icons at 80%
    and JPEG quality 70 were confirmed 0.88 of the time, with the chroma halved 0.95, with no more distinct
    pairs joined (docs/IMAGE_CLEANING.md)."""
    from PIL import Image

    def through(im, n: int):
        return im.resize((max(1, n), max(1, n)), Image.LANCZOS).resize((SIDE, SIDE), Image.LANCZOS)

    y, cb, cr = Image.frombytes("RGB", (SIDE, SIDE), thumb).convert("YCbCr").split()
    return Image.merge("YCbCr", (through(y, side), through(cb, side // 2), through(cr, side // 2))).convert("RGB").tobytes()


def _at_resolution(sides, *columns: list) -> list[list]:
    """``columns`` of thumbnails (or None), each pair ``i`` with ``sides[i]`` under SIDE low-passed to it."""
    out = [list(c) for c in columns]
    for i, side in enumerate(sides):
        if side is not None and side < SIDE:
            for c in out:
                if c[i] is not None:
                    c[i] = low_passed(c[i], int(side))
    return out


def is_flat(rgb_image) -> bool:
    """A picture with nothing in it (one colour, e.g. a black glyph flattened onto black)."""
    from PIL import Image

    gray = np.asarray(rgb_image.convert("L").resize((32, 32), Image.BOX), dtype=np.float32)
    return float(gray.std()) < 4.0


MIN_VISIBLE = 0.5  # a transparent picture flattened on a background that hides more of it is not that picture
_VISIBLE_LEVEL = 48  # colour distance from the background (any channel) that a person still sees


def visible_share(img, background: tuple[int, int, int]) -> float:
    """Share of a transparent picture's opaque pixels (alpha >= 50%) that stay visible when it is flattened on
    ``background``: 0 for a black glyph on black; about 0.1-0.5 for a black symbolic icon with a coloured
    emblem, of which only the emblem is left on black (and every icon with that emblem looks the same there).
    Found on a copy reduced to about 128 px."""
    rgba = img if img.mode == "RGBA" else img.convert("RGBA")  # no full-size copy of an RGBA picture
    k = max(1, min(rgba.size) // 128)
    a = np.asarray(rgba.reduce(k) if k > 1 else rgba, dtype=np.float32)
    alpha = a[..., 3:] / 255.0
    opaque = alpha[..., 0] >= 0.5
    if not opaque.any():
        return 0.0
    flat = a[..., :3] * alpha + np.asarray(background, dtype=np.float32) * (1 - alpha)
    seen = np.abs(flat - np.asarray(background, dtype=np.float32)).max(axis=2) > _VISIBLE_LEVEL
    return float((seen & opaque).sum() / opaque.sum())


def _interpolation(scale: float, shift: float) -> np.ndarray:
    """CORE x SIDE: row i samples a SIDE-pixel line bilinearly at the centre + (i - centre) * scale + shift."""
    centre = (SIDE - 1) / 2
    at = np.clip(centre + (np.arange(CORE) + (SIDE - CORE) / 2 - centre) * scale + shift, 0, SIDE - 1.000001)
    lo = np.floor(at).astype(int)
    out = np.zeros((CORE, SIDE))
    out[np.arange(CORE), lo] += 1 - (at - lo)
    out[np.arange(CORE), lo + 1] += at - lo
    return out


# Per scale: the (shift, block row) x SIDE matrices that resample a line and average it into blocks, so the
# block means of every aligned copy are two matrix products (block means are linear).
_BLOCKS = np.kron(np.eye(CORE // BLOCK), np.full((1, BLOCK), 1 / BLOCK))


def _alignments(shifts: tuple) -> np.ndarray:
    return np.array([np.concatenate([_BLOCKS @ _interpolation(s, d) for d in shifts]) for s in SCALES], dtype=np.float32)


_FINE, _COARSE = _alignments(SHIFTS), _alignments(COARSE_SHIFTS)


def _normalised(thumbs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    t = np.frombuffer(b"".join(thumbs), dtype=np.uint8).reshape(-1, SIDE, SIDE, 3).astype(np.float32)
    lum = t.mean(axis=3)
    spread = lum.std(axis=(1, 2)) + 8.0
    return (t - lum.mean(axis=(1, 2))[:, None, None, None]) / spread[:, None, None, None], spread


def _one_way(x: np.ndarray, y: np.ndarray, aligns: np.ndarray) -> np.ndarray:
    """Second largest block difference of x's core against y at its best alignment, per pair."""
    n, k = len(x), CORE // BLOCK
    m = aligns.shape[1] // k
    lo = (SIDE - CORE) // 2
    target = x[:, lo:lo + CORE, lo:lo + CORE].reshape(n, k, BLOCK, k, BLOCK, 3).mean(axis=(2, 4))  # n,k,k,3
    target = target.transpose(1, 0, 3, 2)[None, :, :, :, None, :]                                    # 1,k,n,3,1,k
    lines = np.ascontiguousarray(y.transpose(1, 0, 2, 3)).reshape(SIDE, -1)                          # SIDE, (n,SIDE,3)
    best = np.full(n, np.inf, dtype=np.float32)
    for align in aligns:                                                                             # (m*k, SIDE)
        rows = (align @ lines).reshape(m * k, n, SIDE, 3).transpose(0, 1, 3, 2).reshape(-1, SIDE)
        blocks = (rows @ align.T).reshape(m, k, n, 3, m, k)                                         # dy,r,n,c,dx,col
        diff = np.abs(blocks - target).mean(axis=3)                                                  # dy,r,n,dx,col
        diff = diff.transpose(0, 2, 3, 1, 4).reshape(m, n, m, k * k)
        second = np.partition(diff, k * k - 2, axis=-1)[..., k * k - 2]                              # dy,n,dx
        best = np.minimum(best, second.min(axis=(0, 2)))
    return best


def differences(a: list[bytes], b: list[bytes], aligns: np.ndarray = _FINE) -> tuple[np.ndarray, np.ndarray]:
    """(difference, spread ratio) of each pair of thumbnails ``a[i]``, ``b[i]``: 0 and 1 for the same picture;
    see the module text. Symmetric."""
    diff, ratio = np.zeros(len(a), dtype=np.float32), np.ones(len(a), dtype=np.float32)
    for lo in range(0, len(a), _CHUNK):  # bounded memory whatever the Arrow batch size (~40 MB per chunk)
        x, sx = _normalised(a[lo:lo + _CHUNK])
        y, sy = _normalised(b[lo:lo + _CHUNK])
        diff[lo:lo + len(x)] = np.minimum(_one_way(x, y, aligns), _one_way(y, x, aligns))
        ratio[lo:lo + len(x)] = np.maximum(sx / sy, sy / sx)
    return diff, ratio


def _difference_near(a: list[bytes], b: list[bytes], bound: float, reach=None) -> tuple[np.ndarray, np.ndarray]:
    """``differences`` at whole-pixel shifts, refined at half pixels where that is over ``bound`` by at most
    ``reach`` (default: ``bound``; a number or one per pair) + REFINE_MARGIN."""
    diff, ratio = differences(a, b, _COARSE)
    reach = bound if reach is None else reach
    near = np.nonzero((diff > bound) & (diff <= reach + REFINE_MARGIN) & (ratio <= MAX_SPREAD_RATIO))[0]
    if len(near):
        diff[near] = differences([a[i] for i in near], [b[i] for i in near], _FINE)[0]
    return diff, ratio


def alpha_thumbnail(on_white: bytes, on_black: bytes) -> bytes:
    """The opacity of a transparent picture from its two flattened thumbnails (either order): flattened on
    white a pixel is a*c + (1-a)*255, on black a*c, so their difference is (1-a)*255 (the thumbnail is a
    linear resampling; what Pillow's clipping of Lanczos overshoot breaks is small)."""
    return (255 - _gap(on_white, on_black)).astype(np.uint8).tobytes()


def _gap(one: bytes, other: bytes) -> np.ndarray:
    """|white - black| per pixel and channel of two flattened thumbnails: (1 - alpha) * 255."""
    return np.abs(np.frombuffer(one, dtype=np.uint8).astype(np.int16) - np.frombuffer(other, dtype=np.uint8).astype(np.int16))


def _opacity_and_colour(one: bytes, other: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(alpha in 0-1, one per pixel: ``alpha_thumbnail``'s opacity averaged over the channels; unpremultiplied
    colour, 0-255: the black-flattened pixel / alpha) from the two flattened thumbnails, in either order (the
    job's background may be white or black; on black a pixel is a*c, never more than a*c + (1-a)*255 on white)."""
    alpha = 1 - _gap(one, other).astype(np.float32).reshape(-1, 3).mean(axis=1, keepdims=True) / 255.0
    black = np.minimum(np.frombuffer(one, dtype=np.uint8), np.frombuffer(other, dtype=np.uint8)).astype(np.float32).reshape(-1, 3)
    return alpha, np.clip(black / np.maximum(alpha, 0.02), 0, 255) * (alpha > 0.02)


def _mean_colour(alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    return (alpha * colour).sum(axis=0) / max(float(alpha.sum()), 1e-6)


def on_own_colour(a_white: bytes, a_black: bytes, b_white: bytes, b_black: bytes) -> tuple[bytes, bytes]:
    """Two transparent pictures (each given by its white- and black-flattened thumbnails, in either order),
    each flattened onto its own mean colour, after the darker one is brightened, saturating at 255, until its
    mean brightness is the other's.

    On its own mean colour an icon's silhouette against the background counts little and what is drawn inside
    it counts fully: a page with lines of text and a blank page differ, where on black both are mostly the
    same bright page (and on white both a pale page). A brightness change c -> s*c, or a contrast change
    c -> m + s*(c - m), of the colours is an affine change of such a thumbnail, which the normalisation of
    ``differences`` cancels, except where it saturates: brightening a pale fill by 15% turns it white and
    thins its faint details. Brightening the darker picture of the pair the same way puts both at the same
    saturation."""
    (aa, ca), (ab, cb) = _opacity_and_colour(a_white, a_black), _opacity_and_colour(b_white, b_black)
    mean_a, mean_b = _mean_colour(aa, ca).mean(), _mean_colour(ab, cb).mean()
    lift_a = mean_a <= mean_b  # a is the darker one
    alpha, colour = (aa, ca) if lift_a else (ab, cb)
    lo, hi = 1.0, 2.0  # the factor that brightens the darker to the brighter's mean: bisection (monotone)
    for _ in range(12):
        mid = (lo + hi) / 2
        if _mean_colour(alpha, np.minimum(255.0, colour * mid)).mean() < max(mean_a, mean_b):
            lo = mid
        else:
            hi = mid
    lifted = np.minimum(255.0, colour * (lo + hi) / 2)
    if lift_a:
        ca = lifted
    else:
        cb = lifted

    def flat(alpha: np.ndarray, colour: np.ndarray) -> bytes:
        return np.clip(alpha * colour + (1 - alpha) * _mean_colour(alpha, colour), 0, 255).astype(np.uint8).tobytes()

    return flat(aa, ca), flat(ab, cb)


def look_alike(a: list[bytes], b: list[bytes], max_difference: float,
               a_dark: list[bytes | None] | None = None, b_dark: list[bytes | None] | None = None,
               sides: list[int | None] | None = None) -> np.ndarray:
    """Which pairs are confirmed: difference at most ``max_difference`` and spreads within MAX_SPREAD_RATIO;
    or, for a pair with both ``a_dark[i]`` and ``b_dark[i]`` (two transparent pictures, flattened on the other
    extreme), difference at most DARK_LIMIT x the limit there, either at most DARK_WIDEN x the limit here
    (spreads within MAX_SPREAD_RATIO) or opacities alike (``alpha_thumbnail``: difference at most the limit,
    spreads within MAX_SPREAD_RATIO, and the spreads there too), and on their own colours (``on_own_colour``)
    at most the limit.

    The opacity route is for icons with a light fill whose brightness changed: on white the fill darkens or
    lightens against a background that does not, so the difference and the spread ratio here can be anything
    (0.5-0.8 and 1.5-2.3 on real icons), while shape and colours, up to a scaling, are unchanged. Either way a
    second-chance pair must also be within the limit on its own colours (``on_own_colour``): two distinct
    icons with one outline (document icons at 16-48 px, whose faint lines or charts barely count on black)
    pass the opacity test and the bound on black, and differ there.

    Whole-pixel shifts first; half-pixel shifts only for the pairs that came within REFINE_MARGIN of their
    bound (the finer grid lowered a difference by at most 0.26 on 12,495 real candidate pairs, and most
    candidates of a corpus are far above the limit).

    ``sides``: per pair the shorter side (px) of the smaller picture; a pair under SIDE that is not confirmed as
    it is gets a second look at that resolution (``low_passed``, the module text). Not instead: low-passing
    also lowers the spread that ``differences`` normalises by, so two renditions an icon theme drew apart at
    16 and 48 px (not a resize of one another) came out further apart (0.31 -> 0.35)."""
    a_dark, b_dark = a_dark or [None] * len(a), b_dark or [None] * len(a)
    same = _look_alike(a, b, max_difference, a_dark, b_dark)
    if sides is None:
        return same
    again = [i for i, side in enumerate(sides) if not same[i] and side is not None and side < SIDE]
    if again:
        low = _at_resolution([sides[i] for i in again], *([col[i] for i in again] for col in (a, b, a_dark, b_dark)))
        same[again] = _look_alike(*low[:2], max_difference, *low[2:])
    return same


def _look_alike(a: list[bytes], b: list[bytes], max_difference: float, a_dark: list, b_dark: list) -> np.ndarray:
    """``look_alike`` on the thumbnails as they are."""
    widened = max_difference * DARK_WIDEN
    dark = np.array([x is not None and y is not None for x, y in zip(a_dark, b_dark)], dtype=bool)
    diff, ratio = _difference_near(a, b, max_difference, np.where(dark, widened, max_difference))
    same = (diff <= max_difference) & (ratio <= MAX_SPREAD_RATIO)
    second = np.nonzero(~same & dark)[0]
    if len(second):
        on_dark, dark_ratio = _difference_near([a_dark[i] for i in second], [b_dark[i] for i in second],
                                               max_difference * DARK_LIMIT)
        plain = ((diff[second] <= widened) & (ratio[second] <= MAX_SPREAD_RATIO)
                 & (on_dark <= max_difference * DARK_LIMIT))
        ask = np.nonzero(~plain & (on_dark <= max_difference * DARK_LIMIT) & (dark_ratio <= MAX_SPREAD_RATIO))[0]
        if len(ask):
            shape, shape_ratio = _difference_near([alpha_thumbnail(a[second[j]], a_dark[second[j]]) for j in ask],
                                                  [alpha_thumbnail(b[second[j]], b_dark[second[j]]) for j in ask],
                                                  max_difference)
            plain[ask] = (shape <= max_difference) & (shape_ratio <= MAX_SPREAD_RATIO)
        inside = np.nonzero(plain)[0]
        if len(inside):
            own = [on_own_colour(a[second[j]], a_dark[second[j]], b[second[j]], b_dark[second[j]]) for j in inside]
            plain[inside] = _difference_near([x for x, _ in own], [y for _, y in own], max_difference)[0] <= max_difference
        same[second] = plain
    return same
