"""Which hashes make near-duplicate candidates: recall per edit against random pairs within reach, in-process.

The candidate stage of the image job (spark_jobs/imaging/dedup.py) keeps a pair when one of its hashes is
within the threshold; everything else is never looked at again. This measures that stage alone, for
several choices, on:
- copies: one copy of each real base picture of ``benchmarks/dedup_quality.py`` (installed icons with
  transparency, tiles of scikit-learn's photographs) per transformation, made and decoded as the job does
  (flattened on white; a copy flattened on black is matched against the original's black variant);
- unrelated pairs: all pairs of the distinct base pictures (icons look alike: a hard case), and all pairs of
  2,500 generated pictures of ``spark_jobs/imaging/synthetic.py`` (the scale benchmarks' material).
Candidate pairs grow with the square of the corpus and each costs a thumbnail check (~1 ms), so the second
column decides what a choice costs. Also: the thumbnail check alone (``likeness.look_alike``) on every copy.
Writes a section of docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/hash_choice.py [--images 1500] [--seed 5]
"""
from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.dedup_quality import (  # noqa: E402
    IMAGE_EDITS,
    _blank,
    distinct_images,
    hamming_matrix,
    icon_base,
    image_copy,
    photo_tiles,
)
from benchmarks.report import update_section  # noqa: E402


def _unwhitened_dcthash(gray) -> int:
    """dcthash as it was before 2026-12-01 (no 1/f scaling), for comparison."""
    from PIL import Image

    from spark_jobs.imaging.phash import _DCT, _N, _PROJECT, _to_int64

    x = np.asarray(gray.resize((_N, _N), Image.LANCZOS, reducing_gap=2.0), dtype=np.float64)
    low = (_DCT @ x @ _DCT.T)[:8, :8].ravel()[1:]
    return 0 if np.abs(low).max() < 1e-6 else _to_int64(_PROJECT @ low > 0)


def hash_fns() -> dict:
    from spark_jobs.imaging.phash import coarse_dcthash, dcthash, phash, trimmed_dcthash

    return {"phash": phash, "dcthash": dcthash, "dcthash unwhitened": _unwhitened_dcthash,
            "trimmed_dcthash": trimmed_dcthash, "coarse_dcthash": coarse_dcthash}


_COARSE = ("coarse_dcthash", 10, "trimmed_dcthash", 18)
# (label, [(hash, threshold[, guard hash, guard threshold]), ...]): a pair is a candidate when any entry holds
# (with a guard: the hash within its threshold and the guard hash within the guard's)
CHOICES = [
    ("pHash <= 10 (the default before)", [("phash", 10)]),
    ("pHash <= 14", [("phash", 14)]),
    ("unwhitened dcthash <= 12 (opt-in before)", [("dcthash unwhitened", 12)]),
    ("whitened dcthash <= 10", [("dcthash", 10)]),
    ("pHash <= 10 or unwhitened dcthash <= 8", [("phash", 10), ("dcthash unwhitened", 8)]),
    ("pHash <= 10 or dcthash <= 10 (the default before 2026-12-02)", [("phash", 10), ("dcthash", 10)]),
    ("pHash <= 10 or dcthash <= 12", [("phash", 10), ("dcthash", 12)]),
    ("trimmed dcthash <= 10", [("trimmed_dcthash", 10)]),
    ("pHash <= 10 or trimmed dcthash <= 10 (the default before 2026-12-03)", [("phash", 10), ("trimmed_dcthash", 10)]),
    ("pHash <= 10, dcthash <= 10 or trimmed dcthash <= 10", [("phash", 10), ("dcthash", 10), ("trimmed_dcthash", 10)]),
    ("pHash <= 11 or trimmed dcthash <= 11", [("phash", 11), ("trimmed_dcthash", 11)]),
    ("pHash <= 10 or trimmed dcthash <= 11", [("phash", 10), ("trimmed_dcthash", 11)]),
    ("coarse dcthash <= 10", [("coarse_dcthash", 10)]),
    ("pHash <= 10, trimmed dcthash <= 10 or coarse dcthash <= 10", [("phash", 10), ("trimmed_dcthash", 10), ("coarse_dcthash", 10)]),
    ("pHash <= 10, trimmed dcthash <= 10 or (coarse dcthash <= 10 and trimmed dcthash <= 18)",
     [("phash", 10), ("trimmed_dcthash", 10), _COARSE]),
    ("**trimmed dcthash <= 10 or (coarse dcthash <= 10 and trimmed dcthash <= 18) (default)**",
     [("trimmed_dcthash", 10), _COARSE]),
]


