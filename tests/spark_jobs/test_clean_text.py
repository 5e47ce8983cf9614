"""clean_text: every reading case with its exact reason, normalisation, filters and presets, PII,
dedup quality against planted ground truth, determinism, and the whole job's accounting and report.
Expectations (reasons, Jaccard, groups) are computed here, independently of the job's code."""
import dataclasses
import hashlib
import json
import os
import random
import re
from pathlib import Path

import pytest

from shardline.config import ShardlineError, spark_uri
from spark_jobs.clean_text import main
from spark_jobs.common.flagged import accepted, rejected
from spark_jobs.text import quality
from spark_jobs.text.clean import TextCleanConfig, transform
from spark_jobs.text.minhash import MinHashConfig
from spark_jobs.text.read import RAW, _read_range, read_corpus

CFG = TextCleanConfig()
WEB = TextCleanConfig(filters=quality.PRESETS["web"])


def frame(spark, lines: list[bytes], source="file:/c.jsonl"):
    return spark.createDataFrame([(source, line, "jsonl", None, None, None) for line in lines], RAW)


def run(spark, lines: list[bytes], cfg=CFG, minhash=None):
    return transform(frame(spark, lines), cfg, minhash).collect()


def j(**kw) -> bytes:
    return json.dumps(kw).encode()


def test_each_bad_line_gets_its_reason(spark):
    rows = run(spark, [
        j(id="ok", text="A fine sentence.", label="a"),
        j(id="empty", text=" \t ", label="a"),
        b'{"id": "utf", "text": "caf\xe9"}',
        b'{"id": "broken", "text": "no end',
        j(id="notext", label="a"),
        j(id="numtext", text=5),
        b"   ",
        b"[1, 2]",
        j(id="huge", text="word " * 2_100_000),  # a 10 MB single document
        j(id="ctrl", text="nul\x00 and bell\x07 removed"),
    ])
    reasons = {r["id"]: r["reason"] for r in rows}
    assert reasons["ok"] is None
    assert reasons["empty"] == "empty_text"
    assert reasons["utf"] == "invalid_utf8"  # id recovered from the damaged line
    assert reasons["notext"] == "missing_text"
    assert reasons["numtext"] == "text_not_a_string"
    assert reasons["huge"] == "too_large"
    assert reasons["ctrl"] is None
    assert next(r["text"] for r in rows if r["id"] == "ctrl") == "nul and bell removed"
    by_reason = sorted(r["reason"] for r in rows if r["id"].startswith("raw-"))
    assert by_reason == ["blank_line", "malformed_json", "not_an_object"]
    assert len(rows) == 10  # nothing vanished


def test_hostile_json_lines_are_quarantined_not_fatal(spark):
    """Lines that made the task fail before (int-digit limit, recursion, lone surrogates) and values of the
    wrong type: each is one quarantined row with its own reason."""
    lines = {
        "bigint": b'{"id": "bigint", "text": "ok words", "n": ' + b"9" * 5000 + b"}",
        "nested": b'{"id": "nested", "text": "x", "deep": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        "surrogate": b'{"id": "surrogate", "text": "half an emoji \\ud83d here"}',
        "null": b"null", "array": b"[]", "number": b"123",
        "textnull": j(id="textnull", text=None), "textlist": j(id="textlist", text=["a", "b"]),
        "labellist": j(id="labellist", text="fine words here", label=["a"]),
        "labelnum": j(id="labelnum", text="fine words here", label=7),
        "labelnull": j(id="labelnull", text="other fine words", label=None),
    }
    expected = {"bigint": "malformed_json", "nested": "malformed_json", "surrogate": "invalid_unicode",
                "null": "not_an_object", "array": "not_an_object", "number": "not_an_object",
                "textnull": "missing_text", "textlist": "text_not_a_string", "labellist": "bad_label",
                "labelnum": None, "labelnull": None}
    rows = run(spark, list(lines.values()))
    assert len(rows) == len(lines)
    got = sorted(r["reason"] or "kept" for r in rows)
    assert got == sorted(v or "kept" for v in expected.values())
    by_id = {r["id"]: r for r in rows}
    for key in ("surrogate", "textnull", "textlist", "labellist"):
        assert by_id[key]["reason"] == expected[key], (key, by_id[key]["detail"])
    assert by_id["labelnum"]["label"] == "7" and by_id["labelnull"]["label"] is None


