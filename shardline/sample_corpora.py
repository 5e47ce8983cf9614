"""Build the offline sample corpora that ``make demo`` and the tests run on.

Images: scikit-learn's bundled 8x8 digits, upscaled to 28x28 PNGs in class folders (ROOT/<label>/*.png).
Text: labeled JSONL generated from per-topic vocabularies with a fixed seed.
Both plant the bad records that quarantine must catch; ``PLANTED_*`` lists the reason each one should get.
Plain Python (no Spark): run as ``shardline sample-data --out DIR``.
"""
from __future__ import annotations

import io
import json
import random
import shutil
from pathlib import Path

# reason -> relative path (images) / id (text) of the planted record
PLANTED_IMAGE_REJECTS = {
    "truncated": "3/truncated.png",
    "not_an_image": "7/notes.png",
    "empty_file": "1/empty.png",
    "duplicate": "5/digit_copy.png",  # sorts after the original it copies
    "near_duplicate": "5/digit_small.png",  # the same digit at 24x24: the larger original is kept
    "unsupported_mode": "2/scan_lab.tif",  # a CIELAB TIFF: no defined conversion to L/RGB
}
PLANTED_TEXT_REJECTS = {
    "empty_text": "empty-1",
    "invalid_utf8": None,  # no parseable id: the record's id is derived from its raw bytes
    "malformed_json": None,
    "missing_text": "no-text-1",
    "duplicate": "x-dup-1",  # same text as another record; the smaller id is kept
    "near_duplicate": "x-near-1",  # the longest record with one word added; the smaller id is kept
}

TOPICS = {
    "sports": "match team goal coach season league player score referee stadium fans striker defender "
              "tournament final champion transfer injury penalty keeper victory".split(),
    "cooking": "recipe oven flour butter garlic simmer sauce bake dough salt pepper onion pan roast "
               "chef kitchen spice taste dessert broth".split(),
    "technology": "software laptop server network cloud code developer chip battery update app "
                  "database algorithm robot startup device browser encryption processor api".split(),
    "weather": "rain forecast storm cloudy sunny wind temperature humidity snow thunder fog "
               "degrees heatwave drizzle frost breeze showers pressure cold warm".split(),
}
_FILLER = "the a and with today this very really of in on for at after before".split()


def make_image_corpus(out: Path, per_class: int | None = None, size: int = 28, plant_bad: bool = True,
                      labeled: bool = True) -> Path:
    """Write digits as PNGs. ``per_class`` limits images per digit (tests use a few)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    seen: dict[int, int] = {}
    first: Path | None = None
    for idx, (pixels, label) in enumerate(zip(digits.images, digits.target)):
        label = int(label)
        if per_class is not None and seen.get(label, 0) >= per_class:
            continue
        seen[label] = seen.get(label, 0) + 1
        img = Image.fromarray((pixels * 255.0 / 16.0).clip(0, 255).astype("uint8"), mode="L")
        img = img.resize((size, size), Image.BILINEAR)
        folder = out / str(label) if labeled else out
        folder.mkdir(exist_ok=True)
        path = folder / f"digit_{idx:05d}.png"
        img.save(path, format="PNG")
        if first is None and label == 5:
            first = path
    if plant_bad:
        _plant_bad_images(out, first)
    return out


def _plant_bad_images(out: Path, dup_source: Path | None) -> None:
    from PIL import Image

    # A noisy picture compresses badly, so cutting its file in half cuts into the pixel data
    # (a header-only stub would read as not_an_image instead).
    noise = random.Random(1).randbytes(64 * 64)
    buf = io.BytesIO()
    Image.frombytes("L", (64, 64), noise).save(buf, format="PNG")
    paths = {reason: out / rel for reason, rel in PLANTED_IMAGE_REJECTS.items()}
    for p in paths.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    paths["truncated"].write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    paths["not_an_image"].write_text("these are meeting notes, not a picture\n")
    paths["empty_file"].write_bytes(b"")
    Image.new("LAB", (28, 28), (50, 0, 0)).save(paths["unsupported_mode"], format="TIFF")
    if dup_source is not None:
        shutil.copyfile(dup_source, paths["duplicate"])
        Image.open(dup_source).resize((24, 24), Image.BILINEAR).save(paths["near_duplicate"], format="PNG")


def _sentence(rng: random.Random, words: list[str]) -> str:
    picks = [rng.choice(words) for _ in range(rng.randint(4, 7))]
    picks += [rng.choice(_FILLER) for _ in range(rng.randint(2, 4))]
    rng.shuffle(picks)
    return " ".join(picks).capitalize() + "."


def make_text_corpus(out: Path, per_class: int = 150, seed: int = 7, plant_bad: bool = True,
                     labeled: bool = True) -> Path:
    """Write ``out`` (a .jsonl file): one JSON object per line with id, text and label."""
    rng = random.Random(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines: list[bytes] = []
    for topic, words in TOPICS.items():
        for i in range(per_class):
            text = " ".join(_sentence(rng, words) for _ in range(rng.randint(1, 3)))
            rec = {"id": f"{topic}-{i:04d}", "text": text}
            if labeled:
                rec["label"] = topic
            lines.append(json.dumps(rec).encode())
    rng.shuffle(lines)
    if plant_bad:
        first = json.loads(lines[0])
        longest = max((json.loads(line) for line in lines), key=lambda r: len(r["text"].split()))
        lines += [
            json.dumps({**longest, "id": "x-near-1", "text": longest["text"] + " Indeed."}).encode(),
            json.dumps({"id": "empty-1", "text": "   ", "label": "sports"}).encode(),
            b'{"id": "bad-utf8-1", "text": "caf\xe9 au lait \xff\xfe", "label": "cooking"}',
            b'{"id": "broken-1", "text": "unterminated',
            json.dumps({"id": "no-text-1", "label": "weather"}).encode(),
            json.dumps({**first, "id": "x-dup-1"}).encode(),
        ]
    out.write_bytes(b"\n".join(lines) + b"\n")
    return out


def make_all(root: Path, images_per_class: int | None = None, texts_per_class: int = 150) -> dict[str, Path]:
    return {
        "image_corpus": make_image_corpus(root / "images", per_class=images_per_class),
        "text_corpus": make_text_corpus(root / "text" / "corpus.jsonl", per_class=texts_per_class),
    }
