"""Labeled corpora from real material installed by Debian packages, for trying the pipeline on data
nobody here wrote (docs/CONFIG.md, "Trying it on real material").

- images: the PNG icons of the installed icon themes (``/usr/share/icons``: Adwaita, hicolor, ...), labeled
  by their context folder (status, actions, devices, mimetypes, places, emotes, apps, ...). Long-tailed
  (``apps`` has a handful), odd sizes from 8 to 512 px, transparency everywhere, and natural near
  duplicates: the same icon drawn at several sizes.
- images, by family (``icon_families``): the same themes, every folder depth (Oxygen keeps its icons under
  ``base/``), labeled by the first word of the icon's freedesktop name (``battery-caution`` -> ``battery``,
  ``x-office-document`` -> ``x``): what the icon is about, drawn by several themes' designers. One
  picture per theme and name (a random one of its sizes), so a fold never holds the same drawing at
  another size. Adwaita's monochrome ``*-symbolic.symbolic.png`` drawings and right-to-left (``-rtl``)
  mirrors count as names of their own: a night's cleaning quarantines those that are near or exact
  duplicates (130 of 1,821 with Adwaita, Oxygen and Tango). The families with at least ``--min-family``
  such icons (35 when Adwaita, Oxygen and Tango are installed: ``apt-get install oxygen-icon-theme
  tango-icon-theme``), at most ``--images-per-label`` each. Long-tailed (``view`` 157 ... 15), 20+ classes.
- text: manual pages (``/usr/share/man/man<section>``), one JSONL record per page, labeled by section
  (``man1`` ... ``man8``; ``man6`` holds one page here), the troff markup crudely removed.

Awkward but ordinary inputs are added on purpose: file names starting with ``_`` and ``.``, a space and
non-ASCII characters in names, a dangling symlink. Nothing is downloaded.

    python benchmarks/real_corpora.py OUT [--images-per-label 120] [--pages-per-section 150]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
from pathlib import Path

ICONS = Path("/usr/share/icons")
MAN = Path("/usr/share/man")
_TROFF_ESCAPE = re.compile(r"\\f[BIRP]|\\f\[[A-Z]*\]|\\[&|^%]|\\\(..|\\\*\(..|\\\*.|\\s[+-]?\d|\\-")


def icon_files() -> dict[str, list[Path]]:
    """{context: icon PNGs}: ``/usr/share/icons/<theme>/<size>/<context>/<name>.png``."""
    out: dict[str, list[Path]] = {}
    for path in sorted(ICONS.glob("*/*/*/*.png")):
        if path.is_file() and not path.is_symlink():
            out.setdefault(path.parent.name, []).append(path)
    return out


def icon_family(name: str) -> str:
    """The first word of a freedesktop icon name: ``battery-caution-symbolic`` -> ``battery``."""
    return name.removesuffix("-symbolic").split("-")[0].lower()


def icon_family_files(min_family: int, seed: int = 7) -> dict[str, list[Path]]:
    """{family: one PNG per (theme, icon name)}, for the families with at least ``min_family`` of them."""
    rng = random.Random(seed)
    drawings: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(ICONS.rglob("*.png")):
        rel = path.relative_to(ICONS).parts
        if len(rel) < 3 or "cursors" in rel or path.is_symlink() or not path.is_file():
            continue
        drawings.setdefault((rel[0], path.stem.removesuffix("-symbolic")), []).append(path)
    out: dict[str, list[Path]] = {}
    for (_, name), sizes in sorted(drawings.items()):
        family = icon_family(name)
        if family.isalpha():
            out.setdefault(family, []).append(rng.choice(sizes))
    return {k: v for k, v in out.items() if len(v) >= min_family}


def build_images(out: Path, per_label: int, seed: int = 7,
                 files_by_label: dict[str, list[Path]] | None = None) -> dict[str, int]:
    rng = random.Random(seed)
    counts = {}
    groups = icon_files() if files_by_label is None else files_by_label
    for label, files in sorted(groups.items()):
        chosen = sorted(rng.sample(files, min(per_label, len(files))))
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        for i, src in enumerate(chosen):
            rel = src.relative_to(ICONS).parts
            name = " ".join(rel[:-2] + (src.name,))  # theme, size (and context): spaces in every name
            if i % 40 == 1:
                name = "_" + name          # hidden from Spark's own listing
            elif i % 40 == 2:
                name = "." + name
            elif i % 40 == 3:
                name = "ü-" + name
            shutil.copyfile(src, folder / name)
        counts[label] = len(chosen)
    os.symlink(out / "nowhere.png", out / "status" / "dangling.png") if (out / "status").exists() else None
    return counts


def troff_to_text(source: str) -> str:
    lines = []
    for line in source.splitlines():
        if line.startswith((".", "'")):
            words = line.split(None, 1)  # keep the argument text of .SH/.B/.I/.IP ...
            if words[0] in (".SH", ".SS", ".B", ".I", ".BR", ".IR", ".BI", ".RB", ".IP", ".TP") and len(words) > 1:
                lines.append(words[1].replace('"', ""))
            continue
        lines.append(line)
    text = _TROFF_ESCAPE.sub(" ", "\n".join(lines))
    return re.sub(r"[ \t]+", " ", text).strip()


def build_text(out: Path, per_section: int, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    counts = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for section in sorted(MAN.glob("man[1-8]")):
            pages = sorted(p for p in section.iterdir() if p.is_file() and not p.is_symlink())
            chosen = sorted(rng.sample(pages, min(per_section, len(pages))))
            n = 0
            for page in chosen:
                raw = gzip.decompress(page.read_bytes()) if page.suffix == ".gz" else page.read_bytes()
                text = troff_to_text(raw.decode("utf-8", errors="replace"))
                if text.startswith(".so") or len(text) < 20:
                    continue  # a page that only includes another one
                fh.write(json.dumps({"id": f"{section.name}/{page.name}", "text": text[:20000],
                                     "label": section.name}, ensure_ascii=False) + "\n")
                n += 1
            counts[section.name] = n
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--images-per-label", type=int, default=120)
    p.add_argument("--pages-per-section", type=int, default=150)
    p.add_argument("--min-family", type=int, default=15, help="icons a family needs to be a label")
    args = p.parse_args()
    out = Path(args.out)
    if not ICONS.is_dir() or not MAN.is_dir():
        raise SystemExit(f"error: needs {ICONS} and {MAN} (Debian: adwaita-icon-theme, manpages)")
    print("images:", build_images(out / "icons", args.images_per_label))
    print("images by family:", build_images(out / "icon_families", args.images_per_label,
                                            files_by_label=icon_family_files(args.min_family)))
    print("text:", build_text(out / "manpages.jsonl", args.pages_per_section))


if __name__ == "__main__":
    main()