def test_labels_are_composed_unicode(spark):
    """The same label typed on two systems (decomposed, NFD, and composed, NFC) is one class."""
    rows = run(spark, [j(id="n1", text="A fine sentence about food.", label="cafe\u0301"),
                       j(id="n2", text="Another fine sentence on food.", label="caf\u00e9")])
    assert sorted(r["label"] for r in rows) == ["caf\u00e9", "caf\u00e9"]


def test_txt_files_and_parquet_input(spark, tmp_path):
    root = tmp_path / "txt"
    (root / "pos").mkdir(parents=True)
    (root / "neg").mkdir()
    (root / "pos" / "a.txt").write_text("Loved every minute of it.")
    (root / "neg" / "b.txt").write_bytes(b"Dull \xff\xfe film")
    (root / "neg" / "empty.txt").write_bytes(b"")
    (root / "neg" / "skip.md").write_text("not a .txt file")
    (root / "pos" / "notepad.txt").write_bytes("Caf\u00e9 au lait, loved it.".encode("utf-16"))  # with its BOM
    (root / "pos" / "bom8.txt").write_bytes(b"\xef\xbb\xbfGreat fun.")
    cfg = TextCleanConfig(root_uri=root.as_uri().replace("file:///", "file:/"))
    rows = {r["source"]: r for r in transform(read_corpus(spark, str(root), "txt", cfg), cfg, None).collect()}
    assert set(rows) == {"pos/a.txt", "neg/b.txt", "neg/empty.txt", "pos/notepad.txt", "pos/bom8.txt"}
    assert (rows["pos/notepad.txt"]["reason"], rows["pos/notepad.txt"]["text"]) == (None, "Caf\u00e9 au lait, loved it.")
    assert (rows["pos/bom8.txt"]["reason"], rows["pos/bom8.txt"]["text"]) == (None, "Great fun.")
    assert rows["pos/a.txt"]["reason"] is None and rows["pos/a.txt"]["label"] == "pos"
    assert rows["pos/a.txt"]["id"] == "txt-" + hashlib.sha1(b"pos/a.txt").hexdigest()[:16]
    assert rows["neg/b.txt"]["reason"] == "invalid_utf8"
    assert rows["neg/empty.txt"]["reason"] == "empty_text"

    pq_path = str(tmp_path / "pq ü %20")
    spark.createDataFrame([("p1", "Nice.", "x", 1), ("p2", None, "y", 2)],
                          "id string, body string, label string, n int").coalesce(1).write.parquet(pq_path)
    pcfg = TextCleanConfig(text_field="body", root_uri=spark_uri(pq_path))
    prow = {r["id"]: r for r in transform(read_corpus(spark, pq_path, "parquet", pcfg), pcfg, None).collect()}
    assert prow["p1"]["reason"] is None and prow["p1"]["label"] == "x"
    assert prow["p2"]["reason"] == "missing_text"
    # relative to the root, not %-encoded, like every other source
    assert {r["source"] for r in prow.values()} == {p.name for p in Path(pq_path).glob("part-*.parquet")}
    with pytest.raises(ShardlineError, match="column 'n' holds int, not text; pass --text-field"):
        read_corpus(spark, pq_path, "parquet", TextCleanConfig(text_field="n"))


