import hashlib
import json

from spark_jobs.clean_text import TextCleanConfig, transform
from spark_jobs.common.flagged import accepted, rejected

CFG = TextCleanConfig()


def run(spark, lines: list[bytes]):
    df = spark.createDataFrame([("file:/c.jsonl", line) for line in lines], "source string, raw binary")
    return transform(df, CFG).collect()


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
    ])
    reasons = {r["id"]: r["reason"] for r in rows}
    assert reasons["ok"] is None
    assert reasons["empty"] == "empty_text"
    assert reasons["utf"] == "invalid_utf8"  # id recovered from the damaged line
    assert reasons["notext"] == "missing_text"
    assert reasons["numtext"] == "missing_text"
    by_reason = sorted(r["reason"] for r in rows if r["id"].startswith("raw-"))
    assert by_reason == ["blank_line", "malformed_json", "malformed_json"]


def test_normalisation_and_content_ids(spark):
    text = "Cafe\u0301\x00  au\n\nlait "  # decomposed e-acute, a NUL, messy whitespace
    rows = run(spark, [j(text=text, label="x")])
    assert rows[0]["text"] == "Caf\u00e9 au lait"
    expected = hashlib.sha1("Caf\u00e9 au lait".encode()).hexdigest()
    assert rows[0]["id"] == "txt-" + expected[:16]
    assert rows[0]["content_hash"] == expected


def test_duplicates_keep_the_smallest_id(spark):
    rows = run(spark, [j(id="b", text="same words"), j(id="a", text="same  words"), j(id="c", text="other")])
    by_id = {r["id"]: r for r in rows}
    assert by_id["a"]["reason"] is None and by_id["c"]["reason"] is None
    assert by_id["b"]["reason"] == "duplicate"
    assert by_id["b"]["detail"] == "duplicate of a"


def test_accounting_adds_up(spark):
    lines = [j(id=str(i), text=f"text {i}") for i in range(7)] + [b"{bad", j(id="x", text="")]
    df = spark.createDataFrame([("s", line) for line in lines], "source string, raw binary")
    flagged = transform(df, CFG)
    assert accepted(flagged, "2026-01-01").count() == 7
    assert rejected(flagged).count() == 2
