"""Synthetic pictures with known ground truth, for tests and benchmarks (nothing to download).

``picture`` draws a smooth random background with a few shapes, so distinct seeds give distinct
pictures (the way photos differ) and PNG/JPEG compress them like real images. ``variant`` makes the
near-duplicate edits the dedup has to catch: resized, re-encoded at low JPEG quality, slightly cropped,
brightened.
"""
from __future__ import annotations

import io
import random

import numpy as np

VARIANTS = ("resized", "jpeg_q30", "cropped", "brightened")


def picture(seed: int, width: int, height: int):
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (rng.integers(3, 7), rng.integers(3, 7), 3), dtype=np.uint8)
    img = Image.fromarray(coarse, "RGB").resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 6))):
        x0, x1 = sorted(rng.integers(0, width, 2))
        y0, y1 = sorted(rng.integers(0, height, 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1 + 1, y1 + 1), fill=colour)
    return img


def variant(img, kind: str, seed: int = 0):
    """A near-duplicate of ``img``; returns (image, format to save it in)."""
    from PIL import Image, ImageEnhance

    rng = random.Random(seed)
    w, h = img.size
    if kind == "resized":
        f = rng.uniform(0.5, 0.8)
        return img.resize((max(8, int(w * f)), max(8, int(h * f))), Image.BILINEAR), "PNG"
    if kind == "jpeg_q30":
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=30)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), "JPEG"
    if kind == "cropped":
        dx, dy = int(w * rng.uniform(0.02, 0.05)), int(h * rng.uniform(0.02, 0.05))
        return img.crop((dx, dy, w - dx, h - dy)), "PNG"
    if kind == "brightened":
        return ImageEnhance.Brightness(img).enhance(rng.uniform(1.1, 1.25)), "PNG"
    raise ValueError(f"unknown variant {kind!r}; one of {', '.join(VARIANTS)}")


def encode(img, fmt: str, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buf.getvalue()