def test_jsonl_folder_reads_every_file_a_walk_finds(spark, tmp_path):
    """Names Spark hides or takes as globs are read; a dangling link and a fifo are records of their own;
    CRLF endings are stripped; ``source`` is relative to the root."""
    root = tmp_path / "corpus ü [1]"
    (root / "sub").mkdir(parents=True)
    (root / "_hidden.jsonl").write_bytes(j(id="h1", text="hidden file words") + b"\n")
    (root / ".dot.jsonl").write_bytes(j(id="d1", text="dot file words") + b"\r\n" + j(id="d2", text="more") + b"\r\n")
    (root / "sub" / "a*b?{c}.jsonl").write_bytes(j(id="g1", text="glob name words") + b"\n\n")
    (root / "sub" / "notes.md").write_text("not jsonl")
    (root / "gone.jsonl").symlink_to(root / "missing.jsonl")
    os.mkfifo(root / "pipe.jsonl")
    # a UTF-8 BOM at the start and where two files were joined by cat; UTF-16 as Windows PowerShell's > writes it
    (root / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + j(id="b1", text="bom words") + b"\n\xef\xbb\xbf"
                                     + j(id="b2", text="joined words") + b"\n")
    (root / "ps.jsonl").write_bytes((j(id="w1", text="caf\u00e9 words").decode() + "\r\n"
                                     + j(id="w2", text="\u4e2d\u6587 words").decode() + "\r\n").encode("utf-16"))
    # .json files that are one document: an array of records written over many lines (as datasets ship),
    # one object over several lines; one that does not parse whole is read as lines, each line judged
    (root / "array.json").write_text(json.dumps([{"id": "a1", "text": "array words", "label": "x"}, 7,
                                                 {"id": "a3", "text": "half \ud83d emoji", "label": "x"}], indent=2))
    (root / "object.json").write_text(json.dumps({"id": "o1", "text": "object words"}, indent=2))
    (root / "broken.json").write_bytes(b"[\n" + j(id="k1", text="cut words") + b",\n")
    cfg = TextCleanConfig(root_uri=spark_uri(root))
    rows = transform(read_corpus(spark, str(root), "jsonl", cfg), cfg, None).collect()
    got = sorted((r["source"], r["id"] if not r["id"].startswith(("raw-", "txt-")) else "-", r["reason"]) for r in rows)
    assert got == [(".dot.jsonl", "d1", None), (".dot.jsonl", "d2", None), ("_hidden.jsonl", "h1", None),
                   ("array.json", "-", "not_an_object"), ("array.json", "a1", None),
                   ("array.json", "a3", "invalid_unicode"),
                   ("bom.jsonl", "b1", None), ("bom.jsonl", "b2", None),
                   ("broken.json", "-", "malformed_json"), ("broken.json", "-", "malformed_json"),
                   ("gone.jsonl", "-", "broken_link"), ("object.json", "o1", None), ("pipe.jsonl", "-", "not_a_file"),
                   ("ps.jsonl", "w1", None), ("ps.jsonl", "w2", None),
                   ("sub/a*b?{c}.jsonl", "-", "blank_line"), ("sub/a*b?{c}.jsonl", "g1", None)]
    assert {r["id"]: r["text"] for r in rows if r["source"] == "ps.jsonl"} == {"w1": "caf\u00e9 words",
                                                                                "w2": "\u4e2d\u6587 words"}


@pytest.mark.parametrize("sep,last", [(b"\n", b"\n"), (b"\r\n", b"\r\n"), (b"\n", b"")])
def test_byte_ranges_hold_each_line_once(tmp_path, sep, last):
    """However a file is cut into two ranges, every line is read once, by the range it begins in."""
    lines = [b"", b"a", b"bb", b"", b"ccc" * 7, b"d"]
    path = tmp_path / "f.jsonl"
    path.write_bytes(sep.join(lines) + last)
    size = path.stat().st_size
    for cut in range(0, size + 1):
        got = [r for start, end in ((0, cut), (cut, size))
               for batch in _read_range(spark_uri(path), None, start, end) for r in batch["raw"]]
        assert got == lines, (cut, got)
    # a line longer than the cap: its head only (cap + 1 bytes), the lines after it intact
    capped = [r for start, end in ((0, 9), (9, size))
              for batch in _read_range(spark_uri(path), None, start, end, max_line_bytes=4) for r in batch["raw"]]
    assert capped == [b"", b"a", b"bb", b"", b"cccc" + b"c", b"d"]


