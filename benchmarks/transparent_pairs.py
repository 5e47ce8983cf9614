"""The thumbnail check's second chance for two transparent pictures, on every installed icon rendition.

``dedup_quality.py`` takes one rendition of each icon (the largest PNG), where details are clear. A theme
draws each icon again at 16-48 px, where a page with faint lines of text and a blank page share an outline,
an opacity and, flattened on black, almost every pixel. This measures the part of the check that decides
such pairs (``likeness.look_alike``'s second chance), in-process, on all PNGs under /usr/share/icons:

- distinct pairs: two renditions with different icon names and different pixels, both with an
  other-extreme thumbnail, that the job would make candidates (a default hash within the threshold, on
  white or both on black) and that the plain check turns away: the pairs only the second chance can join.
  Names are an imperfect truth (themes ship one drawing under several names), so the pairs a variant
  joins are listed for a person to look at;
- copies: one copy of each such transparent rendition per edit, made as ``dedup_quality.py`` makes them,
  decoded as the job does; recall = candidate and confirmed, for all sizes and for 48 px and more (the
  other benchmark's base pictures).

Rows: the check without the second chance; as it was before ``on_own_colour`` (2026-12-02 morning:
``DARK_LIMIT`` 0.45, no own-colour test); without the opacity route; the default. Writes a section of
docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/transparent_pairs.py [--seed 3]
"""
from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.dedup_quality import hamming_matrix, image_copy  # noqa: E402
from benchmarks.real_corpora import ICONS, icon_files  # noqa: E402
from benchmarks.report import update_section  # noqa: E402

EDITS = [("brightness", 0.85), ("brightness", 1.15), ("contrast", 0.85), ("contrast", 1.15), ("crop", 0.02),
         ("crop", 0.05), ("resize", 0.5), ("resize", 0.75)]


def renditions() -> list[dict]:
    """Every installed icon PNG (no links), decoded as the job decodes it."""
    from spark_jobs.imaging.decode import ImageCleanConfig, decode_one

    cfg = ImageCleanConfig(root_uri=f"file:{ICONS}")
    out = []
    for path in sorted(p for paths in icon_files().values() for p in paths):
        row = decode_one(f"file:{path}", None, cfg)
        if not row["reason"]:
            out.append({**row, "path": path, "name": path.stem, "pixels": path.read_bytes()})
    return out


def _guards() -> dict[int, int]:
    from spark_jobs.imaging.decode import ImageCleanConfig
    from spark_jobs.imaging.dedup import guard_positions

    return guard_positions(ImageCleanConfig(root_uri="file:/x").hashes)


def candidate(a: dict, b: dict, threshold: int) -> bool:
    """As the job: some hash within ``threshold`` (``dedup.within_reach``), on the configured background or, for
    two transparent pictures, on the other extreme."""
    from spark_jobs.imaging.dedup import within_reach
    from spark_jobs.imaging.phash import hamming

    def near(x: list[int], y: list[int]) -> bool:
        return bool(within_reach(lambda k: hamming(x[k], y[k]), len(x), threshold, _guards()))

    return near(a["hashes"], b["hashes"]) or bool(a["alt_hashes"] and b["alt_hashes"] and near(a["alt_hashes"], b["alt_hashes"]))


def _distances(hashes: list[int | None]) -> np.ndarray:
    """Hamming distances of every pair; 64 where either picture has no such hash (small_dcthash of one over 32 px)."""
    present = np.array([h is not None for h in hashes])
    dist = hamming_matrix([h & ((1 << 64) - 1) if h is not None else 0 for h in hashes])
    dist[~present, :] = 64
    dist[:, ~present] = 64
    return dist


def side(a: dict, b: dict) -> int:
    """The shorter side of the smaller picture of a pair (the job's ``sides`` for ``likeness.look_alike``)."""
    return min(a["orig_width"], a["orig_height"], b["orig_width"], b["orig_height"])


def distinct_pairs(rows: list[dict], threshold: int) -> list[tuple[dict, dict]]:
    """Candidate pairs of transparent renditions with other names and other pixels that the plain check turns away."""
    from spark_jobs.imaging.likeness import look_alike

    dark = [r for r in rows if r["alt_thumb"] is not None]
    from spark_jobs.imaging.dedup import within_reach

    near = np.zeros((len(dark), len(dark)), dtype=bool)
    for kind in ("hashes", "alt_hashes"):
        dist = [_distances([r[kind][k] for r in dark]) for k in range(len(dark[0][kind]))]
        near |= within_reach(dist.__getitem__, len(dist), threshold, _guards())
    pairs = [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(near, 1)))
             if dark[i]["name"] != dark[j]["name"] and dark[i]["pixels"] != dark[j]["pixels"]]
    plain = look_alike([dark[i]["thumb"] for i, _ in pairs], [dark[j]["thumb"] for _, j in pairs], 0.33,
                       sides=[side(dark[i], dark[j]) for i, j in pairs])
    return [(dark[i], dark[j]) for (i, j), p in zip(pairs, plain) if not p]


