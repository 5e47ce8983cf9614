"""The text cleaning transform: raw records (``spark_jobs/text/read.py``: JSONL lines, .json documents, CSV
rows, .txt files, Parquet rows) -> parsed, normalised, filtered rows with exact and near duplicates flagged.
Shared by ``clean_text`` and the corpus input of ``batch_inference``; the job's module documents the reasons.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
import urllib.parse
from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, IntegerType, LongType, StringType, StructField, StructType

from shardline.config import folder_label, label_text, relative_path, spark_uri
from spark_jobs.common import neardup
from spark_jobs.common.files import PROBLEM_DETAIL, TooLarge, local_path, read_local
from spark_jobs.common.flagged import flag_duplicates
from spark_jobs.text import quality
from spark_jobs.text.config import TextCleanConfig
from spark_jobs.text.dedup import near_duplicates
from spark_jobs.text.minhash import MinHashConfig, band_keys, signatures
from spark_jobs.text.normalize import normalize, normalize_batch
from spark_jobs.text.pii import may_hold_pii, redact
from spark_jobs.text.read import BAD_CSV, text_encoding

PARSED = StructType([
    StructField("id", StringType()),
    StructField("source", StringType()),
    StructField("label", StringType()),
    StructField("text", StringType()),
    StructField("content_hash", StringType()),
    StructField("language", StringType()),
    StructField("word_count", IntegerType()),
    StructField("pii_redacted", IntegerType()),
    StructField("pii_email", IntegerType()),
    StructField("pii_phone", IntegerType()),
    StructField("pii_ip", IntegerType()),
    StructField("boilerplate_lines", IntegerType()),
    StructField("words_in", IntegerType()),
    StructField("chars_in", LongType()),
    StructField("reason", StringType()),
    StructField("detail", StringType()),
    StructField("band_keys", ArrayType(LongType())),
    StructField("pos", LongType()),  # source order within the file (dropped by transform)
])


# ---------------------------------------------------------------- per record, per batch (pure Python)

def _json_type(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(value: object) -> bool:
    """JSON allows ``"\\ud83d"`` alone; such a string cannot be encoded as UTF-8 anywhere downstream."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _file_source(uri: str, root_uri: str) -> str:
    """``source`` of a record read from file ``uri``: its path under the corpus root, or its name when the
    root is that file."""
    return relative_path(uri, root_uri) if uri != root_uri else uri.rsplit("/", 1)[-1]


def _reject(row: dict, reason: str, detail: str) -> dict:
    row.update(reason=reason, detail=detail[:500])
    return row


UNPARSED = {"malformed_json", "invalid_utf8", "invalid_unicode", "not_an_object", "blank_line", "too_large"}


def locate_rejects(rows: list[dict], sources: list[str], positions: list) -> None:
    """A rejected JSONL line that could not be parsed (100,000-deep nesting, a 5,000-digit number, broken JSON,
    bad bytes) or kept no id of its own gets its file and line number in ``detail``, so a person can find it.
    Line numbers are counted once per file, up to the last such line, in 1 MB reads."""
    wanted: dict[str, list[tuple[int, int]]] = {}
    for k, (row, source, pos) in enumerate(zip(rows, sources, positions)):
        unfindable = str(row.get("id", "")).startswith("raw-") or row.get("reason") in UNPARSED
        # byte offsets: lines of a .jsonl/.ndjson file (a .json document, CSV rows and UTF-16 count otherwise)
        if row.get("reason") and unfindable and pos is not None and pos == pos and str(source).startswith("file:") \
                and str(source).endswith((".jsonl", ".ndjson")):
            wanted.setdefault(source, []).append((int(pos), k))
    for source, spots in wanted.items():
        spots.sort()
        try:
            lines = _line_numbers(local_path(source), [p for p, _ in spots])
        except OSError:
            continue
        for (_, k), line in zip(spots, lines):
            rows[k]["detail"] = (f"{rows[k]['detail']} ({rows[k]['source']} line {line})")[:500]


def _line_numbers(path: str, offsets: list[int]) -> list[int]:
    """1-based line numbers of the lines starting at sorted byte ``offsets`` of a file."""
    out, line, done = [], 1, 0
    with open(path, "rb") as fh:
        if fh.read(2) in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16: positions are characters, not bytes
            raise OSError("utf-16")
        fh.seek(0)
        for offset in offsets:
            while done < offset:
                chunk = fh.read(min(1 << 20, offset - done))
                if not chunk:
                    break
                line += chunk.count(b"\n")
                done += len(chunk)
            out.append(line)
    return out