def test_utf16_file_is_one_range_of_utf8_lines(tmp_path):
    """A UTF-16 JSONL file (BOM, CRLF) is read whole by its range at 0, each line handed on as UTF-8 (a range
    further in gives nothing); a line over the cap keeps its head; a lone surrogate stays invalid
    (quarantined downstream, never repaired)."""
    from spark_jobs.text.read import line_ranges

    path = tmp_path / "w.jsonl"
    text = "a\r\n\u00e9\u00e9\r\n" + "c" * 9 + "\r\n\ud800x\r\nd"
    path.write_bytes(text.encode("utf-16-le", "surrogatepass").join([b"\xff\xfe", b""]))
    assert [(s, e) for _, _, s, e in line_ranges([(spark_uri(path), None)], 2)] == [(0, path.stat().st_size)]
    got = [r for batch in _read_range(spark_uri(path), None, 0, path.stat().st_size, max_line_bytes=4)
           for r in batch["raw"]]
    assert got == [b"a", "\u00e9\u00e9".encode(), b"ccccc", b"\xed\xa0\x80x", b"d"]
    assert list(_read_range(spark_uri(path), None, 10, path.stat().st_size)) == []


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_read_as_utf16(tmp_path, codec):
    """UTF-16 without a byte order mark (.NET's Encoding.Unicode without its preamble, some Java tools): every
    other byte of the JSON is NUL. Read whole by the range at 0 like a file with a BOM, each line as UTF-8.
    UTF-8 text, and a file of NULs, stay UTF-8 (their lines are judged as such)."""
    from spark_jobs.text.read import text_encoding

    path = tmp_path / "nobom.jsonl"
    lines = [j(id="n1", text="caf\u00e9 words").decode(), j(id="n2", text="\u4e2d\u6587 words").decode()]
    path.write_bytes("\r\n".join(lines).encode(codec))
    assert text_encoding(path.read_bytes()[:64]) == codec
    got = [r for batch in _read_range(spark_uri(path), None, 0, path.stat().st_size) for r in batch["raw"]]
    assert got == [line.encode() for line in lines]
    assert list(_read_range(spark_uri(path), None, 6, path.stat().st_size)) == []
    assert text_encoding(j(id="u", text="caf\u00e9 \u4e2d\u6587").ljust(64)) == "utf-8-sig"
    assert text_encoding(b"\0" * 64) == text_encoding(b"a\0b") == "utf-8-sig"


def test_repeated_id_with_another_text_is_duplicate_id(spark):
    """The first record of an id (by source, then line) keeps it; a later one with another text would
    join twice against predictions, so it is quarantined; the same id with the same text is a duplicate."""
    a, b = b"file:/x/a.jsonl", b"file:/x/b.jsonl"
    rows = spark.createDataFrame([
        (b.decode(), j(id="k", text="the first text of all"), "jsonl", None, None, None, 0),
        (a.decode(), j(id="k", text="a different text here"), "jsonl", None, None, None, 50),
        (a.decode(), j(id="k", text="an earlier line's text"), "jsonl", None, None, None, 10),
        (b.decode(), j(id="k", text="an earlier line's text"), "jsonl", None, None, None, 90),
        (b.decode(), j(id="m", text="x"), "jsonl", None, None, None, 120),
        (b.decode(), j(id="m", text="unrelated words here"), "jsonl", None, None, None, 130),
    ], RAW + ", pos long")
    cfg = TextCleanConfig(filters=dataclasses.replace(quality.PRESETS["labeled"], min_words=2))
    got = sorted((r["text"] or "x", r["reason"] or "kept") for r in transform(rows, cfg, None).collect())
    assert got == [("a different text here", "duplicate_id"), ("an earlier line's text", "duplicate"),
                   ("an earlier line's text", "kept"), ("the first text of all", "duplicate_id"),
                   ("unrelated words here", "kept"), ("x", "too_short")]


