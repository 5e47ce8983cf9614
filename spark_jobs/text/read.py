"""Reading a text corpus into raw records for ``clean.transform``: JSONL lines, ``.json`` documents, CSV/TSV
rows, ``.txt`` files and Parquet rows, as (source, raw, fmt, rec_id, rec_label, rec_text[, pos]). No parsing
here: every record, good or bad, reaches ``clean.read_record``, which judges it; Spark only plans the reads.
"""
from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from shardline.config import ShardlineError
from spark_jobs.common.files import local_path, read_files, walk

if TYPE_CHECKING:
    from spark_jobs.text.config import TextCleanConfig

FORMATS = ("jsonl", "txt", "parquet", "csv")
RAW = "source string, raw binary, fmt string, rec_id string, rec_label string, rec_text string"


def detect_format(path: Path) -> str:
    """jsonl / txt / parquet / csv from the file's extension, or from what a folder holds."""
    names = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    suffixes = {p.suffix.lower() for p in names if not p.name.startswith(("_", "."))}
    for fmt, exts in (("parquet", {".parquet"}), ("jsonl", {".jsonl", ".json", ".ndjson"}), ("txt", {".txt"}),
                      ("csv", {".csv", ".tsv"})):
        if suffixes & exts:
            return fmt
    raise ShardlineError(f"no .jsonl, .txt, .parquet or .csv files in {path}; say which with --format")


def read_lines(spark: SparkSession, path: str, max_line_bytes: int | None = None, glob: str | None = None
               ) -> DataFrame:
    """JSONL: (source, raw, ..., pos) per line; ``raw`` keeps the undecoded bytes, ``pos`` is the line's byte
    offset in its file (the source order that ``duplicate_id`` keeps the first of).

    A local corpus is listed by walking it (``spark_jobs/common/files.py``: ``_x.jsonl`` and ``.x.jsonl`` are
    read, a dangling link or fifo is an ``entry:<problem>`` record) and read by the Python workers in byte
    ranges, so one large file still spreads over the cores and names holding ``[``, ``*``, ``?`` are never
    taken as globs; of a line longer than ``max_line_bytes`` only the first ``max_line_bytes + 1`` bytes are
    kept (enough to quarantine it as too_large and recover its id), the rest is skipped, never loaded.
    """
    ranges = line_ranges(walk(path, glob or JSONL_GLOB), spark.sparkContext.defaultParallelism)
    listing = spark.sparkContext.parallelize(ranges, max(1, len(ranges))).toDF(RANGES)

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            for uri, problem, start, end in zip(pdf["path"], pdf["problem"], pdf["start"], pdf["end"]):
                yield from _read_range(uri, problem, int(start), int(end), max_line_bytes)

    return listing.mapInPandas(run, RAW_POS)


JSONL_GLOB = "*.{jsonl,json,ndjson}"
CSV_GLOB = "*.{csv,tsv}"
RANGES = "path string, problem string, start long, end long"
RAW_POS = RAW + ", pos long"
_BATCH_LINES = 5000


