"""Long-tailed labeled corpora of 20+ classes from real material installed on the machine, for judging
the nightly models against their baselines (docs/TRAINING.md, "Against the baselines"; issue 17).

- text: the docstrings of the Python standard library (modules, classes, functions; 8 words and more),
  labeled by their top-level module (``asyncio``, ``email``, ``tkinter``, ...). The 40 modules with the
  most docstrings, at their natural counts: 600 for the largest, about 30 for the smallest. Short and
  long texts (one line to several paragraphs), written by many people over 30 years. Tests, IDLE,
  lib2to3, pydoc's topic dump and the codec tables are left out.
- images: the 26 lower-case Latin letters rendered from every installed font that covers English
  (``fc-list :lang=en``; Debian's fonts-dejavu, and fonts-liberation2, fonts-freefont-ttf,
  fonts-urw-base35, fonts-noto-core where installed), labeled by letter, as many per letter as the
  letter's frequency in English text (``e`` 12.7%: 380, ``z``/``q``/``x``/``j``: 20). Odd canvas sizes
  (40-160 px), random placement, size and a small rotation, coloured ink on coloured paper, a fifth on a
  transparent background. Which fonts, sizes and colours: seeded, so a rerun gives the same files.
- text, short (``benchmarks/text_cv.py`` only): the descriptions of the Debian packages in the machine's
  apt lists (``apt-cache dumpavail``; about 63,000 in bookworm's main), labeled by their archive section
  (``libs``, ``python``, ``games``, ``science``, ...), one copy of each distinct description (the first
  package's section). The 40 largest sections, the i-th largest capped at 600 x 0.92^i (at least 30): 600
  ``libs`` ... 30 ``video``. A few words each ("terminal multiplexer"), by thousands of maintainers.

Nothing is downloaded.

    python benchmarks/training_corpora.py OUT [--images-total 3000] [--text-labels 40]
"""
from __future__ import annotations

import argparse
import ast
import json
import random
import subprocess
import sysconfig
from collections import Counter
from pathlib import Path

SKIP_PARTS = {"test", "tests", "idle_test", "idlelib", "site-packages", "lib2to3", "pydoc_data", "encodings",
              "__pycache__"}

# Letter frequencies of English text (per cent; Lewand, "Cryptological Mathematics", 2000).
ENGLISH = {"e": 12.70, "t": 9.06, "a": 8.17, "o": 7.51, "i": 6.97, "n": 6.75, "s": 6.33, "h": 6.09,
           "r": 5.99, "d": 4.25, "l": 4.03, "c": 2.78, "u": 2.76, "m": 2.41, "w": 2.36, "f": 2.23, "g": 2.02,
           "y": 1.97, "p": 1.93, "b": 1.29, "v": 0.98, "k": 0.77, "j": 0.15, "x": 0.15, "q": 0.10, "z": 0.07}


def docstrings(stdlib: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(stdlib.rglob("*.py")):
        rel = path.relative_to(stdlib).parts
        if SKIP_PARTS & set(rel):
            continue
        label = rel[0][:-3] if len(rel) == 1 else rel[0]
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc.split()) >= 8:
                    out.setdefault(label.lstrip("_"), []).append(doc)
    return out


def build_text(out: Path, n_labels: int) -> dict[str, int]:
    docs = docstrings(Path(sysconfig.get_paths()["stdlib"]))
    chosen = sorted(docs, key=lambda k: (-len(docs[k]), k))[:n_labels]
    return write_jsonl(out, {label: docs[label] for label in chosen})