def test_normalisation(spark):
    html = ("<html><head><title>t</title><script>var x = 1;</script></head><body><p>Caf\u0065\u0301 &amp; "
            "tea</p><div>Accept all cookies</div><p>Second   line\u00a0here</p></body></html>")
    rows = run(spark, [j(id="h", text=html), j(id="k", text="\ufb01ne \u2460")])
    by_id = {r["id"]: r for r in rows}
    assert by_id["h"]["text"] == "Caf\u00e9 & tea\n\nSecond line here"
    assert by_id["k"]["text"] == "\ufb01ne \u2460"  # NFC keeps compatibility characters
    nfkc = run(spark, [j(id="k", text="\ufb01ne \u2460")], TextCleanConfig(normal_form="NFKC"))
    assert nfkc[0]["text"] == "fine 1"


GOOD = ("The committee met on Tuesday to review the budget for the coming year. Members agreed that the "
        "library and the school should have more money, and that the roads need repairs before winter. "
        "A vote will be held next month, after the public has had time to comment on the plan with the "
        "council. Residents can send their views by post or attend the open meeting at the town hall.")


@pytest.mark.parametrize("text,reason", [
    ("Short but fine.", "too_short"),
    ("Der Ausschuss hat am Dienstag den Haushalt für das kommende Jahr geprüft und beschlossen, dass die "
     "Bibliothek und die Schule mehr Geld bekommen sollen und dass die Straßen vor dem Winter repariert "
     "werden müssen. Eine Abstimmung findet im nächsten Monat statt, nachdem die Öffentlichkeit Zeit hatte, "
     "den Plan zu kommentieren und ihre Meinung dem Rat mitzuteilen.", "language"),
    ("lorem ipsum " + GOOD, "lorem_ipsum"),
    ("the and of " + " ".join(["supercalifragilisticexpialidocious"] * 60), "mean_word_length"),
    (GOOD + " " + "# " * 20, "symbol_ratio"),
    ("\n".join([GOOD] + ["and then the story goes on with the..."] * 5), "ellipsis_lines"),
    ("\n".join(["• item with the " + w for w in GOOD.split()[:60]]), "bullet_lines"),
    ("\n".join([GOOD] + ["the same line of the text is here again"] * 6), "repeated_lines"),
    (" ".join(["the market opened higher today"] * 15), "repeated_ngrams"),
    ("Markets rallied strongly on Monday as investors cheered upbeat earnings reports from several "
     "technology companies. Bond yields slipped while oil prices climbed after a pipeline outage in Texas. "
     "Analysts expect more gains this week if inflation data comes in below forecasts. Retail stocks lagged "
     "behind, hurt by weak holiday sales figures from major chains. Gold edged higher for a third straight "
     "session.", "no_stop_words"),
    (GOOD + " " + " ".join(f"{i}.{i} 42 7" for i in range(30)), "alpha_words"),
])
def test_web_filters_each_have_their_reason(text, reason):
    from spark_jobs.text.clean import parse_one

    row = parse_one("s", j(id="d", text=text), "jsonl", None, None, None, WEB)
    assert row["reason"] == reason, row["detail"]
    assert parse_one("s", j(id="d", text=GOOD), "jsonl", None, None, None, WEB)["reason"] is None


def test_labeled_preset_keeps_a_good_one_sentence_document(spark):
    rows = run(spark, [j(id="r", text="Great acting, and the ending made me cry.", label="pos"),
                       j(id="g", text="$$$ ### 1234 !!!", label="neg")])
    by_id = {r["id"]: r for r in rows}
    assert by_id["r"]["reason"] is None
    assert by_id["g"]["reason"] == "alpha_words"
    web = run(spark, [j(id="r", text="Great acting, and the ending made me cry.")], WEB)
    assert web[0]["reason"] == "too_short"


