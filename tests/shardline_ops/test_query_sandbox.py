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
from tests.helpers import recording_server
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
    server, hits = recording_server(b"<!ENTITY x 'y'>")
    url = f"http://127.0.0.1:{server.server_address[1]}/dtd"
    statements = [s.format(marker=marker, warehouse=wh, url=url) for s in HOSTILE]
    yield {"paths": paths, "marker": marker, "statements": statements, "wh": wh, "hits": hits}
    server.shutdown()
    server.server_close()


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
    assert not warehouse["marker"].exists() and tree(paths.home) == before and warehouse["hits"] == []


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
    # #44: what a read-only session must answer, not refuse: no ${...} substitution, CLEAR CACHE
    probes = {"SELECT '${env:SHARDLINE_PROBE}', '${system:user.name}'": ["ran", [["${env:SHARDLINE_PROBE}",
                                                                                   "${system:user.name}"]]],
              "CLEAR CACHE": ["ran", []]}
    missing = "SELECT * FROM parquet.`/nonexistent/shardline/x.parquet`"
    done = subprocess.run([sys.executable, "-c", SPARK_RUNNER],
                          input=json.dumps([control, *probes, missing, *warehouse["statements"]]),
                          env={**os.environ, "SHARDLINE_HOME": str(paths.home), "SHARDLINE_PROBE": "s3cr3t-probe"},
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, done.stderr[-3000:]
    results = json.loads(line[len("RESULT "):])
    assert results.pop(control) == ["ran", [["truncated", 1]]]
    for sql, want in probes.items():
        assert results.pop(sql) == want, sql
    assert "s3cr3t-probe" not in line
    ran = {sql: r for sql, r in results.items() if r[0] != "refused"}
    assert ran == {}
    assert not warehouse["marker"].exists() and tree(paths.home) == before and warehouse["hits"] == []
    # the statements Spark's SQL can express are refused by the guard itself, not by an accident
    guard = [sql for sql, (_, msg) in results.items() if "read-only here" in msg]
    for needle in ("TRANSFORM(a)", "reflect('java.lang.System', 'exit'", "java_method", "IN (SELECT reflect",
                   "xpath_string", "xpath(", "xpath_boolean", "INSERT INTO",
                   "USING parquet SELECT", "DROP TABLE", "CREATE TABLE t3 USING", "CACHE TABLE", "ADD JAR",
                   "ADD FILE", "CREATE FUNCTION", "SET spark.sql", "TRUNCATE", "ALTER TABLE"):
        assert any(needle in sql for sql in guard), (needle, {s: m for s, (_, m) in results.items() if needle in s})
    # a path is never opened: a file that exists and one that does not get the same answer, with none of the
    # file's bytes in it (#44: the error quoted the last four bytes of /etc/shadow; a missing path was an oracle)
    def shape(sql: str) -> str:
        return results[sql][1].replace("/etc/hostname", "P").replace("/nonexistent/shardline/x.parquet", "P")

    for sql in ("SELECT * FROM parquet.`/etc/hostname`", "SELECT * FROM text.`/etc/hostname`",
                "SELECT * FROM binaryFile.`/etc`"):
        assert "magic" not in results[sql][1].lower() and "cannot be found" in results[sql][1], results[sql]
    assert shape("SELECT * FROM parquet.`/etc/hostname`") == shape(missing)


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


def test_duckdb_limits_stop_runaway_queries_and_say_which(warehouse):
    """#44: the [query] limits stop a runaway statement (within its timeout and a few seconds), a query that
    needs more memory or spill than allowed, each with one line naming the setting; a user cannot lift them."""
    import time

    from shardline.settings import QuerySettings
    from shardline_ops import duck

    paths = warehouse["paths"]
    started = time.monotonic()
    with pytest.raises(ShardlineError, match=r"statement timeout of 2 s \(query.statement_timeout_s; raise it"):
        duck.query(paths, "SELECT count(*) FROM range(1000000000000)", QuerySettings(statement_timeout_s=2))
    assert time.monotonic() - started < 10
    small = QuerySettings(memory_limit="64MB", spill_limit="0GB")
    with pytest.raises(ShardlineError, match=r"memory limit of 64MB \(query.memory_limit"):
        duck.query(paths, "SELECT max(s) FROM (SELECT string_agg(range::VARCHAR, ',') s FROM range(30000000))", small)
    with pytest.raises(ShardlineError, match=r"spill limit of 0GB \(query.spill_limit"):
        duck.query(paths, "SELECT count(DISTINCT x) FROM (SELECT random() x FROM range(40000000))", small)
    got = duck.query(paths, "SELECT current_setting('memory_limit'), current_setting('max_temp_directory_size')",
                     QuerySettings(memory_limit="1GB", spill_limit="2GB"))[1][0]
    assert got[0].startswith(("953", "1.0")) and got[1].startswith(("1.8", "2.0")), got  # MiB/GiB as DuckDB prints
    for sql in ("SET memory_limit = '100GB'", "RESET max_temp_directory_size", "SET threads = 64"):
        with pytest.raises(ShardlineError):
            duck.query(paths, sql)


def test_duckdb_explains_in_any_format_but_only_reads(warehouse):
    """#44: EXPLAIN with options (FORMAT json) runs; the statement it explains is still checked."""
    from shardline_ops import duck

    columns, rows = duck.query(warehouse["paths"], "EXPLAIN (FORMAT json) SELECT count(*) FROM ml.quarantine")
    assert columns == ["explain_key", "explain_value"] and rows
    with pytest.raises(duck.Refused):
        duck.query(warehouse["paths"], f"EXPLAIN (FORMAT json) COPY (SELECT 1) TO '{warehouse['marker']}'")
    assert not warehouse["marker"].exists()


@pytest.mark.slow
def test_spark_query_timeout_cancels_a_runaway_query(warehouse):
    """#44: ``--engine spark`` cancels a statement past query.spark_timeout_s and says which limit stopped it."""
    import time

    env = {**os.environ, "SHARDLINE_HOME": str(warehouse["paths"].home)}
    started = time.monotonic()
    done = subprocess.run([str(BIN / "shardline"), "query", "--engine", "spark", "--set", "query.spark_timeout_s=5",
                           "SELECT count(*) FROM range(1000000000000)"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Spark timeout of 5 s (query.spark_timeout_s" in done.stderr and done.stderr.count("\n") == 1
    assert time.monotonic() - started < 120  # a JVM start, then the 5 s
