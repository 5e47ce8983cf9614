"""Near duplicates as a reader or viewer means them, on real material that every machine running the
tests has: paragraphs of the Python standard library's documentation and the two photographs that ship
with scikit-learn. Each edit type gets its own pair, with the exact reason and kept id expected; distinct
texts sharing a template and distinct pictures sharing a look must stay. The base material is chosen
distinct here with difflib (not with the job's measure), and every edit is made here."""
import importlib
import inspect
import io
import json
import random
import re
from difflib import SequenceMatcher

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from spark_jobs.imaging.clean import ImageCleanConfig, NearDupConfig
from spark_jobs.imaging.clean import transform as clean_images
from spark_jobs.imaging.decode import decode_one
from spark_jobs.imaging.phash import hamming
from spark_jobs.text.clean import TextCleanConfig
from spark_jobs.text.clean import transform as clean_text
from spark_jobs.text.minhash import MinHashConfig
from spark_jobs.text.read import RAW
from tests.spark_jobs.test_likeness import brightness, glyph_with_emblem, sheet

MODULES = ("json", "csv", "pickle", "argparse", "logging", "subprocess", "shutil", "tarfile", "zipfile", "difflib",
           "textwrap", "heapq", "bisect", "collections", "functools", "itertools", "threading", "queue", "decimal",
           "statistics", "random", "datetime", "string", "re", "doctest", "unittest", "tempfile", "configparser")


def stdlib_paragraphs(n: int) -> list[str]:
    """``n`` paragraphs of 40-150 words of prose from the standard library's docstrings, pairwise distinct
    (difflib word-sequence ratio under 0.5)."""
    out: list[str] = []
    for name in MODULES:
        mod = importlib.import_module(name)
        for obj in [mod] + [getattr(mod, a) for a in sorted(dir(mod)) if not a.startswith("_")]:
            doc = inspect.getdoc(obj) if callable(obj) or inspect.ismodule(obj) else None
            for para in re.split(r"\n\s*\n", doc or ""):
                text = " ".join(para.split())
                words = text.lower().split()
                prose = sum(w.strip(".,;:()'\"").isalpha() for w in words) >= 0.9 * len(words)  # not code
                if 40 <= len(words) <= 150 and prose and all(
                        SequenceMatcher(None, words, o.lower().split(), autojunk=False).ratio() < 0.5 for o in out):
                    out.append(text)
                    if len(out) == n:
                        return out
    raise AssertionError(f"only {len(out)} distinct paragraphs")


def edit(text: str, kind: str, vocab: list[str], rng: random.Random, share: float = 0.10) -> str:
    words = text.split()
    k = max(1, round(len(words) * share))
    spots = sorted(rng.sample(range(len(words)), k)) if kind.endswith("scattered") else \
        list(range(s := rng.randrange(len(words) - k), s + k))
    if kind.startswith("substitute"):
        for p in spots:
            words[p] = rng.choice(vocab)
    elif kind.startswith("delete"):
        words = [w for i, w in enumerate(words) if i not in set(spots)]
    else:
        for p in reversed(spots):
            words.insert(p, rng.choice(vocab))
    return " ".join(words)


WORD_EDITS = ("substitute scattered", "insert scattered", "delete scattered",
              "substitute span", "insert span", "delete span")
LINE = "This page was generated from the Python 3.11 sources by the documentation team."
TEMPLATE = ("Dear reader,\nthank you for your question about the standard library. Our documentation says "
            "the following on the subject:\n{}\nWe hope this answers it; write again if anything stays unclear.")


