"""The input check's look at a corpus before any Spark work: does it hold at least two labels?

A classifier needs two labels; a corpus without them (a flat image folder, JSONL whose label field is named
``category``) used to fail after minutes of cleaning with "found []". This samples the start of the corpus
(bounded in files, lines and seconds) and stops the night with one line that states the rule and what was
found. Labels seen in the sample only prove there are some: the training step still checks the full data.
"""
from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

from shardline.config import ShardlineError, folder_label

SAMPLE_FILES = 20_000
SAMPLE_LINES = 5_000
SAMPLE_SECONDS = 5.0


class TooFewLabels(ShardlineError):
    """A corpus that cannot train a classifier."""


def _files(root: Path, deadline: float):
    if root.is_file():
        yield root
        return
    seen = 0
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            yield Path(folder) / name
            seen += 1
            if seen >= SAMPLE_FILES or time.monotonic() > deadline:
                return


def image_labels(root: Path) -> set[str]:
    """Labels (folder names, ROOT/<label>/<file>) among the first files of an image corpus."""
    deadline, labels = time.monotonic() + SAMPLE_SECONDS, set()
    for f in _files(root, deadline):
        label = folder_label(f.relative_to(root).as_posix()) if f != root else None
        if label:
            labels.add(label)
            if len(labels) >= 2:
                break
    return labels


def text_labels(root: Path, label_field: str) -> tuple[set[str], set[str]]:
    """(labels, field names seen) among the first records of a text corpus: the ``label_field`` of JSONL lines
    and CSV/Parquet rows, the folder name of ``.txt`` files."""
    deadline, labels, fields, lines = time.monotonic() + SAMPLE_SECONDS, set(), set(), 0
    for f in _files(root, deadline):
        suffix = f.suffix.lower()
        rel = f.relative_to(root).as_posix() if f != root else f.name
        if f.name.startswith((".", "_")) and suffix not in (".jsonl", ".json", ".ndjson"):
            continue
        if suffix == ".txt":
            label = folder_label(rel)
            if label:
                labels.add(label)
        elif suffix in (".jsonl", ".json", ".ndjson"):
            with open(f, "rb") as fh:
                for raw in fh:
                    lines += 1
                    try:
                        obj = json.loads(raw[:1_000_000])
                    except (ValueError, RecursionError):
                        continue
                    if isinstance(obj, dict):
                        fields.update(obj)
                        value = obj.get(label_field)
                        if value not in (None, "") and not isinstance(value, (list, dict, bool)):
                            labels.add(str(value))
                    if len(labels) >= 2 or lines >= SAMPLE_LINES or time.monotonic() > deadline:
                        break
        elif suffix in (".csv", ".tsv"):
            with open(f, newline="", errors="replace") as fh:
                reader = csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
                fields.update(reader.fieldnames or [])
                for row in reader:
                    lines += 1
                    if row.get(label_field):
                        labels.add(row[label_field])
                    if len(labels) >= 2 or lines >= SAMPLE_LINES:
                        break
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(f)
            fields.update(pf.schema_arrow.names)
            if label_field in pf.schema_arrow.names and pf.metadata.num_row_groups:
                column = pf.read_row_group(0, columns=[label_field]).column(0).to_pylist()[:SAMPLE_LINES]
                labels.update(str(v) for v in column if v not in (None, ""))
        if len(labels) >= 2 or lines >= SAMPLE_LINES or time.monotonic() > deadline:
            break
    return labels, fields


def check_labels(image_corpus: Path, text_corpus: Path, label_field: str = "label") -> None:
    """Raise ``TooFewLabels`` with one line per corpus that shows fewer than two labels in its sample."""
    problems = []
    found = image_labels(image_corpus)
    if len(found) < 2:
        problems.append(f"image corpus {image_corpus}: {_found(found)} in its first files; labels come from "
                        "folder names (ROOT/<label>/<picture>): put each class's pictures in a folder of its own")
    found, fields = text_labels(text_corpus, label_field)
    if len(found) < 2:
        seen = f" (the records have the fields: {', '.join(sorted(fields)[:12])})" if fields else ""
        problems.append(f"text corpus {text_corpus}: {_found(found)} in its first records; labels come from the "
                        f"{label_field!r} field of each record (text.label_field; .txt files: folder names){seen}")
    if problems:
        raise TooFewLabels("a classifier needs at least 2 labels: " + "; ".join(problems))


def _found(labels: set[str]) -> str:
    return "no label" if not labels else f"only the label {next(iter(labels))!r}"