def write_jsonl(out: Path, texts: dict[str, list[str]]) -> dict[str, int]:
    """One ``{"id", "text", "label"}`` record per text (the pipeline's input format) -> the count per label."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for label, items in texts.items():
            for i, text in enumerate(items):
                fh.write(json.dumps({"id": f"{label}-{i}", "text": text, "label": label}, ensure_ascii=False) + "\n")
    return {label: len(items) for label, items in texts.items()}


def debian_descriptions() -> dict[str, list[str]]:
    """Distinct package descriptions (the synopsis, and the long text where the lists carry it) per section."""
    try:
        listing = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    by_text: dict[str, tuple[str, str]] = {}
    for block in listing.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line.startswith(" ") and key == "Description":
                fields[key] += "\n" + ("" if line.strip() == "." else line.strip())
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if fields.get("Description") and fields.get("Section") and fields.get("Package"):
            text = fields["Description"].strip()
            first = (fields["Package"], fields["Section"].split("/")[-1])
            by_text[text] = min(by_text.get(text, first), first)  # the first package's section, whatever the order
    out: dict[str, list[str]] = {}
    for text, (_, section) in sorted(by_text.items()):
        out.setdefault(section, []).append(text)
    return out


def build_debian(out: Path, n_labels: int = 40, largest: int = 600, seed: int = 3) -> dict[str, int]:
    rng = random.Random(seed)
    docs = debian_descriptions()
    chosen = sorted(docs, key=lambda k: (-len(docs[k]), k))[:n_labels]
    return write_jsonl(out, {label: rng.sample(docs[label], min(len(docs[label]), max(30, int(largest * 0.92 ** i))))
                             for i, label in enumerate(chosen)})


def latin_fonts() -> list[str]:
    """Font files that cover English, one per family and style."""
    try:
        listing = subprocess.run(["fc-list", ":lang=en", "file", "family", "style"], capture_output=True,
                                 text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        listing = ""
    files = sorted({line.split(":")[0] for line in listing.splitlines()
                    if line.split(":")[0].endswith((".ttf", ".otf", ".t1", ".pfb"))
                    and not any(word in line for word in ("Dingbat", "Symbol"))})  # pictures, not letters
    return files or sorted(str(p) for p in Path("/usr/share/fonts").rglob("*.ttf"))


def render(letter: str, font_file: str, rng: random.Random):
    from PIL import Image, ImageDraw, ImageFont

    side = rng.randint(40, 160)
    transparent = rng.random() < 0.2
    ink = tuple(rng.randint(0, 110) for _ in range(3))
    paper = tuple(rng.randint(150, 255) for _ in range(3))
    if rng.random() < 0.3:  # light on dark
        ink, paper = paper, ink
    font = ImageFont.truetype(font_file, size=max(8, int(side * rng.uniform(0.45, 0.8))))
    glyph = Image.new("L", (side * 2, side * 2), 0)
    ImageDraw.Draw(glyph).text((side // 2, side // 2), letter, font=font, fill=255)
    glyph = glyph.rotate(rng.uniform(-8, 8), resample=Image.BILINEAR)
    box = glyph.getbbox()
    if box is None:
        return None
    glyph = glyph.crop(box)
    if glyph.width > side or glyph.height > side:
        return None
    canvas = Image.new("RGBA", (side, side), (*paper, 0 if transparent else 255))
    x, y = rng.randint(0, side - glyph.width), rng.randint(0, side - glyph.height)
    canvas.paste(Image.new("RGBA", glyph.size, (*ink, 255)), (x, y), glyph)
    return canvas if transparent else canvas.convert("RGB")


def build_images(out: Path, total: int, seed: int = 17) -> dict:
    rng = random.Random(seed)
    fonts = [f for f in latin_fonts() if _renders(f)]
    norm = sum(ENGLISH.values())
    counts = {}
    for letter, freq in ENGLISH.items():
        n = max(20, round(total * freq / norm))
        folder = out / letter
        folder.mkdir(parents=True, exist_ok=True)
        made = 0
        while made < n:
            font = rng.choice(fonts)
            img = render(letter, font, rng)
            if img is None:
                continue
            img.save(folder / f"{Path(font).stem}-{made}.png")
            made += 1
        counts[letter] = made
    return {"fonts": len(fonts), "counts": counts}


def _renders(font_file: str) -> bool:
    """The font draws distinct shapes for a few letters (not one missing-glyph box for all)."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.truetype(font_file, size=32)
    except OSError:
        return False
    shapes = set()
    for letter in "aeg":
        img = Image.new("L", (64, 64), 0)
        ImageDraw.Draw(img).text((8, 8), letter, font=font, fill=255)
        shapes.add(img.tobytes())
    return len(shapes) == 3 and all(Counter(s).get(0, 0) < 64 * 64 for s in shapes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--images-total", type=int, default=3000)
    p.add_argument("--text-labels", type=int, default=40)
    args = p.parse_args()
    text = build_text(args.out / "docstrings.jsonl", args.text_labels)
    print(f"text: {sum(text.values())} docstrings, {len(text)} labels, largest {max(text.values())}, "
          f"smallest {min(text.values())}")
    debian = build_debian(args.out / "debian_descriptions.jsonl", args.text_labels)
    if debian:
        print(f"text, short: {sum(debian.values())} Debian package descriptions, {len(debian)} sections, largest "
              f"{max(debian.values())}, smallest {min(debian.values())}")
    else:
        print("text, short: skipped (no apt lists: apt-get update first)")
    images = build_images(args.out / "glyphs", args.images_total)
    c = images["counts"]
    print(f"images: {sum(c.values())} glyphs from {images['fonts']} fonts, {len(c)} labels, largest "
          f"{max(c.values())}, smallest {min(c.values())}")


if __name__ == "__main__":
    main()