def test_edited_copies_of_real_texts_are_flagged_and_template_letters_are_not(spark):
    paras = stdlib_paragraphs(34)
    rng = random.Random(4)
    vocab = [w for p in paras[20:] for w in p.split() if w.isalpha()]
    docs, expect = {}, {}
    for k, kind in enumerate(WORD_EDITS + ("case and punctuation", "line added", "line removed")):
        original = paras[k]
        if kind == "case and punctuation":
            copy = re.sub(r"[.,;:()`'\"]", "", original.lower()).replace(" ", "  \n", 3)
        elif kind == "line added":
            copy = f"{original}\n{LINE}"
        elif kind == "line removed":
            original, copy = f"{LINE}\n{original}", original
        else:
            copy = edit(original, kind, vocab, rng)
        docs[f"a{k:02d}"], docs[f"b{k:02d}"] = original, copy
        expect[f"b{k:02d}"] = ("near_duplicate", f"a{k:02d}", kind)
    for k, para in enumerate(paras[9:20]):  # distinct texts
        docs[f"n{k:02d}"] = para
    for k, para in enumerate(paras[20:34]):  # distinct texts in one template: form letters
        docs[f"t{k:02d}"] = TEMPLATE.format(para)
    short = ["The plot was slow and the cast did well.", "The plot was sharp and the cast did well.",
             "The plot was slow and the cast did badly."]  # one word is the whole opinion
    docs.update({f"s{k}": s for k, s in enumerate(short)})
    lines = [json.dumps({"id": i, "text": t}).encode() for i, t in sorted(docs.items())]
    df = spark.createDataFrame([("file:/c.jsonl", x, "jsonl", None, None, None) for x in lines], RAW)
    rows = {r["id"]: r for r in clean_text(df, TextCleanConfig(), MinHashConfig()).collect()}
    got = {i: (r["reason"], (r["detail"] or "").split(" (")[0].removeprefix("near duplicate of ")) for i, r in rows.items()
           if r["reason"]}
    assert got == {i: (reason, kept) for i, (reason, kept, _) in expect.items()}, \
        {expect[i][2] if i in expect else i: v for i, v in got.items()}
    assert all(re.fullmatch(r"near duplicate of a\d\d \(shared words (0\.[89]\d|1\.00)\)", rows[i]["detail"])
               for i in expect)


# ---------------------------------------------------------------- pictures

def photo_tiles(n: int) -> list[Image.Image]:
    """``n`` 96 px tiles of scikit-learn's sample photographs with detail in them (not sky)."""
    from sklearn.datasets import load_sample_images

    tiles = []
    for arr in load_sample_images().images:
        photo = Image.fromarray(arr)
        for y in range(0, photo.height - 95, 96):
            for x in range(0, photo.width - 95, 96):
                tile = photo.crop((x, y, x + 96, y + 96))
                if np.asarray(tile.convert("L"), dtype=np.float32).std() >= 25:
                    tiles.append(tile)
    return random.Random(2).sample(tiles, n)


