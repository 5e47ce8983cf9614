"""``shardline query``'s default engine: DuckDB in-process over the warehouse's Delta tables, sandboxed.

The views ``ml.<table>`` are generated from ``schemas.warehouse`` (columns and types) and each table's Delta
log (``shardline/warehouse_files.py``: the files of the current version, or of ``--as-of``, with their
partition values), and the monitoring views are the same SQL text Spark registers
(``schemas.warehouse.VIEWS``), so the two engines answer from the same data. (DuckDB's own ``delta``
extension would read the log too, but it is downloaded at run time, which the sandbox forbids.)

The sandbox, set before any user statement runs and then locked:
- ``allowed_directories`` = the warehouse and ``enable_external_access=false``: no file outside the
  warehouse can be read or written, no ``ATTACH``, ``INSTALL``/``LOAD`` or extension autoloading;
- ``lock_configuration=true``: no ``SET``/``RESET`` can undo that;
- an allow-list of statement types checked on DuckDB's own parse of the text (``extract_statements``):
  one ``SELECT`` (incl. ``WITH``, ``SHOW``, ``DESCRIBE``, ``SUMMARIZE``, ``FROM ...``) or an ``EXPLAIN`` of
  one (``EXPLAIN (FORMAT json) ...`` too). ``COPY ... TO '<warehouse>/x'`` (inside the allowed folder) is
  therefore refused too;
- limits from the ``[query]`` settings, set before the lock: ``memory_limit``, ``max_temp_directory_size``
  (the spill), and a statement timeout (a timer interrupts the connection).
"""
from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from schemas.warehouse import ALL_TABLES, DATABASE, VIEWS, Table
from shardline.config import Paths, ShardlineError
from shardline.settings import QuerySettings
from shardline.warehouse_files import AsOf, NoSuchVersion, database_root, live_files


