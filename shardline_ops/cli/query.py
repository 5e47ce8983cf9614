"""`shardline query`: read-only SQL over the warehouse, DuckDB in-process (default) or Spark with the guard."""
from __future__ import annotations

import argparse
import os
import re
import sys
import threading
from pathlib import Path

from shardline import settings
from shardline.config import Paths, ShardlineError
from shardline.settings import QuerySettings
from shardline.storage import open_private_log
from shardline_ops.cli.run import add_settings_flags

READ_ONLY = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN)\b", re.IGNORECASE)


def run_query(paths: Paths, sql: str, fmt: str, engine: str = "duckdb", limits: QuerySettings | None = None,
              as_of: str | None = None) -> str:
    """Run one read-only statement with DuckDB (``shardline_ops/duck.py``: in-process, sandboxed) or Spark SQL;
    ``as_of`` (a table version or a time) reads the tables as they were then (DuckDB)."""
    from shardline.warehouse_files import AsOf
    from shardline_ops.results import format_rows

    limits = limits or QuerySettings()
    if as_of and engine != "duckdb":
        raise ShardlineError("--as-of reads the Delta log's history, which the DuckDB engine does: leave out --engine spark")
    if engine == "duckdb":
        columns, rows = duck_query(paths, sql, limits, AsOf.parse(as_of) if as_of else None)
    else:
        columns, rows = spark_query(paths, sql, limits)
    return format_rows(columns, rows, fmt)


def duck_query(paths: Paths, sql: str, limits: QuerySettings, as_of=None):
    from shardline_ops import duck

    return duck.query(paths, sql, limits, as_of)


def query_repl(paths: Paths, fmt: str, limits: QuerySettings) -> int:
    """``shardline query --interactive``: one sandboxed DuckDB connection (the views as of its start;
    ``.refresh`` picks up later runs), readline editing and a history file under the data folder."""
    import readline

    from shardline_ops import duck
    from shardline_ops.results import format_rows

    history = paths.home / ".query_history"
    try:
        readline.read_history_file(history)
    except OSError:
        pass
    with duck.private_spill() as spill:  # the views' connection is remade on .refresh, the spill kept
        con = duck.connect(paths, limits=limits, spill=spill)
        print("shardline query (DuckDB, read-only): end statements with ';', .tables lists the tables, "
              ".refresh reloads the views, Ctrl-D quits", file=sys.stderr)
        buffer = ""
        try:
            while True:
                try:
                    line = input("... " if buffer else "sql> ")
                except EOFError:
                    print(file=sys.stderr)
                    return 0
                except KeyboardInterrupt:
                    buffer = ""
                    print(file=sys.stderr)
                    continue
                if not buffer and line.strip() in (".tables", ".refresh"):
                    if line.strip() == ".refresh":
                        con.close()
                        con = duck.connect(paths, limits=limits, spill=spill)
                    line = "SELECT table_name, table_type FROM information_schema.tables ORDER BY 1" \
                        if line.strip() == ".tables" else ""
                    if not line:
                        continue
                    line += ";"
                buffer += line + "\n"
                if not buffer.rstrip().endswith(";"):
                    continue
                sql, buffer = buffer.strip().rstrip(";"), ""
                try:
                    duck.check_statement(con, sql)
                    print(format_rows(*duck.run(con, sql, limits), fmt))
                except ShardlineError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                except Exception as exc:  # duckdb.Error: one line, the prompt goes on
                    print(f"error: query failed: {duck.first_line(exc)}", file=sys.stderr)
        finally:
            con.close()
            history.parent.mkdir(parents=True, exist_ok=True)
            readline.set_history_length(1000)
            readline.write_history_file(history)


