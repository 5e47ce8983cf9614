"""Small icons and combined edits: what the image job's near-duplicate stage finds, in-process.

``dedup_quality.py`` runs the real job on one rendition per icon of at least 48 px, and one edit per copy.
Icon themes also draw every icon at 16-32 px, and a copy met in the wild has often been through several
edits at once (resized, then saved as JPEG on white). This measures, on real material (all PNG renditions
under /usr/share/icons, grouped by size, and tiles of scikit-learn's sample photographs):

- copies: one copy of each distinct base picture per edit (single and combined), made with Pillow, decoded
  as the job does (``hash_choice.decoded``); found = a candidate of the default rule (trimmed dcthash within
  the threshold, or coarse dcthash within it and trimmed within ``GUARD_REACH``) and confirmed by
  ``likeness.look_alike`` with the default limit;
- distinct pairs: every pair of distinct base pictures of a band that the default rule makes a candidate,
  and how many of them the check confirms (each one a wrong flag);

for the code before 45db6da (trimmed and guarded coarse dcthash, content box to whole pixels; thumbnails
compared as they are) and now (the default hashes: the same with the box to a fraction of a pixel,
``phash._box_of``, and ``small_dcthash`` for pictures of 32 px and less; a pair compared at the resolution of
its smaller picture, ``likeness.low_passed``). Writes a section of docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/small_pictures.py [--per-band 300] [--seed 11]
"""
from __future__ import annotations

import argparse
import functools
import io
import random
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.dedup_quality import (  # noqa: E402
    ICONS,
    _blank,
    cropped,
    distinct_images,
    encoded,
    enhanced,
    flat,
    photo_tiles,
    resized,
)
from benchmarks.hash_choice import decoded  # noqa: E402
from benchmarks.report import update_section  # noqa: E402


def band_icons(limit: int, rng: random.Random, lo: int, hi: int) -> list[tuple[str, object]]:
    """(name, RGBA image): one rendition per (theme, icon name) with its shorter side in lo..hi px."""
    from PIL import Image

    found: dict[tuple[str, str], Path] = {}
    for path in sorted(ICONS.glob("*/*/*/*.png")):
        try:
            with Image.open(path) as im:
                side = min(im.size)
        except Exception:  # noqa: BLE001 - a broken icon is not material
            continue
        if lo <= side <= hi:
            found.setdefault((path.parts[-4], path.stem), path)
    chosen = rng.sample(sorted(found.values()), min(limit, len(found)))
    return [(f"icon/{p.parts[-4]}/{p.stem}", Image.open(p).convert("RGBA")) for p in chosen]


# (name, background the copy is flattened on or None, make(RGBA image, rng) -> file bytes)
EDITS = [
    ("resize 50%", None, lambda im, r: encoded(resized(im, 0.5), "PNG")),
    ("resize 75%", None, lambda im, r: encoded(resized(im, 0.75), "PNG")),
    ("resize 80% + JPEG 70 on white", (255, 255, 255), lambda im, r: encoded(flat(resized(im, 0.8)), "JPEG", quality=70)),
    ("resize 50% + JPEG 30 on white", (255, 255, 255), lambda im, r: encoded(flat(resized(im, 0.5)), "JPEG", quality=30)),
    ("crop 5% + resize 60% + JPEG 50", (255, 255, 255),
     lambda im, r: encoded(flat(resized(cropped(im, 0.05, r), 0.6)), "JPEG", quality=50)),
    ("brightness +15% + contrast -15% + JPEG 60", (255, 255, 255),
     lambda im, r: encoded(flat(enhanced(enhanced(im, "brightness", 1.15), "contrast", 0.85)), "JPEG", quality=60)),
    ("brightness -15% + contrast +15% + resize 75%", None,
     lambda im, r: encoded(resized(enhanced(enhanced(im, "brightness", 0.85), "contrast", 1.15), 0.75), "PNG")),
    ("resize 75% on black", (0, 0, 0), lambda im, r: encoded(flat(resized(im, 0.75), (0, 0, 0)), "PNG")),
    ("JPEG 40 on black", (0, 0, 0), lambda im, r: encoded(flat(im, (0, 0, 0)), "JPEG", quality=40)),
    ("crop 5% + brightness -15%", None, lambda im, r: encoded(cropped(enhanced(im, "brightness", 0.85), 0.05, r), "PNG")),
]


