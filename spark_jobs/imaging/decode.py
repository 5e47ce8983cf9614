"""Decode, verify, repair and resize one image file with Pillow: the per-record work of ``clean_images``.

Pure Python, no Spark: ``clean_images`` runs :func:`decode_one` inside ``mapInPandas`` and the benchmark's
single-process baseline runs the very same function in a loop.

Rules, in order (the first that fails names the quarantine reason):
  unreadable          the worker could not read the file (permissions, vanished since listing)
  empty_file          0 bytes
  not_an_image        Pillow recognises no image format in the bytes (whatever the extension)
  decompression_bomb  header width x height above ``max_pixels`` (checked before decoding)
  too_small           header width or height below ``min_size``
  unsupported_mode    a pixel mode with no defined conversion (LAB, HSV, float, ...)
  unsupported_format  a picture format Pillow cannot decode here: one it knows but draws only with a program
                      this host lacks (EPS needs Ghostscript; WMF/EMF decode only on Windows), or one it does
                      not open, recognised by its first bytes (HEIC, SVG, PDF, JPEG XL)
  truncated           the decoder fails part way (cut file, corrupt data)
Repairs (stated, never silent failures): EXIF orientation is applied (a broken EXIF block leaves the image
as stored); animated images use their first frame; palette/alpha images are composited on ``background``;
CMYK, YCbCr, 1-bit and 16-bit images are converted (16-bit scaled by 1/257, not clipped) to ``mode``.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, replace

import numpy as np

from shardline.config import folder_label, relative_path
from shardline.settings import MAX_IMAGE_SIDE, ImagesSettings, hash_names
from spark_jobs.common.files import PROBLEM_DETAIL, TooLarge, read_local
from spark_jobs.imaging.likeness import MIN_VISIBLE, SIDE, is_flat, thumbnail, visible_share
from spark_jobs.imaging.phash import hashes

RESIZE_POLICIES = ("pad", "crop", "stretch")
OUTPUT_FORMATS = ("PNG", "JPEG")
# Modes with a defined conversion to L/RGB; anything else is quarantined as unsupported_mode.
SUPPORTED_MODES = frozenset({"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr",
                             "I", "I;16", "I;16L", "I;16B", "I;16N"})
REASONS = ("unreadable", "empty_file", "not_an_image", "decompression_bomb", "too_small", "unsupported_mode",
           "unsupported_format", "truncated")
NEEDS_A_PROGRAM = frozenset({"EPS", "WMF"})  # Pillow's formats whose pixels come from outside Python


_IMAGES = ImagesSettings()


def colour(value: str) -> tuple[int, int, int]:
    """An RGB triple from a colour name or ``#rrggbb`` (``images.background``, ``images.pad_color``)."""
    from PIL import ImageColor

    try:
        return ImageColor.getrgb(value)[:3]
    except ValueError:
        raise ValueError(f"not a colour: {value!r} (try white, black or #rrggbb)") from None


@dataclass(frozen=True)
class ImageCleanConfig:
    """What ``decode_one`` needs, built from the run's ``[images]`` settings (``from_settings``); the defaults
    are those settings' defaults, never a second copy."""
    root_uri: str                         # corpus root as Spark sees it (file:/abs/path): ids and labels
    target_width: int = _IMAGES.size
    target_height: int = _IMAGES.size
    mode: str = _IMAGES.mode
    resize: str = _IMAGES.resize
    output_format: str = _IMAGES.format
    jpeg_quality: int = _IMAGES.jpeg_quality
    background: tuple[int, int, int] = colour(_IMAGES.background)  # transparent pixels are composited on this
    pad_color: tuple[int, int, int] = colour(_IMAGES.pad_color)    # the bars added by resize=pad
    min_size: int = _IMAGES.min_size
    max_pixels: int = _IMAGES.max_pixels
    max_file_bytes: int = _IMAGES.max_file_bytes
    hash: str = _IMAGES.near_dup_hash

    def __post_init__(self) -> None:
        # the settings hold every bound; these are the ones a caller can still break (WxH, a model's shape)
        replace(_IMAGES, mode=self.mode, resize=self.resize, format=self.output_format,
                jpeg_quality=self.jpeg_quality, min_size=self.min_size, max_pixels=self.max_pixels,
                max_file_bytes=self.max_file_bytes)
        for name in ("target_width", "target_height"):
            if not 1 <= getattr(self, name) <= MAX_IMAGE_SIDE:
                raise ValueError(f"{name} must be in 1..{MAX_IMAGE_SIDE}, got {getattr(self, name)}")
        try:
            hash_names(self.hash)
        except ValueError as exc:
            raise ValueError(f"hash {exc}") from None

    @classmethod
    def from_settings(cls, images: ImagesSettings, root_uri: str, size: tuple[int, int] | None = None,
                      mode: str | None = None) -> "ImageCleanConfig":
        """The run's settings; ``size`` (width, height) and ``mode`` where a model's input shape decides."""
        w, h = size or (images.size, images.size)
        return cls(root_uri=root_uri, target_width=w, target_height=h, mode=mode or images.mode,
                   resize=images.resize, output_format=images.format, jpeg_quality=images.jpeg_quality,
                   background=colour(images.background), pad_color=colour(images.pad_color),
                   min_size=images.min_size, max_pixels=images.max_pixels, max_file_bytes=images.max_file_bytes,
                   hash=images.near_dup_hash)

    @property
    def hashes(self) -> tuple[str, ...]:
        return hash_names(self.hash)