def default_rule() -> list[tuple]:
    """The job's default candidates (``images.near_dup_hash`` within ``images.near_dup_threshold``, a guarded
    hash with its guard within ``GUARD_REACH``)."""
    from shardline.settings import GUARD_REACH, HASH_GUARDS, ImagesSettings, hash_names

    cfg = ImagesSettings()
    # small_dcthash (pictures of 32 px and less) is measured in small_pictures.py; the base pictures here are 48 px+
    return [(name, cfg.near_dup_threshold, HASH_GUARDS[name], GUARD_REACH) if name in HASH_GUARDS
            else (name, cfg.near_dup_threshold) for name in hash_names(cfg.near_dup_hash) if name != "small_dcthash"]


def decoded(data: bytes) -> list:
    """[(gray on white, RGB on white), (gray on black, RGB on black) if transparent and not blank] as the job
    makes them."""
    from PIL import Image

    from spark_jobs.imaging.decode import has_alpha, to_mode, upright
    from spark_jobs.imaging.likeness import MIN_VISIBLE, is_flat, visible_share

    im = upright(Image.open(io.BytesIO(data)))
    im.load()
    main = to_mode(im, "RGB", (255, 255, 255))
    out = [(main.convert("L"), main)]
    if has_alpha(im) and visible_share(im, (0, 0, 0)) >= MIN_VISIBLE:
        other = to_mode(im, "RGB", (0, 0, 0))
        if not is_flat(other):
            out.append((other.convert("L"), other))
    return out


def signatures(variants: list, fns: dict) -> list[dict]:
    from spark_jobs.imaging.likeness import thumbnail

    return [{**{name: fn(gray) & ((1 << 64) - 1) for name, fn in fns.items()}, "thumb": thumbnail(rgb)}
            for gray, rgb in variants]