def test_pii_is_redacted_and_counted(spark):
    text = "Write to ana.lopez@example.org or call +44 20 7946 0958; host 10.0.0.12 logged it in 2024."
    row = run(spark, [j(id="p", text=text)])[0]
    assert row["text"] == "Write to <EMAIL> or call <PHONE>; host <IP> logged it in 2024."
    assert (row["pii_email"], row["pii_phone"], row["pii_ip"], row["pii_redacted"]) == (1, 1, 1, 3)


def test_exact_duplicates_keep_the_smallest_id(spark):
    rows = run(spark, [j(id="b", text="same words"), j(id="a", text="same  words"), j(id="c", text="other")])
    by_id = {r["id"]: r for r in rows}
    assert by_id["a"]["reason"] is None and by_id["c"]["reason"] is None
    assert by_id["b"]["reason"] == "duplicate"
    assert by_id["b"]["detail"] == "duplicate of a"


def planted_corpus(n_base=240, seed=11, length=250, edited=None):
    """Base documents of ``length`` words from a 6,000-word vocabulary; 2/3 get 1-2 copies with 5-20% of
    the words edited: one contiguous span, two spans, or scattered words. Returns (docs, group of each id);
    ``edited``, when given, gets each copy's share of substituted words."""
    rng = random.Random(seed)
    vocab = [f"{rng.choice('bcdfgklmnprst')}{rng.choice('aeiou')}{rng.choice('bcdfgklmnprst')}{i}" for i in range(6000)]
    docs, group = {}, {}
    edited = {} if edited is None else edited
    for g in range(n_base):
        words = [rng.choice(vocab) for _ in range(length)]
        docs[f"g{g:03d}-0"], group[f"g{g:03d}-0"] = words, g
        for c in range(1, 1 + (g % 3 > 0) * (1 + g % 2)):
            edited_words = list(words)
            k = int(len(words) * rng.uniform(0.05, 0.20))
            kind = rng.random()
            if kind < 0.5:
                start = rng.randrange(0, len(words) - k)
                positions = list(range(start, start + k))
            elif kind < 0.75:
                s1, s2 = rng.randrange(0, len(words) // 2 - k), rng.randrange(len(words) // 2, len(words) - k)
                positions = list(range(s1, s1 + k // 2)) + list(range(s2, s2 + k - k // 2))
            else:
                positions = rng.sample(range(len(words)), k)
            for p in positions:
                edited_words[p] = rng.choice(vocab)
            docs[f"g{g:03d}-{c}"], group[f"g{g:03d}-{c}"] = edited_words, g
            edited[f"g{g:03d}-{c}"] = k / len(words)
    return docs, group


def test_near_duplicate_recall_and_precision(spark):
    """Ground truth from the construction, not from any similarity: every copy with at most 10% of its
    words substituted (one span, two spans or scattered) must be found with its original; every flag must
    join two documents of one group."""
    edited = {}
    docs, group = planted_corpus(edited=edited)
    lines = [j(id=i, text=" ".join(w)) for i, w in sorted(docs.items(), key=lambda kv: random.Random(kv[0]).random())]
    rows = run(spark, lines, minhash=MinHashConfig())
    flags = {r["id"]: r["detail"].split()[3] for r in rows if r["reason"] == "near_duplicate"}
    within = [(c.split("-")[0] + "-0", c) for c, share in edited.items() if share <= 0.10]

    def found(a, b):
        return flags.get(b) == a or flags.get(a) == b or (b in flags and flags[b] == flags.get(a))

    recall = sum(found(a, b) for a, b in within) / len(within)
    precision = sum(group[d] == group[k] for d, k in flags.items()) / len(flags)
    print(f"near-dup: {len(edited)} planted copies, {len(within)} edited <= 10%, recall={recall:.3f}, "
          f"{len(flags)} flagged, precision={precision:.3f}")
    assert len(within) >= 60 and recall >= 0.95 and precision >= 0.99


def test_ids_and_kept_records_do_not_depend_on_partitioning(spark):
    docs, _ = planted_corpus(n_base=60, seed=3, length=100)
    lines = [j(text=" ".join(w)) for w in docs.values()]  # no ids: derived from the text
    one = transform(frame(spark, lines).coalesce(1), CFG, MinHashConfig())
    many = transform(frame(spark, list(reversed(lines))).repartition(5), CFG, MinHashConfig())
    key = lambda rows: sorted((r["id"], r["reason"] or "", r["detail"] or "") for r in rows)  # noqa: E731
    assert key(one.collect()) == key(many.collect())


def test_skew_guard_still_keeps_one_of_a_giant_cluster(spark):
    base = GOOD.split()
    lines = [j(id=f"d{i:02d}", text=" ".join(base + [f"extra{i}"])) for i in range(12)]
    rows = run(spark, lines, minhash=MinHashConfig(max_bucket=3))
    assert sorted(r["reason"] or "kept" for r in rows) == ["kept"] + ["near_duplicate"] * 11


@pytest.mark.parametrize("n_bad", [0, 2])
def test_accounting_adds_up(spark, n_bad):
    lines = [j(id=str(i), text=f"text number {i}") for i in range(7)] + [b"{bad", j(id="x", text="")][:n_bad]
    flagged = transform(frame(spark, lines), CFG, MinHashConfig())
    assert accepted(flagged, "2026-01-01").count() == 7
    assert rejected(flagged).count() == n_bad


def test_job_accounting_per_reason_and_report(spark, paths, tmp_path):
    """The real job on a JSONL folder: quarantine per reason equals what was planted; the report agrees."""
    planted = {"blank_line": 1, "malformed_json": 1, "not_an_object": 1, "invalid_utf8": 1, "missing_text": 1, "empty_text": 1,
               "duplicate": 1, "alpha_words": 1}
    good = [j(id=f"k{i}", text=f"Review {i}: the plot was {w} and the cast did well.", label="ab"[i % 2])
            for i, w in enumerate(["slow", "sharp", "odd", "warm", "bleak"])]
    bad = [b"", b"{nope", b"[1]", b'{"id":"u","text":"\xff"}', j(id="m"), j(id="e", text="  "),
           j(id="zz", text="Review 0: the plot was slow and the cast did well."), j(id="s", text="### 42 !!!")]
    folder = tmp_path / "jsonl"
    folder.mkdir()
    (folder / "part1.jsonl").write_bytes(b"\n".join(good[:3] + bad[:4]) + b"\n")
    with open(os.fsencode(folder) + b"/part2 \xe9t\xe9.jsonl", "wb") as fh:  # a Latin-1 name, not UTF-8
        fh.write(b"\n".join(good[3:] + bad[4:]) + b"\n")
    dt = "2031-02-07"
    assert main(["--date", dt, "--input", str(folder), "--run-id", "t-text"]) == 0
    sources = spark.sql(f"SELECT DISTINCT source FROM ml.clean_text WHERE dt='{dt}' ORDER BY source").collect()
    assert [r["source"] for r in sources] == ["part1.jsonl", "part2 \\xe9t\\xe9.jsonl"]
    q = spark.sql(f"SELECT reason, count(*) AS n FROM ml.quarantine WHERE stage='clean_text' AND dt='{dt}' "
                  "GROUP BY reason").collect()
    assert {r["reason"]: r["n"] for r in q} == planted
    kept = spark.sql(f"SELECT count(*) AS n FROM ml.clean_text WHERE dt='{dt}'").first()["n"]
    assert kept == len(good) and kept + sum(planted.values()) == len(good) + len(bad)
    folder = paths.home / "reports" / "clean_text" / f"dt={dt}"
    rep = json.loads((folder / "report.json").read_text())
    assert rep["totals"] == {"in": len(good) + len(bad), "kept": len(good), "quarantined": sum(planted.values())}
    assert rep["reasons"] == planted
    assert rep["before_after"]["documents"] == {"before": len(good) + len(bad), "after": len(good)}
    assert re.search(r"<svg", (folder / "report.html").read_text())


def test_bad_setting_is_one_clear_line(capsys, tmp_path):
    (tmp_path / "c.jsonl").write_text("{}\n")
    with pytest.raises(SystemExit) as exit_:  # refused while parsing, before Spark starts
        main(["--date", "2031-01-05", "--input", str(tmp_path / "c.jsonl"), "--threshold", "1.5"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: clean_text: text.threshold must be <= 1, got 1.5"


def test_csv_and_tsv_input(spark, tmp_path):
    """A CSV (header row; quoted fields with commas, quotes and newlines) and a TSV, as spreadsheets and
    datasets export them: each row is a record judged like a JSONL line; a blank row, a row with the wrong
    number of fields and a row that is not UTF-8 each get their reason; a UTF-16 CSV (Excel's "Unicode
    text") is read too."""
    from spark_jobs.text.read import detect_format

    root = tmp_path / "csv"
    root.mkdir()
    (root / "a.csv").write_bytes(b'\xef\xbb\xbfid,text,label\n'
                                 b'c1,"A fine film, with ""quotes""\nand a newline",pos\n'
                                 b'c2,A dull film,neg\n'
                                 b'\n'
                                 b'c3,too,many,fields\n'
                                 b'c4,Caf\xe9 in Latin-1,neg\n')
    (root / "b.tsv").write_text("id\ttext\tlabel\nt1\tA tab separated review\tpos\n")
    (root / "u.csv").write_bytes("id,text,label\r\nu1,caf\u00e9 in UTF-16,pos\r\n".encode("utf-16"))
    assert detect_format(root) == "csv"
    cfg = TextCleanConfig(root_uri=spark_uri(root))
    rows = transform(read_corpus(spark, str(root), "csv", cfg), cfg, None).collect()
    got = sorted((r["source"], r["id"] if not r["id"].startswith("raw-") else "-", r["reason"], r["label"])
                 for r in rows)
    assert got == [("a.csv", "-", "blank_line", None), ("a.csv", "-", "malformed_csv", None),
                   ("a.csv", "c1", None, "pos"), ("a.csv", "c2", None, "neg"), ("a.csv", "c4", "invalid_utf8", None),
                   ("b.tsv", "t1", None, "pos"), ("u.csv", "u1", None, "pos")]
    text = {r["id"]: r["text"] for r in rows}
    assert text["c1"] == 'A fine film, with "quotes"\nand a newline' and text["u1"] == "caf\u00e9 in UTF-16"
    bad = next(r for r in rows if r["reason"] == "malformed_csv")
    assert bad["detail"] == "line 6: 4 fields, the header has 3"  # c1 spans lines 2-3


def test_an_unparseable_line_names_its_file_and_line(spark, tmp_path):
    """#43 "findable rejects": 100,000-deep nesting and a 5,000-digit number can be neither parsed nor given
    an id; the quarantine detail says where they are, so a person can open the file at that line."""
    root = tmp_path / "corpus"
    root.mkdir()
    lines = [j(id=f"ok{k}", text=f"fine words number {k}") for k in range(5)]
    lines.insert(2, b'{"deep": ' + b"[" * 100_000 + b"]" * 100_000 + b', "id": "hidden1", "text": "x"}')
    lines.insert(4, b'{"n": ' + b"9" * 5000 + b', "text": "x"}')
    (root / "part one.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    cfg = TextCleanConfig(root_uri=spark_uri(root))
    rows = transform(read_corpus(spark, str(root), "jsonl", cfg), cfg, None).collect()
    bad = sorted(r["detail"] for r in rows if r["reason"])
    assert len(bad) == 2 and all(d.endswith(")") for d in bad), bad
    assert {d[d.rindex("(") + 1:-1] for d in bad} == {"part one.jsonl line 3", "part one.jsonl line 5"}