FIELDS = ("id", "source", "label", "image", "width", "height", "orig_width", "orig_height", "orig_format",
          "content_hash", "perceptual_hash", "reason", "detail")
# Near-duplicate matching only (spark_jobs/imaging/dedup.py), dropped before anything is written: every
# configured hash (``hashes``, in the configuration's order); the hashes and thumbnail of a transparent
# picture flattened onto the other extreme (black for a white background), so a copy someone flattened onto
# black still matches; whether the picture has transparency; thumbnails.
MATCH_FIELDS = ("opaque", "thumb", "hashes", "alt_hashes", "alt_thumb")


def record_id(rel: str) -> str:
    return "img-" + hashlib.sha1(rel.encode()).hexdigest()[:16]


def decode_one(path: str, content: bytes | None, cfg: ImageCleanConfig, problem: str | None = None) -> dict:
    """One file -> one record (``reason`` set when rejected). Ids derive from the path under the root."""
    from PIL import Image, UnidentifiedImageError

    rel = relative_path(path, cfg.root_uri)
    row = dict.fromkeys(FIELDS + MATCH_FIELDS)
    row.update(id=record_id(rel), source=rel, label=folder_label(rel))

    def reject(reason: str, detail: str) -> dict:
        row.update(reason=reason, detail=detail[:500])
        return row

    if problem is not None:  # an entry of the corpus root that is no readable file (spark_jobs/common/files.py)
        return reject(problem, PROBLEM_DETAIL)
    if content is None:  # listed only: read it here (local files), after a size check on the open file
        try:
            content = read_local(path, cfg.max_file_bytes)
        except TooLarge as exc:
            return reject("too_large", f"{exc.size} bytes > {cfg.max_file_bytes}")
        except MemoryError:
            return reject("too_large", "no memory to read it")
        except OSError as exc:
            return reject("unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
    if len(content) > cfg.max_file_bytes:
        return reject("too_large", f"{len(content)} bytes > {cfg.max_file_bytes}")
    if not content:
        return reject("empty_file", "0 bytes")
    Image.MAX_IMAGE_PIXELS = None  # our own limit below, with our own reason
    try:
        img = Image.open(io.BytesIO(content))
    except UnidentifiedImageError:
        known = undecodable_format(content)
        if known:
            return reject("unsupported_format", f"{known}: Pillow here cannot decode it; convert it to PNG or JPEG")
        return reject("not_an_image", f"{len(content)} bytes, no known image header")
    except Exception as exc:  # noqa: BLE001 - any header failure is a property of this file
        return reject("not_an_image", f"{type(exc).__name__}: {exc}")
    row.update(orig_width=img.width, orig_height=img.height, orig_format=img.format)
    if img.width * img.height > cfg.max_pixels:
        return reject("decompression_bomb", f"{img.width}x{img.height} > {cfg.max_pixels} pixels")
    if min(img.width, img.height) < cfg.min_size:
        return reject("too_small", f"{img.width}x{img.height} < {cfg.min_size}px")
    if img.mode not in SUPPORTED_MODES:
        return reject("unsupported_mode", f"mode {img.mode} has no conversion to {cfg.mode}")
    if img.format == "JPEG":
        # decode at the smallest DCT scale (1/2, 1/4, 1/8) that still covers everything made from it: the
        # stored size, the matching thumbnail and hash (either orientation); a large photo decodes 3-10x faster
        need = max(cfg.target_width, cfg.target_height, SIDE)
        img.draft(img.mode, (need, need))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()  # the first frame of an animation
    except Exception as exc:  # noqa: BLE001
        if img.format in NEEDS_A_PROGRAM:  # not a cut file: this host cannot draw it
            return reject("unsupported_format", f"{img.format}: {type(exc).__name__}: {exc}")
        return reject("truncated", f"{type(exc).__name__}: {exc}")
    source_img = upright(img)
    img = to_mode(source_img, cfg.mode, cfg.background)
    row["content_hash"] = hashlib.sha1(f"{img.mode}{img.size}".encode() + img.tobytes()).hexdigest()
    gray = img if img.mode == "L" else img.convert("L")
    row["hashes"] = hashes(gray, cfg.hashes)
    row["perceptual_hash"] = row["hashes"][0]
    row["thumb"] = thumbnail(img if img.mode == "RGB" else img.convert("RGB"))
    row["opaque"] = not has_alpha(source_img)
    other_bg = (0, 0, 0) if sum(cfg.background) >= 384 else (255, 255, 255)
    if not row["opaque"] and visible_share(source_img, other_bg) >= MIN_VISIBLE:
        # in the configured mode, like ``thumb``: a grey thumbnail never meets a colour one. Not when the other
        # extreme hides most of the picture: a black glyph with a green emblem is a green emblem on black, like
        # every other icon with that emblem, and a copy flattened there is no longer that picture
        other = to_mode(source_img, cfg.mode, other_bg)
        if not is_flat(other.convert("RGB")):
            other_gray = other if other.mode == "L" else other.convert("L")
            row["alt_hashes"] = hashes(other_gray, cfg.hashes)
            row["alt_thumb"] = thumbnail(other.convert("RGB"))
    out_img = resize(img, cfg)
    out = io.BytesIO()
    if cfg.output_format == "JPEG":
        out_img.save(out, format="JPEG", quality=cfg.jpeg_quality)
    else:
        out_img.save(out, format="PNG")
    row.update(image=out.getvalue(), width=out_img.width, height=out_img.height)
    return row


HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")


def undecodable_format(content: bytes) -> str | None:
    """The name of a picture format that Pillow does not open, recognised by its first bytes: iPhone photos
    (HEIC), vector drawings (SVG), PDF pages, JPEG XL. None for anything else."""
    head = content[:1024]
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "HEIF/HEIC"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")):
        return "JPEG XL"
    if head.startswith(b"%PDF-"):
        return "PDF"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or text.startswith((b"<?xml", b"<!doctype svg")) and b"<svg" in text:
        return "SVG"
    return None


def upright(img):
    """Apply the EXIF orientation tag; an unreadable EXIF block leaves the image as stored."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - broken metadata is not a broken picture
        return img


def has_alpha(img) -> bool:
    return img.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in img.info


def to_mode(img, mode: str, background: tuple[int, int, int]):
    """Any supported mode -> ``mode`` (L or RGB), compositing transparency on ``background``."""
    from PIL import Image

    if img.mode.startswith("I"):  # 16/32-bit integer grayscale: scale to 8 bits, do not clip
        arr = np.asarray(img, dtype=np.float64)
        scale = 257.0 if arr.max(initial=0) <= 65535 else 16843009.0
        img = Image.fromarray(np.clip(np.rint(arr / scale), 0, 255).astype(np.uint8), mode="L")
    if has_alpha(img):
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        img = Image.alpha_composite(base, rgba).convert("RGB")
    elif img.mode not in ("L", "RGB"):
        img = img.convert("RGB")  # P, 1, CMYK, YCbCr, RGBX
    return img if img.mode == mode else img.convert(mode)


def resize(img, cfg: ImageCleanConfig):
    from PIL import Image, ImageOps

    size = (cfg.target_width, cfg.target_height)
    if img.size == size:
        return img
    if cfg.resize == "stretch":
        return img.resize(size, Image.BILINEAR, reducing_gap=3.0)
    if cfg.resize == "crop":
        return ImageOps.fit(img, size, Image.BILINEAR)
    color = cfg.pad_color[0] if img.mode == "L" else cfg.pad_color
    return ImageOps.pad(img, size, Image.BILINEAR, color=color)