def distances(hs: list[int]) -> np.ndarray:
    """Hamming distance of every pair (upper triangle)."""
    return hamming_matrix(hs)[np.triu_indices(len(hs), 1)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1500, help="icons drawn before the distinct filter")
    p.add_argument("--generated", type=int, default=2500)
    p.add_argument("--seed", type=int, default=5)
    args = p.parse_args()

    from spark_jobs.imaging.likeness import look_alike
    from spark_jobs.imaging.synthetic import picture

    t0 = time.perf_counter()
    fns = hash_fns()
    rng = random.Random(args.seed)
    base = distinct_images(photo_tiles(rng) + icon_base(args.images, rng))

    def original(name, img) -> bytes:
        buf = io.BytesIO()
        if name.startswith("photo/"):
            img.convert("RGB").save(buf, format="JPEG", quality=90)
        else:
            img.save(buf, format="PNG")
        return buf.getvalue()

    sig = [signatures(decoded(original(n, img)), fns) for n, img in base]
    copies: dict[tuple, list] = {}
    for kind, value in IMAGE_EDITS:
        made = []
        for i, (name, img) in enumerate(base):
            if kind.startswith("flattened") and _blank(img, (0, 0, 0) if kind.endswith("black") else (255, 255, 255)):
                continue
            if kind.startswith("format swap") and name.startswith("photo/"):
                buf = io.BytesIO()
                img.convert("RGB").save(buf, format="PNG")
                data = buf.getvalue()
            else:
                data, _ = image_copy(img, kind, value, rng)
            sigs = signatures(decoded(data), fns)
            made.append((i, sigs[0], sigs[1] if len(sigs) > 1 else None))  # the copy's own variant is matched
        copies[(kind, value)] = made

    def found(rule: list[tuple], i: int, c: dict, d: dict | None) -> bool:
        """Whether ``rule`` makes the copy a candidate, as the job pairs variants: the copy's own hash against
        the original's own and, for an opaque copy, the original's other-extreme one (a copy flattened there);
        two transparent pictures also on black. A guard is checked on the same two variants."""
        pairs = [(sig[i][0], c)]
        if len(sig[i]) > 1 and d is None:
            pairs.append((sig[i][1], c))
        if len(sig[i]) > 1 and d is not None:
            pairs.append((sig[i][1], d))
        near = lambda o, x, name, t: bin(o[name] ^ x[name]).count("1") <= t  # noqa: E731
        return any(near(o, x, *entry[:2]) and (len(entry) == 2 or near(o, x, *entry[2:]))
                   for entry in rule for o, x in pairs)

    def rate(rand: dict, rule: list[tuple]) -> float:
        return float(np.mean(np.any([(rand[e[0]] <= e[1]) & (rand[e[2]] <= e[3] if len(e) > 2 else True)
                                     for e in rule], axis=0)))

    rand_icons = {name: distances([s[0][name] for s in sig]) for name in fns}
    gen = []
    for k in range(args.generated):
        r = random.Random(k)
        g = picture(k, r.randint(32, 160), r.randint(32, 160)).convert("RGB")
        gen.append({name: fn(g.convert("L")) & ((1 << 64) - 1) for name, fn in fns.items()})
    rand_gen = {name: distances([g[name] for g in gen]) for name in fns}

    keys = list(copies)
    rows = ["| candidates | " + " | ".join(f"{k} {v:g}" if v else k for k, v in keys)
            + " | random pairs, generated | random pairs, icons |",
            "|---|" + "---:|" * (len(keys) + 2)]
    for label, rule in CHOICES:
        recall = [np.mean([found(rule, i, c, d) for i, c, d in copies[k]]) for k in keys]
        gen_rate, icon_rate = rate(rand_gen, rule), rate(rand_icons, rule)
        rows.append(f"| {label} | " + " | ".join(f"{r:.2f}" for r in recall) + f" | {gen_rate:.1e} | {icon_rate:.1e} |")
    check, kept, default = [], [], default_rule()
    for k in keys:
        black = k[0] == "flattened on black"
        a = [(sig[i][1] if black and len(sig[i]) > 1 else sig[i][0])["thumb"] for i, _, _ in copies[k]]
        # two transparent pictures also bring their thumbnails flattened on black (likeness.look_alike)
        a_dark = [sig[i][1]["thumb"] if not black and len(sig[i]) > 1 and d is not None else None for i, _, d in copies[k]]
        b_dark = [d["thumb"] if d is not None and len(sig[i]) > 1 else None for i, _, d in copies[k]]
        same = look_alike(a, [c["thumb"] for _, c, _ in copies[k]], 0.33, a_dark, b_dark)
        check.append(float(np.mean(same)))
        near = [found(default, i, c, d) for i, c, d in copies[k]]
        kept.append(float(np.mean(same & np.array(near))))
    rows.append("| the thumbnail check alone, default limit 0.33 | " + " | ".join(f"{r:.2f}" for r in check) + " | | |")
    rows.append("| **the default's candidates, then the check (what the job finds)** | "
                + " | ".join(f"**{r:.2f}**" for r in kept) + " | | |")
    n_copies = len(copies[keys[0]])
    body = f"""`benchmarks/hash_choice.py`: the candidate stage alone, in-process. Share of copies whose hash stays within
reach, per transformation: one copy of each of {len(base):,} distinct real base pictures (installed icons with
transparency and tiles of scikit-learn's photographs, as in `dedup_quality.py`; {n_copies:,} copies per
transformation but fewer for flattening, where a glyph would vanish), decoded as the job does; and the share of
pairs of unrelated pictures within reach: all pairs of {args.generated:,} generated pictures (the scale benchmarks'
material) and of the distinct base pictures (icons look alike). Candidates grow with the square of the corpus, and
each is checked on thumbnails (~1 ms). The last two rows: the thumbnail check alone on every copy, and the
copies that pass both stages of the default (a candidate, then confirmed): the job's recall, in-process. {time.perf_counter() - t0:.0f} s.

{chr(10).join(rows)}"""
    print(body)
    update_section("Near-duplicate candidates: which hashes", body)


if __name__ == "__main__":
    main()