def duck_type(dtype) -> str:
    """A Spark SQL type (``pyspark.sql.types``) as DuckDB spells it."""
    from pyspark.sql import types as T

    if isinstance(dtype, T.ArrayType):
        return duck_type(dtype.elementType) + "[]"
    if isinstance(dtype, T.StructType):
        return "STRUCT(" + ", ".join(f'"{f.name}" {duck_type(f.dataType)}' for f in dtype.fields) + ")"
    simple = {T.StringType: "VARCHAR", T.BinaryType: "BLOB", T.IntegerType: "INTEGER", T.LongType: "BIGINT",
              T.DoubleType: "DOUBLE", T.FloatType: "FLOAT", T.BooleanType: "BOOLEAN", T.ShortType: "SMALLINT",
              T.TimestampType: "TIMESTAMP", T.DateType: "DATE"}
    for cls, name in simple.items():
        if isinstance(dtype, cls):
            return name
    raise TypeError(f"no DuckDB type for {dtype.simpleString()}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_view_sql(paths: Paths, table: Table, as_of: AsOf | None = None) -> str:
    """``SELECT`` of one table: the files of its current version (or ``as_of``) with the schema's columns and
    types; partition values come from the Delta log (the files do not hold them). A version the table does
    not have becomes a view that fails with that message when it is queried."""
    try:
        files = live_files(paths, table, as_of)
    except NoSuchVersion as exc:
        cols = ", ".join(f'CAST(error({_quote(str(exc))}) AS {duck_type(f.dataType)}) AS "{f.name}"'
                         for f in table.schema.fields)
        return f"SELECT {cols}"
    if not files:
        cols = ", ".join(f'CAST(NULL AS {duck_type(f.dataType)}) AS "{f.name}"' for f in table.schema.fields)
        return f"SELECT {cols} WHERE false"
    by_spec: dict[tuple, list[str]] = {}
    for spec, f in files:
        by_spec.setdefault(spec, []).append(str(f))
    parts = []
    for spec, names in by_spec.items():
        # one write made a partition's files (one schema); a log table's newest file has every column it has
        values, present = dict(spec), _columns(names[-1])
        cols = ", ".join(
            f'CAST({_quote(values[f.name])} AS {duck_type(f.dataType)}) AS "{f.name}"' if f.name in values
            else f'CAST("{f.name}" AS {duck_type(f.dataType)}) AS "{f.name}"' if f.name in present
            else f'CAST(NULL AS {duck_type(f.dataType)}) AS "{f.name}"'  # a column added since: null, as in Delta
            for f in table.schema.fields)
        listing = "[" + ", ".join(_quote(n) for n in names) + "]"
        parts.append(f"SELECT {cols} FROM read_parquet({listing}, union_by_name = true)")
    return "\nUNION ALL ".join(parts)


def _columns(path: str) -> set[str]:
    import pyarrow.parquet as pq

    return set(pq.read_schema(path).names)


class NoWarehouse(ShardlineError):
    """The data folder holds no warehouse (exit 1: nothing to query, not a refused statement)."""
    exit_code = 1


@contextlib.contextmanager
def private_spill() -> Iterator[Path]:
    """A spill folder of DuckDB's own: private (0700), temporary, removed afterwards, so a read-only query
    writes nothing under the data folder (an analyst may only be able to read it)."""
    spill = tempfile.mkdtemp(prefix="shardline-duckdb-")
    try:
        yield Path(spill)
    finally:
        shutil.rmtree(spill, ignore_errors=True)


@contextlib.contextmanager
def connected(paths: Paths, threads: int = 2, limits: QuerySettings | None = None,
              as_of: AsOf | None = None) -> Iterator:
    """``connect`` spilling to a ``private_spill``, closed afterwards."""
    with private_spill() as spill:
        con = connect(paths, threads, limits, spill, as_of)
        try:
            yield con
        finally:
            con.close()


def connect(paths: Paths, threads: int = 2, limits: QuerySettings | None = None, spill: Path | None = None,
            as_of: AsOf | None = None):
    """A sandboxed in-memory DuckDB with the warehouse's tables and views as ``ml.*`` (also unqualified, and
    what ``SHOW TABLES`` lists), as they are now or ``as_of``, within ``limits``, spilling to ``spill``."""
    import duckdb

    limits = limits or QuerySettings()
    root = database_root(paths)
    if not root.is_dir():
        raise NoWarehouse(f"no warehouse in {paths.home} (no {root.relative_to(paths.home)}/): run the pipeline "
                          "first (`shardline run --date ...`, `make demo`) or point SHARDLINE_HOME at a data folder")
    spill = spill or Path(tempfile.gettempdir())  # DuckDB adds its spill folder to the allowed ones
    con = duckdb.connect(":memory:", config={"threads": threads, "autoinstall_known_extensions": False,
                                              "autoload_known_extensions": False, "temp_directory": str(spill),
                                              "memory_limit": limits.duckdb_memory_limit(),
                                              "max_temp_directory_size": limits.spill_limit})
    con.execute(f"CREATE SCHEMA {DATABASE}")
    for table in ALL_TABLES:
        con.execute(f"CREATE VIEW {table.qualified} AS {table_view_sql(paths, table, as_of)}")
    for name, sql in VIEWS.items():
        con.execute(f"CREATE VIEW {DATABASE}.{name} AS {sql}")
    con.execute("SET TimeZone = 'UTC'")  # as Spark's session (timestamps print the same from both engines)
    con.execute(f"SET search_path = '{DATABASE}'")  # SHOW TABLES lists the warehouse's tables
    con.execute(f"SET allowed_directories = [{_quote(str(root.resolve()) + '/')}]")  # before external access
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(ANALYZE\s+)?(\([^()]*\)\s*)?", re.IGNORECASE)
_FIRST_WORD = re.compile(r"(?:\s|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*([A-Za-z]+)", re.DOTALL)


class Refused(ShardlineError):
    """A statement the sandbox does not run."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"shardline query is read-only: {reason}")


def check_statement(con, sql: str) -> None:
    """Refuse anything but one SELECT (or an EXPLAIN of one), judged on DuckDB's parse of ``sql``."""
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise ShardlineError(f"query failed: {first_line(exc)}") from None
    if len(statements) != 1:
        raise Refused(f"one statement at a time (got {len(statements)})")
    kind = statements[0].type
    if kind == duckdb.StatementType.EXPLAIN:
        inner = _EXPLAIN.sub("", sql, count=1)
        if inner == sql:
            raise Refused("only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN SELECT are allowed")
        return check_statement(con, inner)
    if kind != duckdb.StatementType.SELECT:
        raise Refused(f"{statement_name(sql, kind.name)} statements are refused; only SELECT, WITH, SHOW, "
                      "DESCRIBE and EXPLAIN are allowed")


def statement_name(sql: str, parsed: str) -> str:
    """The statement's first keyword as written, with DuckDB's kind where they differ (``INSTALL`` is a
    ``LOAD`` to DuckDB): the refusal names what the person typed."""
    word = _FIRST_WORD.match(sql)
    written = word.group(1).upper() if word else parsed
    return written if written == parsed else f"{written} ({parsed})"


def first_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def limit_hit(exc: Exception, limits: QuerySettings, timed_out: bool) -> str | None:
    """Which ``[query]`` limit stopped a statement, and how to raise it; None when none did."""
    import duckdb

    if timed_out and isinstance(exc, duckdb.InterruptException):
        return (f"stopped after the statement timeout of {limits.statement_timeout_s:g} s (query.statement_timeout_s;"
                f" raise it with --set query.statement_timeout_s=SECONDS)")
    text = str(exc)
    if isinstance(exc, duckdb.OutOfMemoryException) and "temp" in text.lower():
        return (f"stopped at the spill limit of {limits.spill_limit} (query.spill_limit; raise it with "
                f"--set query.spill_limit=20GB)")
    if isinstance(exc, duckdb.OutOfMemoryException):
        return (f"stopped at the memory limit of {limits.duckdb_memory_limit()} (query.memory_limit; raise it with "
                f"--set query.memory_limit=8GB)")
    return None


def run(con, sql: str, limits: QuerySettings) -> tuple[list[str], list[tuple]]:
    """Run one checked statement on ``con`` under the statement timeout."""
    import duckdb

    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        con.interrupt()

    timer = threading.Timer(limits.statement_timeout_s, stop)
    timer.daemon = True
    timer.start()
    try:
        rel = con.sql(sql)
        return list(rel.columns), rel.fetchall()
    except duckdb.Error as exc:
        hit = limit_hit(exc, limits, timed_out.is_set())
        err = ShardlineError(f"query {hit}" if hit else f"query failed: {first_line(exc)}")
        err.detail = str(exc)  # shardline query --verbose prints it
        raise err from None
    finally:
        timer.cancel()


def query(paths: Paths, sql: str, limits: QuerySettings | None = None,
          as_of: AsOf | None = None) -> tuple[list[str], list[tuple]]:
    """One read-only statement -> (column names, rows); errors and refusals as one-line ShardlineErrors."""
    limits = limits or QuerySettings()
    with connected(paths, limits=limits, as_of=as_of) as con:
        check_statement(con, sql)
        return run(con, sql, limits)
