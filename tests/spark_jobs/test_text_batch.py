"""The batch (Arrow/numpy) text cleaning gives exactly what the one-document rules give.

clean_text runs ``normalize_batch``/``check_batch`` over whole Arrow batches; ``normalize``/``check``/
``parse_one`` are the readable reference. These tests feed both the same seeded, deliberately messy
documents (Unicode whitespace and controls, markup, boilerplate, repeated lines and n-grams, characters
whose lower case differs between Python and Arrow) and require identical results."""
import dataclasses
import json
import random
import re

import pandas as pd
import pytest

from spark_jobs.text import normalize as nm
from spark_jobs.text import pii, quality
from spark_jobs.text.clean import PARSED, TextCleanConfig, parse_one, process_batch

ALL_CHARS = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]

PIECES = ["word", "the", "of", "and", "market", "opened", "higher", "Cookies", "cookie policy here",
          "We use cookies to improve", "All rights reserved", "<p>", "</div>", "<script>x=1</script>", "a < b",
          "&amp;", "\r\n", "\r", "\n", "\n\n\n", "\t", " ", "  ", "\xa0", "\u2003", "\u2028", "\u200b", "\ufeff",
          "\x00", "\x07", "\x85", "\x1c", "\x0b", "e\u0301", "\ufb01", "\u2460", "\u00b2", "\u0130stanbul",
          "\u03a3\u039f\u03a6\u0399\u0391\u03a3", "Stra\u00dfe", "\u65e5\u672c\u8a9e", "#", "...", "\u2026", "end...",
          "\u2022 item", "- dash", "* star", "42", "7.5", "x_y", "!!!", "lorem ipsum", "Lorem Ipsum",
          "the same line", "the same line", "a@b.example", "+44 20 7946 0958", "10.0.0.1", "Log in", "sign up now"]


def messy_docs(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        vocab = rng.choice([PIECES, PIECES[:8], ["the", "same", "words", "again", "and", "\n"]])
        docs.append("".join(rng.choice(vocab) + rng.choice(["", " ", " "]) for _ in range(rng.randint(0, 160))))
    return docs


def test_arrow_classes_are_pythons():
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(ALL_CHARS)
    python_space = {c for c in ALL_CHARS if re.fullmatch(r"[^\S\n]", c)}
    python_control = {c for c in ALL_CHARS if nm._CONTROL.fullmatch(c)}
    arrow_control = {c for c, m in zip(ALL_CHARS, pc.match_substring_regex(arr, nm._CONTROL_RE2).to_pylist()) if m}
    single_space = f"[ {nm._OTHER_SPACE}]"
    arrow_space = {c for c, m in zip(ALL_CHARS, pc.match_substring_regex(arr, single_space).to_pylist()) if m}
    assert arrow_control == python_control
    assert arrow_space == python_space - python_control - {"\r"}  # what is left of \s when the class runs
    docs = ["a" + c + "b" for c in ALL_CHARS]
    assert quality.word_counts(docs).tolist() == [len(d.split()) for d in docs]
    hint = pii.may_hold_pii(ALL_CHARS)
    assert all(hint[i] for i, c in enumerate(ALL_CHARS) if c == "@" or re.fullmatch(r"\d", c))


@pytest.mark.parametrize("form", ["NFC", "NFKC"])
@pytest.mark.parametrize("strip_markup,drop_boilerplate", [(True, True), (False, True), (True, False), (False, False)])
def test_normalize_batch_is_normalize(form, strip_markup, drop_boilerplate):
    docs = messy_docs(3000, seed=11)
    texts, dropped = nm.normalize_batch(docs, form, strip_markup, drop_boilerplate)
    expected = [nm.normalize(d, form, strip_markup, drop_boilerplate) for d in docs]
    assert list(zip(texts, dropped)) == expected
    assert any(d for d in dropped) == drop_boilerplate  # the sample exercises the boilerplate rule


@pytest.mark.parametrize("preset", ["web", "labeled"])
def test_check_batch_is_check(preset):
    filters = quality.PRESETS[preset]
    loose = dataclasses.replace(filters, min_words=1)  # most messy documents are short: let them reach every rule
    docs = [t for t in nm.normalize_batch(messy_docs(3000, seed=5))[0] if t]
    for cfg in (filters, loose):
        got = quality.check_batch(docs, cfg)
        assert got == [quality.check(d, cfg) for d in docs]
    reasons = {r for r, _, _ in quality.check_batch(docs, loose)}
    if preset == "web":  # the sample reaches the later rules, not only the first
        assert {"language", "repeated_ngrams", "mean_word_length"} <= reasons


def test_process_batch_is_parse_one():
    cfg = TextCleanConfig(filters=dataclasses.replace(quality.PRESETS["web"], min_words=3))
    lines = [json.dumps({"id": f"d{i}", "text": t, "label": "x"}).encode() for i, t in enumerate(messy_docs(800, 3))]
    lines += [json.dumps({"text": t}).encode() for t in messy_docs(200, 4)]  # ids from the normalised text
    lines += [b"", b"  ", b'{"id": "u", "text": "caf\xe9"}', b'{"text": 5}', b"[1]", b'{"broken": ']
    pdf = pd.DataFrame({"source": "file:/c.jsonl", "raw": lines, "fmt": "jsonl", "rec_id": None, "rec_label": None,
                        "rec_text": None})
    got = process_batch(pdf, cfg, None).drop(columns=["band_keys"])
    want = pd.DataFrame([parse_one("file:/c.jsonl", raw, "jsonl", None, None, None, cfg) for raw in lines],
                        columns=PARSED.fieldNames()).drop(columns=["band_keys"])
    assert got.astype(str).to_dict("records") == want.astype(str).to_dict("records")
    assert got["reason"].isna().sum() > 50 and got["pii_redacted"].fillna(0).sum() > 0