def read_record(source: str, raw: bytes | None, fmt: str, rec_id: str | None, rec_label: str | None,
                rec_text: str | None, cfg: TextCleanConfig) -> tuple[dict, str | None, bool]:
    """One raw record -> (PARSED row, its text, whether the record has its own id); text None when the
    record was rejected while reading (``reason`` set)."""
    row = dict.fromkeys(PARSED.fieldNames())
    row.update(source=source, id="raw-" + hashlib.sha1(raw or (rec_text or "").encode()).hexdigest()[:16])
    if fmt == "parquet":  # input_file_name(): file:///abs/path, %-encoded
        uri = spark_uri(urllib.parse.unquote(source))
        row["source"] = _file_source(uri, cfg.root_uri)
        row["id"] = rec_id or row["id"]
        row["label"] = label_text(rec_label)
        text = rec_text
        if text is None:
            return _reject(row, "missing_text", f"column {cfg.text_field!r} is null"), None, False
        if len(text.encode()) > cfg.max_doc_bytes:
            return _reject(row, "too_large", f"{len(text.encode())} bytes > {cfg.max_doc_bytes}"), None, False
        own_id = rec_id is not None
    elif fmt == "txt" or fmt.startswith("entry:"):
        rel = relative_path(source, cfg.root_uri)
        row.update(id="txt-" + hashlib.sha1(rel.encode()).hexdigest()[:16], source=rel, label=folder_label(rel))
        if fmt.startswith("entry:"):
            return _reject(row, fmt[len("entry:"):], PROBLEM_DETAIL), None, False
        if raw is None:  # listed only: read here, never more than max_doc_bytes
            try:
                raw = read_local(source, cfg.max_doc_bytes)
            except TooLarge as exc:
                return _reject(row, "too_large", f"{exc.size} bytes > {cfg.max_doc_bytes}"), None, False
            except OSError as exc:
                return _reject(row, "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}"), None, False
        if len(raw) > cfg.max_doc_bytes:
            return _reject(row, "too_large", f"{len(raw)} bytes > {cfg.max_doc_bytes}"), None, False
        try:
            text = raw.decode(text_encoding(raw))
            text.encode("utf-8")  # a lone surrogate in UTF-16 is no text either
        except UnicodeError as exc:
            return _reject(row, "invalid_utf8", f"byte {exc.start}: {exc.reason}"), None, False
        own_id = True
    else:
        row["source"] = _file_source(source, cfg.root_uri)
        if not raw.strip():
            return _reject(row, "blank_line", "line holds only whitespace"), None, False
        if raw.startswith(BAD_CSV):
            return _reject(row, "malformed_csv", raw[len(BAD_CSV):].decode("utf-8", "replace")), None, False
        if len(raw) > cfg.max_doc_bytes:  # not parsed; the id is looked for in the line's first 4 KB
            m = re.search(rb'"' + re.escape(cfg.id_field.encode()) + rb'"\s*:\s*"([^"\\]{1,200})"', raw[:4096])
            if m:
                row["id"] = m.group(1).decode("utf-8", errors="replace")
            return _reject(row, "too_large", f"{len(raw)} bytes > {cfg.max_doc_bytes}"), None, False
        try:
            line = raw.decode("utf-8").removeprefix("\ufeff")  # a BOM: a file's first line, or files joined by cat
        except UnicodeDecodeError as exc:
            _recover_id(row, raw.decode("utf-8", errors="replace"), cfg)
            return _reject(row, "invalid_utf8", f"byte {exc.start}: {exc.reason}"), None, False
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            return _reject(row, "malformed_json", f"{exc.msg} at column {exc.colno}"), None, False
        except RecursionError:
            return _reject(row, "malformed_json", "nested too deeply to parse"), None, False
        except ValueError as exc:  # e.g. an integer of more than 4300 digits
            return _reject(row, "malformed_json", f"{type(exc).__name__}: {str(exc)[:200]}"), None, False
        if not isinstance(obj, dict):
            return _reject(row, "not_an_object", f"expected a JSON object, got {_json_type(obj)}"), None, False
        bad = [f for f in (cfg.id_field, cfg.text_field, cfg.label_field) if _has_lone_surrogate(obj.get(f))] \
            if _SURROGATE_ESCAPE.search(line) else []  # only a \\uD800-\\uDFFF escape can make one
        if cfg.id_field not in bad:
            _recover_id(row, obj, cfg)
        if bad:
            return _reject(row, "invalid_unicode", f"field {bad[0]!r}: a \\u escape names a lone surrogate "
                                                  "(not a character)"), None, False
        label = obj.get(cfg.label_field)
        if isinstance(label, (bool, list, dict)) or isinstance(label, float) and label != label:
            return _reject(row, "bad_label", f"field {cfg.label_field!r} is {_json_type(label)}"), None, False
        row["label"] = None if label is None else label_text(str(label))
        text = obj.get(cfg.text_field)
        if text is None:
            return _reject(row, "missing_text", f"field {cfg.text_field!r} is " +
                           ("null" if cfg.text_field in obj else "absent")), None, False
        if not isinstance(text, str):
            return _reject(row, "text_not_a_string", f"field {cfg.text_field!r} is {_json_type(text)}"), None, False
        own_id = obj.get(cfg.id_field) is not None
    row["chars_in"] = len(text)  # words_in: set by the caller, over a whole batch where there is one
    return row, text, own_id


