"""Query latency (issue #18): five typical questions to the prediction tables, answered by DuckDB (the
``shardline query`` default), the Spark CLI (``--engine spark``) and a warm Thrift server, side by side.

A synthetic warehouse in the real layout (Delta Lake tables: ``dt=`` partitions whose files one commit each
makes live) is written with DuckDB's Parquet writer and committed with ``shardline.warehouse_log``: ``ml.text_predictions`` with N rows over 10 dates and 20 labels,
``ml.clean_text`` with the same ids and a true label (for the accuracy view), ``ml.quarantine`` with
N/100 rows. Each engine is timed from the user's side:
- DuckDB: the ``shardline query`` command, end to end (a fresh process per query: Python start,
  views, sandbox, query, printing), and the query alone in-process on a warm connection;
- Spark CLI: the same command with ``--engine spark`` (a Spark session per query);
- Thrift: ``shardline warehouse start`` once, then one beeline connection runs every query several
  times; the server's elapsed time per statement as beeline reports it.
p50 and p95 over the repeats. Writes the table into docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/query.py [--rows 1000000 10000000] [--repeats 5] [--spark-repeats 2]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.report import update_section  # noqa: E402

BIN = Path(sys.executable).parent
DATES = [f"2031-03-{d:02d}" for d in range(1, 11)]
DAY = DATES[-1]
QUERIES = {
    "counts per label, one date":
        f"SELECT predicted_label, count(*) AS n FROM ml.text_predictions WHERE dt = '{DAY}' GROUP BY predicted_label",
    "one date's predictions for a label":
        f"SELECT id, score FROM ml.text_predictions WHERE dt = '{DAY}' AND predicted_label = 'label07' "
        "ORDER BY score DESC LIMIT 100",
    "accuracy view": f"SELECT * FROM ml.prediction_accuracy WHERE dt = '{DAY}'",
    "drift view": "SELECT * FROM ml.prediction_drift ORDER BY dt",
    "predictions joined with quarantine":
        f"SELECT q.reason, count(*) AS n FROM ml.text_predictions p JOIN ml.quarantine q ON p.id = q.id "
        f"AND p.dt = q.dt WHERE p.dt = '{DAY}' GROUP BY q.reason",
}


def build(home: Path, rows: int) -> None:
    """The warehouse under ``home``: one version folder per partition, written by DuckDB's Parquet writer."""
    import duckdb

    per_day = rows // len(DATES)
    con = duckdb.connect()
    for day in DATES:
        for table, sql in {
            "text_predictions": f"""
                SELECT 'doc-' || i AS id, 'corpus.jsonl' AS source, printf('label%02d', (hash(i) % 20)::INT) AS predicted_label,
                       (hash(i * 7) % 1000) / 1000.0 AS score,
                       [{{'label': printf('label%02d', (hash(i) % 20)::INT), 'probability': 0.9::DOUBLE}},
                        {{'label': 'label00', 'probability': 0.1::DOUBLE}}] AS top_k,
                       'text_classifier' AS model_name, '20310301-m' AS model_version,
                       'ml.clean_text@{day}' AS dataset_version, 'run-{day}' AS run_id,
                       TIMESTAMPTZ '{day} 02:00:00+00' AS scored_at
                FROM range({per_day}) t(i)""",
            "clean_text": f"""
                SELECT 'doc-' || i AS id, 'corpus.jsonl' AS source,
                       printf('label%02d', (CASE WHEN i % 10 = 0 THEN hash(i + 1) ELSE hash(i) END % 20)::INT) AS label,
                       'a short text of a few words' AS text, md5(i::VARCHAR) AS content_hash, 'en' AS language,
                       6 AS word_count, 0 AS pii_redacted
                FROM range({per_day}) t(i)""",
        }.items():
            _write(con, home, table, {"dt": day}, sql)
        _write(con, home, "quarantine", {"stage": "clean_text", "dt": day}, f"""
            SELECT 'doc-' || (i * 100) AS id, 'corpus.jsonl' AS source,
                   (['too_short', 'duplicate', 'near_duplicate', 'malformed_json'])[(i % 4) + 1] AS reason,
                   'synthetic' AS detail
            FROM range({max(1, per_day // 100)}) t(i)""")
    con.close()
    from shardline.config import Paths
    from shardline.warehouse_log import ensure_tables

    ensure_tables(Paths(home))  # the other tables, empty


def _write(con, home: Path, name: str, partition: dict[str, str], sql: str) -> None:
    from schemas.warehouse import ALL_TABLES
    from shardline.config import Paths
    from shardline.warehouse_files import table_root
    from shardline.warehouse_log import commit

    table = next(t for t in ALL_TABLES if t.name == name)
    paths = Paths(home)
    version = table_root(paths, table).joinpath(*(f"{k}={v}" for k, v in partition.items())) / "v-bench"
    version.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY ({sql}) TO '{version / 'part-00000.parquet'}' (FORMAT parquet, ROW_GROUP_SIZE 122880)")
    commit(paths, table, [version / "part-00000.parquet"], partition, replace=True)