def encoded(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def with_alpha(tile: Image.Image) -> Image.Image:
    """The tile as a round sticker: opaque disc, transparent corners."""
    yy, xx = np.mgrid[:tile.height, :tile.width]
    disc = ((yy - tile.height / 2) ** 2 + (xx - tile.width / 2) ** 2 <= (tile.width / 2.2) ** 2) * 255
    out = tile.convert("RGBA")
    out.putalpha(Image.fromarray(disc.astype(np.uint8)))
    return out


def flattened(img: Image.Image, bg) -> Image.Image:
    return Image.alpha_composite(Image.new("RGBA", img.size, (*bg, 255)), img).convert("RGB")


IMAGE_EDITS = {
    "resize 50%": lambda t: encoded(t.resize((48, 48), Image.LANCZOS)),
    "resize 80%": lambda t: encoded(t.resize((77, 77), Image.LANCZOS)),
    "jpeg 30": lambda t: encoded(t, "JPEG", quality=30),
    "jpeg 95": lambda t: encoded(t, "JPEG", quality=95),
    "brightness +15%": lambda t: encoded(ImageEnhance.Brightness(t).enhance(1.15)),
    "brightness -15%": lambda t: encoded(ImageEnhance.Brightness(t).enhance(0.85)),
    "contrast +15%": lambda t: encoded(ImageEnhance.Contrast(t).enhance(1.15)),
    "contrast -15%": lambda t: encoded(ImageEnhance.Contrast(t).enhance(0.85)),
    "crop 2%": lambda t: encoded(t.crop((1, 0, 95, 94))),
    "crop 5% on two sides": lambda t: encoded(t.crop((0, 5, 91, 96))),
    "crop 5% around": lambda t: encoded(t.crop((2, 3, 93, 94)), "JPEG", quality=90),
}


def glyph(ink: int) -> Image.Image:
    """A transparent icon: an arrow drawn in grey level ``ink``."""
    from PIL import ImageDraw

    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rectangle((8, 26, 40, 38), fill=(ink, ink, ink, 255))
    draw.polygon([(40, 14), (58, 32), (40, 50)], fill=(ink, ink, ink, 255))
    return img


# pHash alone misses a 5% crop taken from two sides of a photo tile (its hash moves more than 10 bits;
# docs/IMAGE_CLEANING.md); the default's second hash, the trimmed dcthash, catches it.
MISSED_BY_PHASH = {"crop 5% on two sides"}


def pale_sticker(picture: Image.Image) -> Image.Image:
    """A picture washed out towards white (an icon's light fill), as a round sticker."""
    arr = np.asarray(picture.convert("RGB"), dtype=np.float32)
    return with_alpha(Image.fromarray((255 - (255 - arr) * 0.35).astype(np.uint8)))


def sticker_icon() -> Image.Image:
    """scikit-learn's flower photograph as a round sticker on a transparent 120 px canvas (12 px margin)."""
    from sklearn.datasets import load_sample_images

    flower = Image.fromarray(load_sample_images().images[1]).resize((96, 96), Image.LANCZOS)
    canvas = Image.new("RGBA", (120, 120), (0, 0, 0, 0))
    canvas.alpha_composite(with_alpha(flower), (12, 12))
    return canvas
HASHES = {"default": ({}, NearDupConfig()), "phash": ({"hash": "phash"}, NearDupConfig())}


# pHash alone on one background: the flattening cases are the default's to cover (keeps make test in budget)
@pytest.mark.parametrize("background,hash_name", [("white", "default"), ("black", "default"), ("white", "phash")])
def test_saved_again_copies_of_real_photos_are_flagged_and_look_alikes_are_not(spark, background, hash_name):
    tiles = photo_tiles(len(IMAGE_EDITS) + 12)
    files, expect = {}, {}
    for k, (kind, make) in enumerate(IMAGE_EDITS.items()):
        if hash_name == "phash" and kind in MISSED_BY_PHASH:
            continue
        files[f"p/a{k:02d}.png"], files[f"p/b{k:02d}.png"] = encoded(tiles[k]), make(tiles[k])
        expect[f"p/b{k:02d}.png"] = f"p/a{k:02d}.png"
    sticker = with_alpha(tiles[len(IMAGE_EDITS)])  # a transparent picture, and a copy flattened by someone
    bg = (255, 255, 255) if background == "white" else (0, 0, 0)
    files["p/s0.png"], files["p/s1.png"] = encoded(sticker), encoded(flattened(sticker, bg), "JPEG", quality=85)
    expect["p/s1.png"] = "p/s0.png"
    others = tiles[len(IMAGE_EDITS) + 1:]
    for k, tile in enumerate(others):  # neighbouring tiles of one photo; and each with a quarter replaced
        files[f"q/n{k:02d}.png"] = encoded(tile)
        patched = tile.copy()
        patched.paste(others[(k + 1) % len(others)].crop((0, 0, 48, 48)), (48, 48))
        files[f"q/m{k:02d}.png"] = encoded(patched)
    # the same icon in grey and in black is two icons (a disabled and an active state): normalising away
    # contrast must not make them one
    files["g/grey.png"], files["g/black.png"] = encoded(glyph(150)), encoded(glyph(0))
    # two black glyphs with one green emblem, one of them flattened on black (only its emblem is left): the
    # other is no copy of it (test_likeness.py)
    files["g/emblem0.png"] = encoded(glyph_with_emblem(True))
    files["g/emblem1.png"] = encoded(flattened(glyph_with_emblem(False), (0, 0, 0)))
    # a transparent document icon and a copy 15% darker: on white its pale fill darkens and the background
    # does not (confirmed through the thumbnails flattened on black, test_likeness.py)
    files["g/sheet0.png"], files["g/sheet1.png"] = encoded(sheet()), encoded(brightness(sheet(), 0.85))
    expect["g/sheet1.png"] = "g/sheet0.png"
    # an icon cropped by 5% from two sides: pHash moves 20 bits and the whole-frame dcthash 13 (the default
    # before missed it); its content box does not move (test_crop_robust.py)
    if hash_name != "phash":
        files["i/icon0.png"], files["i/icon1.png"] = encoded(sticker_icon()), encoded(sticker_icon().crop((6, 6, 120, 120)))
        expect["i/icon1.png"] = "i/icon0.png"
    # a whole photograph as JPEG (decoded at 1/8 scale, decode.py) and a PNG of it at 80% (decoded whole)
    from sklearn.datasets import load_sample_images

    photo = Image.fromarray(load_sample_images().images[0])
    files["p/big0.jpg"] = encoded(photo, "JPEG", quality=90)
    files["p/big1.png"] = encoded(photo.resize((photo.width * 4 // 5, photo.height * 4 // 5), Image.LANCZOS))
    expect["p/big1.png"] = "p/big0.jpg"
    root = "file:/corpus"
    cfg = ImageCleanConfig(root_uri=root, target_width=32, target_height=32, mode="RGB", **HASHES[hash_name][0])
    df = spark.createDataFrame([(f"{root}/{k}", v) for k, v in files.items()], "path string, content binary")
    rows = {r["source"]: r for r in clean_images(df, cfg, HASHES[hash_name][1]).collect()}
    by_id = {r["id"]: s for s, r in rows.items()}
    got = {s: (r["reason"], by_id.get(r["detail"].split()[3]) if r["reason"] == "near_duplicate" else r["detail"])
           for s, r in rows.items() if r["reason"]}
    assert got == {s: ("near_duplicate", kept) for s, kept in expect.items()}


def test_two_transparent_pictures_meet_through_their_black_flattened_hashes(spark):
    """A pale sticker 15% brighter: on white its fill lightens against a background that does not, and both
    hashes move 30 bits or more; flattened on black the change is a scaling (hashes 1-4 bits apart). The pair
    meets there and is confirmed on black and on its opacity. Another pale sticker with the same outline stays
    apart (different on black)."""
    tiles = photo_tiles(len(IMAGE_EDITS) + 12)
    one, other = pale_sticker(tiles[1]), pale_sticker(tiles[2])
    files = {"g/pale0.png": encoded(one), "g/pale1.png": encoded(brightness(one, 1.15)), "g/other.png": encoded(other)}
    root = "file:/corpus"
    cfg = ImageCleanConfig(root_uri=root, target_width=32, target_height=32, mode="RGB")
    decoded = {k: decode_one(f"{root}/{k}", v, cfg) for k, v in files.items()}
    a, b = decoded["g/pale0.png"], decoded["g/pale1.png"]
    assert min(hamming(x, y) for x, y in zip(a["hashes"], b["hashes"])) > NearDupConfig().threshold
    assert max(hamming(x, y) for x, y in zip(a["alt_hashes"][:2], b["alt_hashes"][:2])) <= 4  # [2]: none, 96 px
    df = spark.createDataFrame([(f"{root}/{k}", v) for k, v in files.items()], "path string, content binary")
    rows = {r["source"]: r for r in clean_images(df, cfg, NearDupConfig()).collect()}
    by_id = {r["id"]: k for k, r in rows.items()}
    got = {k: (r["reason"], by_id.get(r["detail"].split()[3])) for k, r in rows.items() if r["reason"]}
    assert got == {"g/pale1.png": ("near_duplicate", "g/pale0.png")}


def test_photos_cropped_into_their_content_are_found_through_the_coarse_hash(spark):
    """A photo has no border to trim: a 5% crop moves and scales what is in it, and for these four tiles
    pHash and the trimmed dcthash both move more than the threshold (the default before 2026-12-03, the two
    of them, lost them). The coarse dcthash (6x6 lowest frequencies) stays within it, and the trimmed one
    within the guard's reach; the job flags each copy, naming its whole tile as kept."""
    from shardline.settings import GUARD_REACH
    from spark_jobs.imaging.phash import phash

    tiles = photo_tiles(len(IMAGE_EDITS) + 12)
    crops = {3: (0, 0, 91, 91), 6: (0, 0, 91, 91), 12: (5, 5, 96, 96), 14: (5, 5, 96, 96)}  # 5.2% off two sides
    files, expect = {}, {}
    for k, box in crops.items():
        files[f"c/full{k}.png"], files[f"c/crop{k}.png"] = encoded(tiles[k]), encoded(tiles[k].crop(box))
        expect[f"c/crop{k}.png"] = f"c/full{k}.png"
    root = "file:/corpus"
    cfg = ImageCleanConfig(root_uri=root, target_width=32, target_height=32, mode="RGB")
    assert cfg.hashes == ("trimmed_dcthash", "coarse_dcthash", "small_dcthash")
    threshold = NearDupConfig().threshold
    for copy, kept in expect.items():
        a, b = (decode_one(f"{root}/{k}", files[k], cfg)["hashes"] for k in (kept, copy))
        trimmed, coarse, small = (hamming(x, y) for x, y in zip(a, b))
        assert small == 64  # tiles of 96 px: no small_dcthash
        ph = hamming(*(phash(Image.open(io.BytesIO(files[k])).convert("L")) for k in (kept, copy)))
        assert ph > threshold and trimmed > threshold, (copy, ph, trimmed)
        assert coarse <= threshold and trimmed <= GUARD_REACH, (copy, coarse, trimmed)
    df = spark.createDataFrame([(f"{root}/{k}", v) for k, v in files.items()], "path string, content binary")
    rows = {r["source"]: r for r in clean_images(df, cfg, NearDupConfig()).collect()}
    by_id = {r["id"]: k for k, r in rows.items()}
    got = {k: (r["reason"], by_id.get(r["detail"].split()[3])) for k, r in rows.items() if r["reason"]}
    assert got == {s: ("near_duplicate", kept) for s, kept in expect.items()}


def test_a_pair_the_coarse_hash_finds_must_also_be_near_on_the_trimmed_one(spark):
    """Two distinct generated pictures 9 bits apart on the coarse dcthash and 23 on the trimmed one: without
    the guard they are candidates (and, with the thumbnail check off, flagged); with it they are not."""
    from spark_jobs.imaging.clean import decode
    from spark_jobs.imaging.dedup import guard_positions, near_duplicates, within_reach
    from spark_jobs.imaging.synthetic import picture

    files = {}
    for seed in (138, 926):  # found among the scale benchmarks' generated pictures (synthetic.py)
        r = random.Random(seed)
        files[f"g/{seed}.png"] = encoded(picture(seed, r.randint(32, 160), r.randint(32, 160)))
    root = "file:/corpus"
    cfg = ImageCleanConfig(root_uri=root, target_width=32, target_height=32, mode="RGB")
    a, b = (decode_one(f"{root}/{k}", v, cfg)["hashes"] for k, v in files.items())
    dist = [hamming(x, y) for x, y in zip(a, b)]
    assert dist == [23, 9, 64]  # trimmed, coarse, no small_dcthash (over 32 px)
    assert within_reach(dist.__getitem__, 3, 10, {}) and not within_reach(dist.__getitem__, 3, 10, {1: 0})
    df = spark.createDataFrame([(f"{root}/{k}", v) for k, v in files.items()], "path string, content binary")
    decoded = decode(df, cfg).cache()
    unchecked = NearDupConfig(max_difference=float("inf"))
    assert guard_positions(cfg.hashes) == {1: 0}
    assert near_duplicates(decoded, unchecked, guards={}).count() == 1
    assert near_duplicates(decoded, unchecked, guard_positions(cfg.hashes)).count() == 0


def test_small_icons_and_their_half_size_copies_are_flagged(spark):
    """16 px stickers in a 3 px transparent margin (the size icon themes draw) and their copies at 50% (11 px):
    the content box of so few pixels moves with the resize, so the trimmed hashes lose some of these pairs;
    small_dcthash (the whole frame of pictures up to 32 px) keeps them, and the check compares each pair at the
    copy's resolution. Distinct stickers of the same size stay apart."""
    tiles = photo_tiles(len(IMAGE_EDITS) + 12)
    files, expect = {}, {}
    for k, tile in enumerate(tiles[:16]):
        canvas = Image.new("RGBA", (22, 22), (0, 0, 0, 0))
        canvas.alpha_composite(with_alpha(tile.resize((16, 16), Image.LANCZOS)), (3, 3))
        files[f"s/a{k:02d}.png"] = encoded(canvas)
        files[f"s/b{k:02d}.png"] = encoded(canvas.resize((11, 11), Image.LANCZOS))
        expect[f"s/b{k:02d}.png"] = f"s/a{k:02d}.png"
    for k, tile in enumerate(tiles[16:]):
        canvas = Image.new("RGBA", (22, 22), (0, 0, 0, 0))
        canvas.alpha_composite(with_alpha(tile.resize((16, 16), Image.LANCZOS)), (3, 3))
        files[f"s/n{k:02d}.png"] = encoded(canvas)
    root = "file:/corpus"
    cfg = ImageCleanConfig(root_uri=root, target_width=32, target_height=32, mode="RGB")
    from spark_jobs.imaging.dedup import guard_positions, within_reach

    threshold = NearDupConfig().threshold
    missed = 0
    for copy, kept in expect.items():
        a, b = (decode_one(f"{root}/{k}", files[k], cfg)["hashes"] for k in (kept, copy))
        dist = [hamming(x, y) for x, y in zip(a, b)]  # trimmed, coarse, small
        # found on the small hash and not by the other two (the job's rule, dedup.within_reach)
        missed += dist[2] <= threshold and not within_reach(dist.__getitem__, 2, threshold, guard_positions(cfg.hashes))
    assert missed >= 4  # 6 of these 16 pairs only small_dcthash finds (on white)
    df = spark.createDataFrame([(f"{root}/{k}", v) for k, v in files.items()], "path string, content binary")
    rows = {r["source"]: r for r in clean_images(df, cfg, NearDupConfig()).collect()}
    by_id = {r["id"]: k for k, r in rows.items()}
    got = {k: (r["reason"], by_id.get(r["detail"].split()[3])) for k, r in rows.items() if r["reason"]}
    assert set(got) == set(expect) and all(reason == "near_duplicate" for reason, _ in got.values()), got
    # the kept id is the best-ranked original that looks alike: at 11 px two neighbouring tiles of one photo
    # (4 and 15: 0.32 apart at that resolution, the limit 0.33) can be one picture, so b15 may name a04
    wrong = {k for k, (_, kept) in got.items() if kept != expect[k]}
    assert wrong <= {"s/b15.png"}, got