def finish_record(row: dict, own_id: bool, text: str, boilerplate_lines: int, verdict: quality.Verdict | None,
                  cfg: TextCleanConfig, may_hold_pii: bool = True) -> dict:
    """A read record with its normalised text and the filters' verdict (None for an empty text) -> its row
    (``word_count`` of a kept row is set by the caller)."""
    row["boilerplate_lines"] = boilerplate_lines
    if not text:
        return _reject(row, "empty_text", "no text left after normalisation")
    if not own_id:
        row["id"] = "txt-" + hashlib.sha1(text.encode()).hexdigest()[:16]
    reason, detail, row["language"] = verdict
    if reason:
        return _reject(row, reason, detail)
    counts = {"email": 0, "phone": 0, "ip": 0}
    if cfg.redact_pii and may_hold_pii:
        text, counts = redact(text)
    row.update(text=text, content_hash=hashlib.sha1(text.encode()).hexdigest(),
               pii_email=counts["email"], pii_phone=counts["phone"], pii_ip=counts["ip"],
               pii_redacted=sum(counts.values()))
    return row


def parse_one(source: str, raw: bytes | None, fmt: str, rec_id: str | None, rec_label: str | None,
              rec_text: str | None, cfg: TextCleanConfig) -> dict:
    """One raw record -> one PARSED row without band keys, one document at a time (``process_batch`` gives
    the same rows for a whole batch; this is the reference and what row-at-a-time code calls)."""
    row, text, own_id = read_record(source, raw, fmt, rec_id, rec_label, rec_text, cfg)
    if text is None:
        return row
    row["words_in"] = len(text.split())
    text, dropped = normalize(text, cfg.normal_form, cfg.strip_markup, cfg.drop_boilerplate)
    row = finish_record(row, own_id, text, dropped, quality.check(text, cfg.filters) if text else None, cfg)
    if row["reason"] is None:
        row["word_count"] = len(row["text"].split())
    return row


def _recover_id(row: dict, obj: dict | str, cfg: TextCleanConfig) -> None:
    """Keep the record's own id when it can be read, so quarantine names what the user sent."""
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except (ValueError, RecursionError):
            return
    if isinstance(obj, dict) and obj.get(cfg.id_field) is not None:
        row["id"] = str(obj[cfg.id_field])