def line_ranges(entries: list[tuple[str, str | None]], parallelism: int) -> list[tuple[str, str | None, int, int]]:
    """Walked JSONL entries -> byte ranges (path, problem, start, end), about two per core for the whole
    corpus (4-128 MB each); a problem entry is one range of its own, and so is a file read whole by name (a
    CSV, whose quoted fields may hold newlines; a ``.json`` that may be one document). A UTF-16 file is
    known only by its first bytes: its range at 0 reads it whole and the others give nothing
    (``_read_range``), so the listing opens no file."""
    sizes = {}
    for uri, problem in entries:
        if problem is None:
            try:
                sizes[uri] = os.path.getsize(local_path(uri))
            except OSError:
                sizes[uri] = 0  # read_range reports it
    chunk = min(128 << 20, max(4 << 20, sum(sizes.values()) // max(1, 2 * parallelism) + 1))
    out = []
    for uri, problem in entries:
        size = sizes.get(uri, 0)
        whole = problem is None and (uri.endswith((".csv", ".tsv")) or uri.endswith(".json") and size <= JSON_DOCUMENT_MAX)
        step = size + 1 if whole else chunk
        out += [(uri, problem, start, min(size, start + step)) for start in range(0, max(size, 1), step)]
    return out


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
JSON_DOCUMENT_MAX = 256 << 20  # a .json file up to this size may be one JSON document (an array of records)


HEAD_BYTES = 64


def text_encoding(head: bytes) -> str:
    """The codec of a file or record that starts with ``head`` (its first ``HEAD_BYTES`` or more): UTF-16
    after its byte order mark (Windows PowerShell's ``>``, Notepad's "Unicode", Excel's "Unicode text");
    UTF-16 without one (.NET's ``Encoding.Unicode`` without a preamble, some Java tools) when the head is
    text whose every other byte is NUL, as ASCII is in UTF-16 (a JSON record, a CSV header); else UTF-8
    with a BOM dropped. Any of the three: a record that does not decode is still judged (invalid_utf8)."""
    if head[:2] in UTF16_BOMS:
        return "utf-16"
    n = min(len(head), HEAD_BYTES) // 2 * 2
    if n >= 8:
        even, odd = head[0:n:2], head[1:n:2]
        if b"\0" not in even and odd.count(0) >= 0.9 * len(odd):
            return "utf-16-le"
        if b"\0" not in odd and even.count(0) >= 0.9 * len(even):
            return "utf-16-be"
    return "utf-8-sig"


def _head(fh) -> bytes:
    """The first ``HEAD_BYTES`` of an open file, leaving it at its start."""
    fh.seek(0)
    head = fh.read(HEAD_BYTES)
    fh.seek(0)
    return head


def _whole_file_records(fh, uri: str, max_line_bytes: int | None) -> Iterator[tuple[bytes, int]] | None:
    """(record as JSON bytes, position) of a file read whole by the range at its start, or None to read it
    as lines: a CSV/TSV, a ``.json`` file that is one JSON document (an array of records, as many datasets
    ship, or one object written over several lines), or a UTF-16 file."""
    if uri.endswith((".csv", ".tsv")):
        return _csv_records(fh, "\t" if uri.endswith(".tsv") else ",", max_line_bytes)
    if uri.endswith(".json"):
        records = _json_document(fh)
        if records is not None:
            return iter(records)
    encoding = text_encoding(_head(fh))
    if encoding.startswith("utf-16"):
        return _utf16_lines(fh, -1 if max_line_bytes is None else max_line_bytes + 1, encoding)
    return None


BAD_CSV = b"\x00csv:"  # a raw value no JSONL line starts with: a CSV row that cannot be a record, then why


def _csv_records(fh, delimiter: str, max_field: int | None) -> Iterator[tuple[bytes, int]]:
    """(row as a JSON object of header -> value, its row number) of a CSV/TSV file whose first row names the
    columns, read by one task (a quoted field may hold newlines, so the file cannot be cut into byte ranges).
    UTF-8 (a BOM dropped) or UTF-16 with a BOM. A row with more or fewer fields than the header, or one the
    csv module refuses (a field over ``max_field``, a NUL byte), becomes a ``BAD_CSV`` record with the reason
    (``malformed_csv``); a row holding bytes that are not UTF-8 is handed on invalid (``invalid_utf8``)."""
    import csv

    encoding = text_encoding(_head(fh))
    text = io.TextIOWrapper(fh, encoding=encoding, newline="",
                            errors="surrogatepass" if encoding.startswith("utf-16") else "surrogateescape")
    csv.field_size_limit(max(csv.field_size_limit(), (max_field or 0) + 1))
    try:
        rows = csv.reader(text, delimiter=delimiter)
        header, n = None, 0
        while True:
            n += 1
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error as exc:
                yield BAD_CSV + f"line {rows.line_num}: {exc}".encode(), n
                continue
            if header is None:
                header = row
                continue
            if not any(v.strip() for v in row):
                yield b"", n  # a blank line between rows: blank_line, as in JSONL
                continue
            if len(row) != len(header):
                yield BAD_CSV + f"line {rows.line_num}: {len(row)} fields, the header has {len(header)}".encode(), n
                continue
            # bytes that were not UTF-8 (or a lone UTF-16 surrogate) stay invalid: the row is invalid_utf8
            yield json.dumps(dict(zip(header, row)), ensure_ascii=False).encode("utf-8", "surrogatepass"), n
    finally:
        text.detach()


def _json_document(fh) -> list[tuple[bytes, int]] | None:
    """The records of a file that parses whole as one JSON array (each element, numbered from 0) or
    object; None when it does not (JSONL named .json, a broken file: read as lines, each line judged).
    Elements are written back as ASCII JSON, so a ``\\ud83d`` alone is still caught as invalid_unicode."""
    if os.fstat(fh.fileno()).st_size > JSON_DOCUMENT_MAX:
        return None
    fh.seek(0)
    data = fh.read()
    try:
        doc = json.loads(data.decode(text_encoding(data)))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        return None
    return [(json.dumps(item).encode(), i) for i, item in enumerate(doc)]


def _utf16_lines(fh, cap: int, encoding: str = "utf-16") -> Iterator[tuple[bytes, int]]:
    """(line as UTF-8 bytes, its character offset) of a UTF-16 file (``encoding``: ``utf-16`` with a BOM,
    or ``utf-16-le``/``-be``), at most ``cap`` characters of a line kept (-1: all). A lone surrogate stays
    one, so that line fails UTF-8 decoding downstream (``invalid_utf8``) instead of being repaired silently."""
    text = io.TextIOWrapper(fh, encoding=encoding, errors="surrogatepass", newline="")
    try:
        pos = 0
        for line, length in _capped_lines(text, cap, "\n"):
            yield line.rstrip("\n").removesuffix("\r").encode("utf-8", "surrogatepass"), pos
            pos += length
    finally:
        text.detach()  # the caller's file stays open (a wrapper closes its file when it goes)


def _capped_lines(fh, cap: int, newline):
    """(line, its full length) from the current position of ``fh`` (bytes or text); of a line longer than
    ``cap`` only the head is kept and the rest is skipped in 1 MB reads, never loaded whole."""
    while True:
        line = fh.readline(cap)
        if not line:
            return
        length = len(line)
        if len(line) == cap and not line.endswith(newline):  # too long: keep the head, skip the rest
            length += _skip_line(fh, newline)
        yield line, length


def _skip_line(fh, newline=b"\n") -> int:
    """Read past the rest of the current line in 1 MB chunks (never the whole line at once); bytes (or
    characters) consumed."""
    skipped = 0
    while True:
        part = fh.readline(1 << 20)
        skipped += len(part)
        if not part or part.endswith(newline):
            return skipped


def _byte_lines(fh, start: int, end: int, max_line_bytes: int | None) -> Iterator[tuple[bytes, int]]:
    """(line without its ending, byte offset) of the UTF-8 lines that begin in [start, end)."""
    pos = start
    fh.seek(start)
    if start > 0:  # skip the end of the line that began in the range before
        fh.seek(start - 1)
        pos = start - 1 + _skip_line(fh)
    for line, length in _capped_lines(fh, -1 if max_line_bytes is None else max_line_bytes + 1, b"\n"):
        if pos >= end:
            return
        yield line.rstrip(b"\n").removesuffix(b"\r"), pos
        pos += length


def _read_range(uri: str, problem: str | None, start: int, end: int,
                max_line_bytes: int | None = None) -> Iterator[pd.DataFrame]:
    """The records that begin in [start, end) of one file (a line crossing ``end`` is read whole, a line
    that began before ``start`` belongs to the range before; a file read whole is read by its range at 0),
    in batches of ``_BATCH_LINES``."""
    def frame(raws: list, offsets: list, fmt: str = "jsonl") -> pd.DataFrame:
        return pd.DataFrame({"source": uri, "raw": raws, "fmt": fmt, "rec_id": None, "rec_label": None,
                             "rec_text": None, "pos": offsets})

    if problem is not None:
        yield frame([None], [start], "entry:" + problem)
        return
    raws: list[bytes] = []
    offsets: list[int] = []
    try:
        with open(local_path(uri), "rb") as fh:
            if start == 0:
                records = _whole_file_records(fh, uri, max_line_bytes)
            elif text_encoding(_head(fh)).startswith("utf-16"):
                records = iter(())  # the range at 0 reads a UTF-16 file whole
            else:
                records = None
            for raw, offset in records if records is not None else _byte_lines(fh, start, end, max_line_bytes):
                raws.append(raw)
                offsets.append(offset)
                if len(raws) == _BATCH_LINES:
                    yield frame(raws, offsets)
                    raws, offsets = [], []
    except OSError:  # went away or became unreadable after the walk: one more record says so
        yield frame([None], [start], "entry:unreadable")
    if raws:
        yield frame(raws, offsets)


def read_txt(spark: SparkSession, path: str) -> DataFrame:
    """.txt files: one document per file, every entry of the folder included (``spark_jobs/common/files.py``);
    an entry that is no readable file comes as fmt ``entry:<problem>``."""
    files = read_files(spark, path, "*.txt")  # the workers read each file (content null), after a size check
    fmt = F.when(F.col("problem").isNull(), F.lit("txt")).otherwise(F.concat(F.lit("entry:"), F.col("problem")))
    return files.select(F.col("path").alias("source"), F.col("content").alias("raw"), fmt.alias("fmt"),
                        *(F.lit(None).cast("string").alias(c) for c in ("rec_id", "rec_label", "rec_text")))


def read_parquet(spark: SparkSession, path: str, cfg: TextCleanConfig) -> DataFrame:
    df = spark.read.parquet(path)
    if cfg.text_field not in df.columns:
        raise ShardlineError(f"Parquet input has no column {cfg.text_field!r} (columns: {', '.join(df.columns)}); "
                             f"pass --text-field")
    kind = df.schema[cfg.text_field].dataType.simpleString()
    if kind not in ("string", "binary"):  # a whole column of numbers is a wrong --text-field, not bad records
        raise ShardlineError(f"Parquet column {cfg.text_field!r} holds {kind}, not text; pass --text-field")
    col = lambda name: F.col(name).cast("string") if name in df.columns else F.lit(None).cast("string")  # noqa: E731
    return df.select(F.input_file_name().alias("source"), F.lit(None).cast("binary").alias("raw"),
                     F.lit("parquet").alias("fmt"), col(cfg.id_field).alias("rec_id"),
                     col(cfg.label_field).alias("rec_label"), col(cfg.text_field).alias("rec_text"))


def read_corpus(spark: SparkSession, path: str, fmt: str, cfg: TextCleanConfig) -> DataFrame:
    return {"jsonl": lambda: read_lines(spark, path, cfg.max_doc_bytes), "txt": lambda: read_txt(spark, path),
            "csv": lambda: read_lines(spark, path, cfg.max_doc_bytes, CSV_GLOB),
            "parquet": lambda: read_parquet(spark, path, cfg)}[fmt]()
