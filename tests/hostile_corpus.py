"""Hostile additions to the sample corpora for the end-to-end run: every awkward entry issue #15 names,
each with the outcome a user would expect (kept, or quarantined with its reason), written down here
independently of the pipeline's code.

Images: names Spark hides (``_x.png``, ``.x.png``), a label folder and file names holding space,
non-ASCII, ``%``, ``#``, ``'``, ``;``, ``[``, ``{``, ``*``, ``?``; a dangling symlink, a fifo, a link to
itself, a folder link back to the root (a loop), and (when the tests do not run as root, who can read
anything) an unreadable file and an unreadable folder.
Text: a folder of JSONL files, one of them hidden (``_more.jsonl``), one a dangling link, with every
malformed record of the issue and an id repeated with another text.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

AWKWARD = " ü %#';[{*?"  # in a label folder's name and in file names
RENAMED_LABEL = "7"  # this digit's folder becomes f"7{AWKWARD}"


def add_hostile_images(root: Path) -> tuple[dict[str, int], int]:
    """Plant the hostile image entries under ``root`` (a make_image_corpus folder); return the expected
    quarantine reasons with counts and the number of extra images that must be kept."""
    from PIL import Image
    from sklearn.datasets import load_digits

    label_dir = root / RENAMED_LABEL
    label_dir.rename(root / f"{RENAMED_LABEL}{AWKWARD}")
    first = sorted((root / "3").glob("digit_*.png"))[0]
    first.rename(first.with_name(f"three{AWKWARD}.png"))

    digits = load_digits()
    for idx, name in ((1700, "_underscore.png"), (1701, ".dotted.png")):  # unused digits, Spark-hidden names
        label = str(digits.target[idx])
        img = Image.fromarray((digits.images[idx] * 255.0 / 16.0).clip(0, 255).astype("uint8"), mode="L")
        folder = root / (label + AWKWARD if label == RENAMED_LABEL else label)
        img.resize((28, 28), Image.BILINEAR).save(folder / name, format="PNG")
    kept_extra = 2

    reasons = {"broken_link": 1, "not_a_file": 1, "symlink_loop": 2}
    (root / "4" / "gone.png").symlink_to(root / "4" / "missing.png")
    os.mkfifo(root / "4" / "pipe.png")
    (root / "6" / "self.png").symlink_to(root / "6" / "self.png")
    (root / "6" / "loop").symlink_to(root)
    if os.geteuid() != 0:
        secret = root / "8" / "secret.png"
        secret.write_bytes((root / "8" / next(p.name for p in sorted((root / "8").iterdir()))).read_bytes())
        secret.chmod(0)
        locked = root / "9" / "locked"
        locked.mkdir()
        (locked / "inside.png").write_bytes(b"never read")
        locked.chmod(0)
        reasons["unreadable"] = 2
    return reasons, kept_extra


def unlock(root: Path) -> None:
    """Give back read permission so the temporary folders can be removed."""
    for p in (root / "8" / "secret.png", root / "9" / "locked"):
        if p.exists():
            p.chmod(0o755)


def hostile_text_folder(folder: Path, corpus: Path) -> tuple[Path, dict[str, int]]:
    """Move ``corpus`` (a make_text_corpus file) into ``folder`` with a hidden second file of hostile lines
    and a dangling link; return the folder and the expected extra quarantine reasons with counts."""
    folder.mkdir(parents=True)
    corpus.rename(folder / corpus.name)
    records = [json.loads(line) for line in (folder / corpus.name).read_bytes().splitlines()[:-6]]  # not planted
    reused = records[1]  # not the first (its exact copy is planted) nor the longest (its near copy is)
    assert reused != max(records, key=lambda r: len(r["text"].split()))
    lines = [
        b'{"id": "bigint", "text": "fine words here", "n": ' + b"9" * 5000 + b"}",
        b'{"id": "nested", "text": "x", "deep": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"id": "surrogate", "text": "half an emoji \\ud83d here", "label": "sports"}',
        b"null", b"[]", b"123",
        json.dumps({"id": "text-null", "text": None, "label": "sports"}).encode(),
        json.dumps({"id": "text-list", "text": ["a", "b"], "label": "sports"}).encode(),
        json.dumps({"id": "label-list", "text": "the match had a late goal", "label": ["sports"]}).encode(),
        # '_more.jsonl' sorts before 'corpus.jsonl': this one keeps the id, the original becomes duplicate_id
        json.dumps({"id": reused["id"], "text": "Another text that reuses the id of a record in the other file.",
                    "label": reused["label"]}).encode(),
    ]
    (folder / "_more.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (folder / "gone.jsonl").symlink_to(folder / "missing.jsonl")
    return folder, {"malformed_json": 2, "invalid_unicode": 1, "not_an_object": 3, "missing_text": 1,
                    "text_not_a_string": 1, "bad_label": 1, "duplicate_id": 1, "broken_link": 1}