def process_batch(pdf: pd.DataFrame, cfg: TextCleanConfig, minhash: MinHashConfig | None) -> pd.DataFrame:
    """One Arrow batch of raw records -> PARSED rows: reading per record, normalisation and filters over the
    batch at once (``normalize_batch``, ``quality.check_batch``), then MinHash over the kept texts."""
    read = [read_record(s, None if r is None else bytes(r), f, i, lab, t, cfg) for s, r, f, i, lab, t in
            zip(pdf["source"], pdf["raw"], pdf["fmt"], pdf["rec_id"], pdf["rec_label"], pdf["rec_text"])]
    live = [k for k, (_, text, _) in enumerate(read) if text is not None]
    raw_texts = [read[k][1] for k in live]
    words_in = quality.word_counts(raw_texts)
    texts, dropped = normalize_batch(raw_texts, cfg.normal_form, cfg.strip_markup, cfg.drop_boilerplate)
    verdicts = iter(quality.check_batch([t for t in texts if t], cfg.filters))
    hints = iter(may_hold_pii(texts)) if cfg.redact_pii else itertools.repeat(False)
    rows = [row for row, _, _ in read]
    for k, text, n_dropped, n_words, hint in zip(live, texts, dropped, words_in, hints):
        row, _, own_id = read[k]
        row["words_in"] = int(n_words)
        rows[k] = finish_record(row, own_id, text, n_dropped, next(verdicts) if text else None, cfg, hint)
    if "pos" in pdf:
        locate_rejects(rows, list(pdf["source"]), list(pdf["pos"]))
    out = pd.DataFrame(rows, columns=PARSED.fieldNames())
    out["pos"] = pdf["pos"].to_numpy() if "pos" in pdf else None
    kept = out["reason"].isna().to_numpy()
    word_count = np.full(len(out), np.nan)  # float with NaN, as pandas makes of ints and None
    word_count[kept] = quality.word_counts(out.loc[kept, "text"].tolist())
    out["word_count"] = word_count
    if minhash is not None and kept.any():
        keys = band_keys(signatures(out.loc[kept, "text"].tolist(), minhash), minhash)
        key_col: list = [None] * len(out)
        for k, i in enumerate(np.flatnonzero(kept)):
            key_col[i] = keys[k]
        out["band_keys"] = key_col
    return out


# ---------------------------------------------------------------- Spark transforms

def parse(raw: DataFrame, cfg: TextCleanConfig, minhash: MinHashConfig | None) -> DataFrame:
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            yield process_batch(pdf, cfg, minhash)

    return raw.mapInPandas(run, PARSED)


def flag_duplicate_ids(parsed: DataFrame) -> DataFrame:
    """Kept records whose id an earlier kept record (by source, then position) already holds with a
    different text become ``duplicate_id`` (one id, one text: predictions and labels join on it). The same
    id with the same text is left to ``flag_duplicates``."""
    w = Window.partitionBy("id").orderBy("source", "pos")
    kept = F.col("content_hash").isNotNull()  # set only on records that passed reading and the filters
    first_hash = F.first(F.when(kept, F.col("content_hash")), ignorenulls=True).over(w)
    first_source = F.first(F.when(kept, F.col("source")), ignorenulls=True).over(w)
    clash = F.col("reason").isNull() & kept & (F.col("content_hash") != first_hash)
    return (parsed.withColumns({"_first": first_hash, "_first_source": first_source})
            .withColumns({
                "reason": F.when(clash, F.lit("duplicate_id")).otherwise(F.col("reason")),
                "detail": F.when(clash, F.concat(F.lit("id already used by a different text in "),
                                                 F.col("_first_source"))).otherwise(F.col("detail")),
            })
            .drop("_first", "_first_source"))


def transform(raw: DataFrame, cfg: TextCleanConfig, minhash: MinHashConfig | None = MinHashConfig()) -> DataFrame:
    """Raw records -> PARSED rows, one per record, exact and (unless ``minhash`` is None) near duplicates
    flagged. No I/O; the parsed rows are persisted when near-dup matching reads them twice."""
    if "pos" not in raw.columns:
        raw = raw.withColumn("pos", F.monotonically_increasing_id())
    parsed = flag_duplicate_ids(parse(raw, cfg, minhash))
    flagged = flag_duplicates(parsed, ["id", "source", "pos"]).drop("pos")  # same normalised text: smallest id
    if minhash is None:
        return flagged
    # on disk, not in the heap: the rows are read twice (LSH keys, then the candidates' texts), and cached
    # in memory they crowded the sorts of the windows out of a 2 GB heap (docs/RELIABILITY.md)
    flagged = flagged.persist(StorageLevel.DISK_ONLY)
    detail = F.concat(F.lit("near duplicate of "), F.col("dup_of"), F.lit(" (shared words "),
                      F.format_number("score", 2), F.lit(")"))
    return neardup.mark(flagged.drop("band_keys"), near_duplicates(flagged, minhash),
                        "near_duplicate", detail)