def cli(home: Path, sql: str, engine: str) -> float:
    env = {**os.environ, "SHARDLINE_HOME": str(home)}
    start = time.perf_counter()
    done = subprocess.run([str(BIN / "shardline"), "query", sql, "--engine", engine, "--format", "csv"],
                          env=env, capture_output=True, text=True, cwd=REPO)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{engine} failed on {sql!r}: {done.stderr.strip()[-500:]}")
    return took


def in_process(home: Path, sql: str, repeats: int) -> list[float]:
    from shardline.config import Paths
    from shardline_ops import duck

    con = duck.connect(Paths(home))
    duck.check_statement(con, sql)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        con.sql(sql).fetchall()
        times.append(time.perf_counter() - start)
    con.close()
    return times


def thrift(home: Path, repeats: int) -> dict[str, list[float]]:
    import pyspark

    env = {**os.environ, "SHARDLINE_HOME": str(home)}
    shardline = str(BIN / "shardline")
    started = subprocess.run([shardline, "warehouse", "start", "--detach"], env=env, capture_output=True, text=True,
                             cwd=REPO, timeout=600)
    if started.returncode != 0:
        raise SystemExit(f"warehouse start failed: {started.stderr[-500:]}")
    url = started.stdout.strip().splitlines()[-1]
    password = (home / "warehouse-server.secret").read_text().strip()
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
            order = [name for _ in range(repeats + 1) for name in QUERIES]  # the first round warms the server
            fh.write("".join(QUERIES[name] + ";\n" for name in order))
        beeline = Path(pyspark.__file__).parent / "bin" / "beeline"
        done = subprocess.run([str(beeline), "-u", url, "-n", "bench", "-p", password, "--outputformat=csv2",
                               "-f", fh.name], env=env, capture_output=True, text=True, timeout=3600)
        elapsed = [float(x) for x in re.findall(r"\(([\d.]+) seconds\)", done.stdout + done.stderr)]
        if len(elapsed) != len(order):
            raise SystemExit(f"beeline: expected {len(order)} timings, got {len(elapsed)}: {done.stderr[-1000:]}")
        out: dict[str, list[float]] = {name: [] for name in QUERIES}
        for name, took in list(zip(order, elapsed))[len(QUERIES):]:
            out[name].append(took)
        return out
    finally:
        subprocess.run([shardline, "warehouse", "stop"], env=env, capture_output=True, text=True, timeout=120)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--spark-repeats", type=int, default=2)
    p.add_argument("--no-docs", action="store_true")
    args = p.parse_args()
    lines = ["| rows | query | DuckDB CLI p50 / p95 (s) | DuckDB in-process p50 (s) | Spark CLI p50 (s) | "
             "warm Thrift p50 / p95 (s) | Spark CLI / DuckDB CLI |", "|---:|---|---:|---:|---:|---:|---:|"]
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="shardline-query-bench-") as tmp:
            home = Path(tmp)
            start = time.perf_counter()
            build(home, rows)
            print(f"== {rows:,} prediction rows written in {time.perf_counter() - start:.1f} s", flush=True)
            warm = thrift(home, args.repeats)
            for name, sql in QUERIES.items():
                duck_cli = [cli(home, sql, "duckdb") for _ in range(args.repeats)]
                duck_warm = in_process(home, sql, args.repeats)
                spark_cli = [cli(home, sql, "spark") for _ in range(args.spark_repeats)]
                row = (f"| {rows:,} | {name} | {pct(duck_cli, .5):.2f} / {pct(duck_cli, .95):.2f} | "
                       f"{statistics.median(duck_warm):.3f} | {statistics.median(spark_cli):.1f} | "
                       f"{pct(warm[name], .5):.2f} / {pct(warm[name], .95):.2f} | "
                       f"{statistics.median(spark_cli) / pct(duck_cli, .5):.0f}x |")
                print(row, flush=True)
                lines.append(row)
    body = "\n".join([
        "`benchmarks/query.py`: five typical queries on a synthetic warehouse in the real layout (10 dates, 20 "
        "labels; `ml.clean_text` with the same ids for the accuracy view; quarantine = 1% of rows), 2 cores. "
        f"DuckDB CLI = `shardline query` end to end, a fresh process each time ({args.repeats} runs); DuckDB "
        "in-process = the query alone on a warm, sandboxed connection; Spark CLI = `shardline query --engine "
        f"spark` ({args.spark_repeats} runs, a Spark session each); warm Thrift = one beeline connection to "
        f"`shardline warehouse start`, server-side elapsed time as beeline reports it ({args.repeats} runs after a "
        "warm-up round).", "", *lines])
    print(body)
    if not args.no_docs:
        update_section("Query latency", body)


if __name__ == "__main__":
    main()
