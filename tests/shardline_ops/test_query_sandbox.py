"""Every query path only reads: the hostile statements of ``tests/hostile_sql.py`` are refused by DuckDB's
sandbox (``shardline query``'s default engine) and by Spark's read-only guard (``--engine spark``, the
Thrift server), each with one line, and nothing on disk changes. A query of the warehouse still answers
on both (so a path that refused everything would fail here too)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shardline.config import ShardlineError
from tests.conftest import BIN, REPO
from tests.hostile_sql import HOSTILE

SPARK_RUNNER = r"""
import json, sys
from spark_jobs.common.session import build_spark
spark = build_spark("hostile-sql", master="local[1]", read_only=True)
out = {}
for sql in json.loads(sys.stdin.read()):
    try:
        out[sql] = ["ran", [list(r) for r in spark.sql(sql).collect()][:3]]
    except Exception as exc:
        java = getattr(exc, "java_exception", None)
        text = str(java.getMessage()) if java is not None else str(exc)
        out[sql] = ["refused", (text.strip().splitlines() or [type(exc).__name__])[0]]
print("RESULT " + json.dumps(out, default=str))
"""


def tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] not in ("tmp", "lib")}  # caches


@pytest.fixture(scope="module")
def warehouse(spark, paths, tmp_path_factory):
    from spark_jobs.common.warehouse import write_quarantine

    bad = spark.createDataFrame([("q1", "a.png", "truncated", "cut")], "id string, source string, reason string, detail string")
    write_quarantine(spark, bad, "sandbox_test", "2033-01-01")
    marker = tmp_path_factory.mktemp("sandbox") / "pwned"
    wh = paths.warehouse / "ml.db"
    statements = [s.format(marker=marker, warehouse=wh) for s in HOSTILE]
    return {"paths": paths, "marker": marker, "statements": statements, "wh": wh}


def test_duckdb_refuses_every_hostile_statement(warehouse):
    from shardline_ops import duck

    paths, before = warehouse["paths"], tree(warehouse["paths"].home)
    ok = duck.query(paths, "SELECT reason, count(*) AS n FROM ml.quarantine WHERE dt = '2033-01-01' GROUP BY 1")
    assert ok == (["reason", "n"], [("truncated", 1)])
    ran = []
    for sql in warehouse["statements"]:
        try:
            duck.query(paths, sql)
            ran.append(sql)
        except ShardlineError as exc:
            assert "\n" not in str(exc), sql
    assert ran == []
    assert not warehouse["marker"].exists() and tree(paths.home) == before


def test_refusal_names_the_statement_as_written():
    """``INSTALL httpfs`` is a LOAD statement to DuckDB: the refusal says INSTALL, which the person typed."""
    import duckdb

    from shardline_ops import duck

    with duckdb.connect(":memory:") as con:
        with pytest.raises(duck.Refused, match=r"INSTALL \(LOAD\) statements are refused"):
            duck.check_statement(con, "INSTALL httpfs")
        with pytest.raises(duck.Refused, match=r": COPY statements are refused"):
            duck.check_statement(con, "/* a comment */ -- another\n copy (SELECT 1) TO 'x.csv'")


@pytest.mark.slow
def test_cli_refusal_is_one_line(warehouse):
    env = {**os.environ, "SHARDLINE_HOME": str(warehouse["paths"].home)}
    for sql in ("SELECT * FROM read_csv('/etc/passwd')", "DROP TABLE ml.quarantine"):
        done = subprocess.run([str(BIN / "shardline"), "query", sql], env=env, capture_output=True, text=True)
        assert done.returncode == 2 and done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error: "), done.stderr


@pytest.mark.slow
def test_spark_guard_refuses_every_hostile_statement(warehouse):
    paths, before = warehouse["paths"], tree(warehouse["paths"].home)
    control = "SELECT reason, count(*) AS n FROM ml.quarantine WHERE dt = '2033-01-01' GROUP BY 1"
    done = subprocess.run([sys.executable, "-c", SPARK_RUNNER], input=json.dumps([control, *warehouse["statements"]]),
                          env={**os.environ, "SHARDLINE_HOME": str(paths.home)}, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, done.stderr[-3000:]
    results = json.loads(line[len("RESULT "):])
    assert results.pop(control) == ["ran", [["truncated", 1]]]
    ran = {sql: r for sql, r in results.items() if r[0] != "refused"}
    assert ran == {}
    assert not warehouse["marker"].exists() and tree(paths.home) == before
    # the statements Spark's SQL can express are refused by the guard itself, not by an accident
    guard = [sql for sql, (_, msg) in results.items() if "read-only here" in msg]
    for needle in ("TRANSFORM(a)", "reflect('java.lang.System', 'exit'", "java_method", "IN (SELECT reflect",
                   "text.`/etc/hostname`", "parquet.`", "binaryFile.`", "INSERT INTO",
                   "USING parquet SELECT", "DROP TABLE", "CREATE TABLE t3 USING", "CACHE TABLE", "ADD JAR",
                   "ADD FILE", "CREATE FUNCTION", "SET spark.sql", "TRUNCATE", "ALTER TABLE"):
        assert any(needle in sql for sql in guard), (needle, {s: m for s, (_, m) in results.items() if needle in s})


@pytest.mark.slow
def test_spark_sql_profile_is_guarded(warehouse, tmp_path):
    """``spark-sql $(shardline spark-conf)``: the init file registers the warehouse, the user's statements
    after it are guarded like every other path."""
    import pyspark

    paths = warehouse["paths"]
    env = {**os.environ, "SHARDLINE_HOME": str(paths.home)}
    flags = subprocess.run([str(BIN / "shardline"), "spark-conf"], env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    before = tree(paths.home)
    control = "SELECT reason, count(*) AS n FROM ml.quarantine WHERE dt = '2033-01-01' GROUP BY reason"
    statements = [s for s in warehouse["statements"] if ";" not in s]  # the CLI splits on ';' itself
    script = tmp_path / "hostile.sql"
    script.write_text("".join(f"{s};\n" for s in [control, *statements, control]))
    spark_sql = Path(pyspark.__file__).parent / "bin" / "spark-sql"
    done = subprocess.run([str(spark_sql), *flags, "--hiveconf", "hive.cli.errors.ignore=true", "-f", str(script)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.stdout.count("truncated\t1") == 2, out[-3000:]  # the catalog is there, before and after
    assert out.count("read-only here") >= 25, out[-3000:]
    assert not warehouse["marker"].exists() and tree(paths.home) == before


@pytest.mark.slow
def test_interactive_prompt_runs_reads_and_refuses_the_rest(warehouse):
    env = {**os.environ, "SHARDLINE_HOME": str(warehouse["paths"].home)}
    script = ("SELECT reason,\n count(*) AS n FROM ml.quarantine WHERE dt = '2033-01-01' GROUP BY reason;\n"
              f"COPY (SELECT 1) TO '{warehouse['marker']}';\nSELECT nope;\n")
    done = subprocess.run([str(BIN / "shardline"), "query", "--interactive", "--format", "csv"], input=script,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "truncated,1" in done.stdout
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 2 and "read-only" in errors[0] and "nope" in errors[1], done.stderr
    assert not warehouse["marker"].exists()