def copies(rows: list[dict], seed: int, threshold: int) -> dict:
    """{edit: [(original, copy, is a candidate)]} for every transparent rendition with an other-extreme thumbnail."""
    from PIL import Image

    from spark_jobs.imaging.decode import ImageCleanConfig, decode_one

    rng = random.Random(seed)
    cfg = ImageCleanConfig(root_uri="file:/copies")
    out = {}
    for edit in EDITS:
        made = []
        for r in rows:
            if r["alt_thumb"] is None:
                continue
            data, ext = image_copy(Image.open(io.BytesIO(r["pixels"])).convert("RGBA"), *edit, rng)
            c = decode_one(f"file:/copies/c.{ext}", data, cfg)
            if not c["reason"]:  # a 16 px icon at 50% may be too small to be a picture
                made.append((r, c, candidate(r, c, threshold)))
        out[edit] = made
    return out


@contextmanager
def variant(name: str):
    """The check as ``name`` describes it, by setting the module's bounds for the duration."""
    from spark_jobs.imaging import likeness

    saved = likeness.DARK_LIMIT, likeness.on_own_colour, likeness.alpha_thumbnail
    try:
        if name == "before on_own_colour (DARK_LIMIT 0.45)":
            likeness.DARK_LIMIT = 0.45
            likeness.on_own_colour = lambda aw, ak, bw, bk: (aw, aw)  # always alike
        elif name == "default without the opacity route":
            likeness.alpha_thumbnail = lambda w, k: os.urandom(len(w))  # opacities never alike
        yield
    finally:
        likeness.DARK_LIMIT, likeness.on_own_colour, likeness.alpha_thumbnail = saved


VARIANTS = ["no second chance", "before on_own_colour (DARK_LIMIT 0.45)", "default without the opacity route",
            "default"]


def confirm(pairs: list[tuple[dict, dict]], name: str) -> np.ndarray:
    from spark_jobs.imaging.likeness import look_alike

    if not pairs:
        return np.zeros(0, dtype=bool)
    second = name != "no second chance"
    with variant(name):
        return look_alike([a["thumb"] for a, _ in pairs], [b["thumb"] for _, b in pairs], 0.33,
                          [a["alt_thumb"] if second else None for a, _ in pairs],
                          [b["alt_thumb"] if second else None for _, b in pairs],
                          [side(a, b) for a, b in pairs])


def label(r: dict) -> str:
    return f"{r['path'].parts[-4]} {r['path'].parts[-3]} {r['name']}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    from spark_jobs.imaging.dedup import NearDupConfig

    started = time.time()
    threshold = NearDupConfig().threshold
    rows = renditions()
    negatives = distinct_pairs(rows, threshold)
    made = copies(rows, args.seed, threshold)
    n_dark = sum(r["alt_thumb"] is not None for r in rows)
    head = "| check | distinct pairs joined | " + " | ".join(f"{k} {v:g}" for k, v in EDITS) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(EDITS)]
    joined = {}
    for name in VARIANTS:
        wrong = confirm(negatives, name)
        joined[name] = [(a, b) for (a, b), w in zip(negatives, wrong) if w]
        cells = []
        for edit in EDITS:
            found = [c for (_, _, c) in made[edit]]
            ok = confirm([(r, c) for r, c, _ in made[edit]], name) & np.array(found, dtype=bool)
            big = [i for i, (r, _, _) in enumerate(made[edit]) if min(r["orig_width"], r["orig_height"]) >= 48]
            cells.append(f"{ok.mean():.3f} / {ok[big].mean():.3f}")
        bold = "**" if name == "default" else ""
        lines.append(f"| {bold}{name}{bold} | {bold}{len(joined[name])}{bold} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    listed = "; ".join(f"{label(a)} / {label(b)}" for a, b in joined["default"]) or "none"
    before = joined["before on_own_colour (DARK_LIMIT 0.45)"]
    kinds = sorted({tuple(sorted((a["name"], b["name"]))) for a, b in before})
    body = f"""`benchmarks/transparent_pairs.py`: the thumbnail check's second chance for two transparent pictures
(`likeness.look_alike`), in-process, on all {len(rows):,} PNG renditions of the installed icon themes at every
size ({n_dark:,} with an other-extreme thumbnail, the second chance's domain). Distinct pairs: {len(negatives):,}
candidate pairs of such renditions with different icon names and different pixels that the plain check turns
away. Copies: one per rendition and edit (as `dedup_quality.py` makes them); a cell is the share found
(candidate and confirmed), all sizes / 48 px and more. {time.time() - started:.0f} s.

{chr(10).join(lines)}

- Joined by the default: {listed}.
- Joined before `on_own_colour`: {len(before)} pairs of {len(kinds)} name pairs, among them
  {', '.join(f'{a} / {b}' for a, b in kinds[:8])}{' ...' if len(kinds) > 8 else ''}.
"""
    update_section("Transparent look-alikes at every icon size", body)
    print(body)


if __name__ == "__main__":
    main()