def _integer_box(small):
    """``phash._box_of`` before 45db6da: each side at a whole pixel."""
    from spark_jobs.imaging import phash as P

    a = np.asarray(small, dtype=np.float32)
    border = float(np.median([a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]]))
    weight = np.abs(a - border)
    weight[weight <= P.TRIM_TOLERANCE] = 0
    total = float(weight.sum())
    if total <= 0:
        return None

    def span(profile):
        cum = np.cumsum(profile) / total
        return int(np.searchsorted(cum, P.TRIM_MASS)), int(np.searchsorted(cum, 1 - P.TRIM_MASS)) + 1

    (x0, x1), (y0, y1) = span(weight.sum(axis=0)), span(weight.sum(axis=1))
    return None if x1 - x0 < 4 or y1 - y0 < 4 else (x0, y0, x1, y1)


@functools.lru_cache(maxsize=None)
def _now_hashes() -> tuple[str, ...]:
    from shardline.settings import ImagesSettings, hash_names

    return hash_names(ImagesSettings().near_dup_hash)


@functools.lru_cache(maxsize=None)
def _rule(version: str) -> tuple[int, dict[int, int]]:
    """(threshold, guards) of the candidate rule: before, trimmed dcthash guarding the coarse one; now, the
    default's hashes."""
    from shardline.settings import ImagesSettings
    from spark_jobs.imaging.dedup import guard_positions

    return ImagesSettings().near_dup_threshold, ({1: 0} if version == "before" else guard_positions(_now_hashes()))


def signature(data: bytes) -> tuple[int, list[dict]]:
    """(shorter side, per decoded variant {"before": [trimmed, coarse] as before, "now": the default's hashes,
    "thumb": bytes})."""
    from PIL import Image

    from spark_jobs.imaging import phash as P
    from spark_jobs.imaging.likeness import thumbnail

    with Image.open(io.BytesIO(data)) as im:
        side = min(im.size)
    out = []
    for gray, rgb in decoded(data):
        small, _ = P._reduced(gray)
        low = P._low(small, _integer_box(small))
        out.append({"thumb": thumbnail(rgb), "before": [P._dcthash_bits(low), P._coarse_bits(low)],
                    "now": P.hashes(gray, _now_hashes())})
    return side, out


def candidate(version: str, o: dict, x: dict) -> bool:
    """The default rule: before, trimmed dcthash or the guarded coarse one; now, the default's hashes."""
    from spark_jobs.imaging.dedup import within_reach
    from spark_jobs.imaging.phash import hamming

    threshold, guards = _rule(version)
    return bool(within_reach(lambda k: hamming(o[version][k], x[version][k]), len(o[version]), threshold, guards))


def confirmed(version: str, a, b, a_dark, b_dark, side: int) -> bool:
    from spark_jobs.imaging.dedup import NearDupConfig
    from spark_jobs.imaging.likeness import look_alike

    sides = [side] if version == "now" else None
    return bool(look_alike([a], [b], NearDupConfig().max_difference, [a_dark], [b_dark], sides)[0])