def spark_query(paths: Paths, sql: str, limits: QuerySettings):
    """The quick check below spares a Spark start for obvious writes; the read-only guard inside the
    session (``spark_jobs.common.readonly``) is what enforces it."""
    if not READ_ONLY.match(sql):
        raise ShardlineError("shardline query is read-only: only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN "
                             "statements are allowed")
    from spark_jobs.common.session import build_spark

    os.environ.setdefault("SHARDLINE_SPARK_LOG_LEVEL", "ERROR")
    paths.logs.mkdir(parents=True, exist_ok=True)
    # The JVM inherits this process's stderr when it starts: hand it the log file instead, so Spark's
    # start-up lines and progress bars never reach the terminal (errors come back through Py4J).
    saved = os.dup(2)
    with open_private_log(paths.logs / "shardline-query-spark.log") as log:
        os.dup2(log.fileno(), 2)
        try:
            spark = build_spark("shardline-query", master=os.environ.get("SHARDLINE_QUERY_MASTER", "local[2]"),
                                paths=paths, read_only=True, extra={"spark.ui.showConsoleProgress": "false"})
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    # the [query] timeout: the statement's jobs run in a group the timer cancels
    timed_out = threading.Event()

    def cancel() -> None:
        timed_out.set()
        spark.sparkContext.cancelJobGroup("shardline-query")

    spark.sparkContext.setJobGroup("shardline-query", "shardline query", interruptOnCancel=True)
    timer = threading.Timer(limits.spark_timeout_s, cancel)
    timer.daemon = True
    timer.start()
    try:
        df = spark.sql(sql)
        return df.columns, [tuple(r) for r in df.collect()]
    except Exception as exc:  # Spark's AnalysisException, the guard's refusal etc.: one line for the user
        if timed_out.is_set():
            err = ShardlineError(f"query stopped after the Spark timeout of {limits.spark_timeout_s:g} s "
                                 "(query.spark_timeout_s; raise it with --set query.spark_timeout_s=SECONDS)")
        else:
            err = ShardlineError(f"query failed: {spark_error_line(exc)}")
        err.detail = str(exc)  # shardline query --verbose prints it
        raise err from None
    finally:
        timer.cancel()
        spark.stop()


def spark_error_line(exc: Exception) -> str:
    """The meaningful first line of a Spark/Py4J error (not "An error occurred while calling o42.sql")."""
    java = getattr(exc, "java_exception", None)
    text = str(java.getMessage()) if java is not None else str(exc)
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def statement(args: argparse.Namespace) -> str:
    """The statement: the argument, a file (``-f FILE``), or standard input (``-`` or ``-f -``)."""
    source = args.file or ("-" if args.sql == "-" else None)
    if source and args.sql not in (None, "-"):
        raise ShardlineError("give the statement either as an argument or with -f FILE, not both")
    if source == "-":
        return sys.stdin.read().strip()
    if source:
        try:
            return Path(source).read_text().strip()
        except OSError as exc:
            raise ShardlineError(f"cannot read {source}: {exc.strerror}") from None
    if not args.sql:
        raise ShardlineError("give a statement, e.g. shardline query \"SELECT * FROM ml.prediction_accuracy\", "
                             "-f FILE, - (standard input) or --interactive")
    return args.sql


def cmd_query(args: argparse.Namespace) -> int:
    limits = settings.resolve(args.config, {}, args.set_items).query
    if args.interactive:
        return query_repl(args.paths, args.format, limits)
    sql = statement(args)
    try:
        print(run_query(args.paths, sql.rstrip().rstrip(";"), args.format, args.engine, limits, args.as_of))
    except ShardlineError as exc:
        if args.verbose and getattr(exc, "detail", None):
            print(exc.detail, file=sys.stderr)
        raise
    return 0


def add_parsers(sub) -> None:
    query = sub.add_parser("query", help="run a read-only SQL query against the warehouse")
    query.add_argument("sql", nargs="?", help="one statement; - reads it from standard input (or -f, --interactive)")
    query.add_argument("-f", "--file", metavar="FILE", help="read the statement from FILE (- for standard input)")
    query.add_argument("--format", choices=["table", "csv", "json"], default="table")
    query.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                       help="duckdb: in-process, sub-second (default); spark: Spark SQL with the read-only guard")
    query.add_argument("--as-of", metavar="VERSION|TIME",
                       help="read the tables as they were: a version number (per table: `shardline warehouse "
                            "history TABLE`, for one-table queries) or a UTC time such as 2026-12-08T02:00:00Z (all tables)")
    query.add_argument("--verbose", action="store_true", help="print the engine's whole error message on failure")
    query.add_argument("--interactive", "-i", action="store_true",
                       help="a prompt (DuckDB, the same sandbox): statements end with ';', history kept, Ctrl-D quits")
    add_settings_flags(query)
    query.set_defaults(func=cmd_query)
