"""shardline query's output formats: one formatter for both engines."""
import datetime
import decimal
import json

from shardline_ops.results import format_rows

COLS = ["label", "n", "share", "at", "top_k", "blank"]
ROWS = [("a,b", 3, 0.5, datetime.datetime(2026, 1, 2, 3, 4, 5), [{"label": "x", "probability": 0.9}], None),
        ("ü", 10, float("nan"), datetime.date(2026, 1, 3), [], decimal.Decimal("1.25"))]


def test_json_is_records_with_plain_values():
    assert json.loads(format_rows(COLS, ROWS, "json")) == [
        {"label": "a,b", "n": 3, "share": 0.5, "at": "2026-01-02T03:04:05",
         "top_k": [{"label": "x", "probability": 0.9}], "blank": None},
        {"label": "ü", "n": 10, "share": None, "at": "2026-01-03", "top_k": [], "blank": 1.25}]


def test_csv_quotes_and_leaves_nulls_empty():
    lines = format_rows(COLS, ROWS, "csv").splitlines()
    assert lines[0] == "label,n,share,at,top_k,blank"
    assert lines[1] == '"a,b",3,0.5,2026-01-02T03:04:05,"[{""label"": ""x"", ""probability"": 0.9}]",'
    assert lines[2] == "ü,10,,2026-01-03,[],1.25"


def test_table_aligns_columns():
    lines = format_rows(["k", "value"], [("a", 1), ("bbb", None)], "table").splitlines()
    assert lines == ["  k value", "  a     1", "bbb  NULL"]
    assert format_rows(["k"], [], "table") == "(no rows)"


def test_table_escapes_control_characters_from_the_data():
    """A label holding a newline or a terminal escape sequence stays on its row and cannot drive the terminal;
    JSON and CSV keep the value exactly."""
    hostile = "sp\"orts\n\x1b]0;owned\x07\x1b[31mred\tx\x85é"
    lines = format_rows(["label\n", "n"], [(hostile, 1), ("ok", 2)], "table").splitlines()
    assert len(lines) == 3 and not any(ch in "".join(lines) for ch in "\x1b\x07\t\x85")
    assert lines[1] == 'sp"orts\\n\\x1b]0;owned\\x07\\x1b[31mred\\tx\\x85é 1'
    assert lines[0].split() == ["label\\n", "n"]
    assert json.loads(format_rows(["label"], [(hostile,)], "json")) == [{"label": hostile}]