def measure(base: list, rng: random.Random) -> dict:
    """{edit: (copies, found before, found now)}, plus "distinct": (candidate pairs before/now, confirmed)."""
    def original(name, img) -> bytes:
        return encoded(img.convert("RGB"), "JPEG", quality=90) if name.startswith("photo/") else encoded(img, "PNG")

    origs = [signature(original(n, img)) for n, img in base]
    out = {}
    for edit, bg, make in EDITS:
        found = {"before": 0, "now": 0}
        n = 0
        for (name, img), (side_o, so) in zip(base, origs):
            if bg is not None and _blank(img, bg):
                continue  # flattened there, most of the picture vanishes: no copy of it
            if bg == (0, 0, 0) and len(so) < 2:
                continue
            n += 1
            side_c, sc = signature(make(img, rng))
            c, d = sc[0], (sc[1] if len(sc) > 1 else None)
            pairs = [(so[0], c)] + ([(so[1], d if d is not None else c)] if len(so) > 1 else [])
            black = bg == (0, 0, 0)
            a = (so[1] if black else so[0])["thumb"]
            a_dark = so[1]["thumb"] if not black and len(so) > 1 and d is not None else None
            b_dark = d["thumb"] if d is not None and len(so) > 1 else None
            for v in found:
                found[v] += any(candidate(v, o, x) for o, x in pairs) and confirmed(
                    v, a, c["thumb"], a_dark, b_dark, min(side_o, side_c))
        out[edit] = (n, found["before"] / max(n, 1), found["now"] / max(n, 1))
    cands, wrong = {"before": 0, "now": 0}, {"before": 0, "now": 0}
    for i in range(len(origs)):
        for j in range(i + 1, len(origs)):
            (sa, A), (sb, B) = origs[i], origs[j]
            pairs = [(A[0], B[0])] + ([(A[1], B[1])] if len(A) > 1 and len(B) > 1 else [])
            dark = len(A) > 1 and len(B) > 1
            for v in cands:
                if any(candidate(v, o, x) for o, x in pairs):
                    cands[v] += 1
                    wrong[v] += confirmed(v, A[0]["thumb"], B[0]["thumb"], A[1]["thumb"] if dark else None,
                                          B[1]["thumb"] if dark else None, min(sa, sb))
    out["distinct"] = (len(origs) * (len(origs) - 1) // 2, cands, wrong)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-band", type=int, default=300, help="renditions drawn per size band before the distinct filter")
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args()
    t0 = time.perf_counter()
    rng = random.Random(args.seed)
    bands = {"16-24 px icons": distinct_images(band_icons(args.per_band, rng, 16, 24)),
             "32 px icons": distinct_images(band_icons(args.per_band, rng, 32, 32)),
             "48 px+ icons, photo tiles": distinct_images(photo_tiles(rng) + band_icons(args.per_band, rng, 48, 4096))}
    results = {band: measure(base, rng) for band, base in bands.items()}
    names = list(bands)
    rows = ["| edit | " + " | ".join(f"{b}: before | now" for b in names) + " |",
            "|---|" + "---:|---:|" * len(names)]
    for edit, _, _ in EDITS:
        cells = [f"{results[b][edit][1]:.3f} | **{results[b][edit][2]:.3f}**" for b in names]
        rows.append(f"| {edit} | " + " | ".join(cells) + " |")
    copies = ", ".join(f"{b} {len(bands[b])} base pictures" for b in names)
    distinct = "; ".join(
        f"{b}: {results[b]['distinct'][0]:,} pairs, candidates before {results[b]['distinct'][1]['before']} / now "
        f"{results[b]['distinct'][1]['now']}, confirmed (wrong) before {results[b]['distinct'][2]['before']} / now "
        f"{results[b]['distinct'][2]['now']}" for b in names)
    body = f"""`benchmarks/small_pictures.py`: the default candidate rule, then the thumbnail check, in-process, on one copy
of each distinct base picture per edit ({copies}; a flattened copy only where flattening leaves most of the
picture visible). **before**: trimmed and guarded coarse dcthash with the content box to whole pixels, thumbnails
compared as they are (the code before 45db6da); **now**: the default (the box to a fraction of a pixel,
`small_dcthash` for pictures of 32 px and less, each pair compared at the resolution of its smaller picture).
Cells: share of copies found (candidate and confirmed). {time.perf_counter() - t0:.0f} s.

{chr(10).join(rows)}

- Distinct pictures (every pair of a band's base pictures): {distinct}."""
    print(body)
    update_section("Small icons and combined edits", body)


if __name__ == "__main__":
    main()
