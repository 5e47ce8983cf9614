"""The warehouse from Spark: its Delta Lake tables in this process's catalog, and Spark's writes committed to them.

There is no shared metastore. Each process (job, ``shardline query --engine spark``, ``spark-sql``, the
Thrift server) keeps its own throw-away catalog and registers the project's tables in it at start from the
table definitions in ``schemas.warehouse`` (``register_warehouse``), with each partition at the folder the
table's **Delta log** says holds its live files (``shardline.warehouse_files.partition_folders``), never
found by listing folders. Long-lived readers (the Thrift server) call ``sync_partitions`` to follow commits.

Writes (``replace_partitions``, ``replace_together``, ``append_rows``): Spark writes the Parquet files
(timestamps as TIMESTAMP_MICROS, partition columns only in the log) into a new folder of the table, then
one Delta commit per table (``shardline.warehouse_log.commit``) makes them the partition's content or
appends them; the commit is the only moment a reader sees new data. A writer holds the partition's
``_LOCK`` (``flock``, released by the kernel if the process dies) from staging to commit, so a second writer
of the same date waits instead of doing its work and then losing the commit race; writers of different
dates commit concurrently (delta-rs retries). Log tables (``ml.job_runs``, ``ml.scoring_runs``) take the
table's ``_LOCK`` for an append and first delete files a killed appender left uncommitted, since Spark
reads a log table's folder rather than its log.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas.warehouse import ALL_TABLES, DATABASE, JOB_RUNS, QUARANTINE, VIEWS, Table
from shardline.config import Paths
from shardline.storage import file_lock, fsync_tree
from shardline.warehouse_files import AsOf, database_root, partition_folders, table_root
from shardline.warehouse_log import append_records, commit, ensure_tables

log = logging.getLogger(__name__)

# What this process registered in its catalog: table root -> {partition spec: folder}.
_REGISTERED: dict[str, dict[tuple[tuple[str, str], ...], str]] = {}
_LOCK = threading.RLock()


def ddl(table: Table, location: Path) -> str:
    cols = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in table.schema.fields)
    parts = f" PARTITIONED BY ({', '.join(table.partition_by)})" if table.partition_by else ""
    return f"CREATE TABLE IF NOT EXISTS {table.qualified} ({cols}) USING parquet{parts} LOCATION {sql_string(location)}"


def definitions_sql(paths: Paths, views: bool = True) -> list[str]:
    """The database, every table from ``schemas.warehouse`` at its folder, and (optionally) the views."""
    stmts = [f"CREATE DATABASE IF NOT EXISTS {DATABASE} LOCATION {sql_string(database_root(paths))}"]
    stmts += [ddl(table, table_root(paths, table)) for table in ALL_TABLES]
    if views:
        stmts += [f"CREATE OR REPLACE VIEW {DATABASE}.{name} AS {sql}" for name, sql in VIEWS.items()]
    return stmts


def add_partitions_sql(table: Table, specs: dict[tuple[tuple[str, str], ...], str]) -> str:
    adds = " ".join(f"PARTITION ({_spec_sql(spec)}) LOCATION {sql_string(loc)}" for spec, loc in sorted(specs.items()))
    return f"ALTER TABLE {table.qualified} ADD IF NOT EXISTS {adds}"


def catalog_sql(paths: Paths, as_of: AsOf | None = None) -> list[str]:
    """The statements that register the whole warehouse, with the partitions live right now (or ``as_of``),
    in a fresh catalog (``spark-sql -i``)."""
    specs = {table: partition_folders(paths, table, as_of) for table in ALL_TABLES}
    return definitions_sql(paths) + [add_partitions_sql(t, s) for t, s in specs.items() if s]


def register_warehouse(spark: SparkSession, paths: Paths, views: bool = True, writer: bool = False) -> None:
    """Register every table (with its live partitions), and the views unless ``views=False`` (jobs skip
    them: ~1 s per process), in this process's catalog. A ``writer`` first makes sure every table exists as
    a Delta table (creating empty ones, migrating a pre-Delta data folder once)."""
    with _LOCK:
        if writer:
            ensure_tables(paths)
        for table in ALL_TABLES:
            _REGISTERED.setdefault(str(table_root(paths, table)), {})
        for stmt in definitions_sql(paths, views):
            spark.sql(stmt)
        sync_partitions(spark, paths)


def sync_partitions(spark: SparkSession, paths: Paths, tables: tuple[Table, ...] = ALL_TABLES) -> int:
    """Bring this catalog's partitions in line with the tables' Delta logs; returns how many changed.
    Unpartitioned tables are refreshed so their file listing includes appended files."""
    changed = 0
    with _LOCK:
        for table in tables:
            if not table.partition_by:
                spark.catalog.refreshTable(table.qualified)
                continue
            known = _REGISTERED.setdefault(str(table_root(paths, table)), {})
            live = partition_folders(paths, table)
            added = {s: loc for s, loc in live.items() if s not in known}
            if added:
                spark.sql(add_partitions_sql(table, added))
            for spec, loc in live.items():
                if spec in known and known[spec] != loc:
                    spark.sql(f"ALTER TABLE {table.qualified} PARTITION ({_spec_sql(spec)}) SET LOCATION {sql_string(loc)}")
                    changed += 1
            gone = [s for s in known if s not in live]
            if gone:
                drops = ", ".join(f"PARTITION ({_spec_sql(s)})" for s in gone)
                spark.sql(f"ALTER TABLE {table.qualified} DROP IF EXISTS {drops}")
            changed += len(added) + len(gone)
            _REGISTERED[str(table_root(paths, table))] = dict(live)
    return changed


def _spec_sql(spec: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{k}={sql_string(v)}" for k, v in spec)


def sql_string(value: object) -> str:
    """A Spark SQL string literal: a data folder whose path holds ``'`` or ``\\`` stays one literal."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def conform(df: DataFrame, table: Table) -> DataFrame:
    """Select and cast columns into the table's order and types; only the table's ``optional`` columns
    may be missing (written as null), any other missing column is an error."""
    have = set(df.columns)
    return df.select([(F.col(f.name) if f.name in have or f.name not in table.optional else F.lit(None))
                      .cast(f.dataType).alias(f.name) for f in table.schema.fields])


@dataclass(frozen=True)
class Write:
    """One table write of ``replace_together``: ``df``'s rows all belong to ``partition`` of ``table``."""
    df: DataFrame
    table: Table
    partition: dict[str, str]


def replace_partitions(spark: SparkSession, df: DataFrame, table: Table, partition: dict[str, str],
                       paths: Paths | None = None) -> tuple[str | None, int]:
    """Make ``df`` (whose rows all belong to ``partition``) the content of that partition of ``table``, in
    one pass over ``df`` and one Delta commit; no rows removes the partition. Returns (the folder of the
    new files or None, rows written, counted from the Parquet footers)."""
    return replace_together(spark, [Write(df, table, partition)], paths)[0]


def replace_together(spark: SparkSession, writes: list[Write], paths: Paths | None = None) -> list[tuple[str | None, int]]:
    """Several partition writes whose commits follow each other once every one's files are written (a
    run's predictions and its quarantine): the slow part (computing and writing) is over for all of them
    before the first becomes visible, and a failure in any leaves none committed. The commits themselves
    are one per table, back to back (Delta has no transaction across tables)."""
    paths = paths or Paths.from_env()
    for w in writes:
        if list(w.partition) != list(w.table.partition_by):
            raise ValueError(f"{w.table.qualified} is partitioned by {w.table.partition_by}, got {list(w.partition)}")
    dirs = [table_root(paths, w.table).joinpath(*(f"{k}={v}" for k, v in w.partition.items())) for w in writes]
    staged: list[tuple[Path, list[Path]]] = []
    with contextlib.ExitStack() as locks:
        for d in sorted(set(dirs)):  # one order for every process: no deadlock between two multi-writes
            locks.enter_context(partition_lock(d, str(d.relative_to(database_root(paths)))))
        folders = [d / f"v-{_dt.datetime.now(_dt.timezone.utc):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}" for d in dirs]
        try:
            for w, folder in zip(writes, folders):
                staged.append((folder, write_files(conform(w.df, w.table).drop(*w.table.partition_by), folder)))
        except BaseException:
            for folder in folders:  # nothing was committed: none of this attempt's files stays
                shutil.rmtree(folder, ignore_errors=True)
            raise
        out = []
        for w, (folder, files) in zip(writes, staged):
            done = commit(paths, w.table, files, w.partition, replace=True)
            if not files:
                shutil.rmtree(folder, ignore_errors=True)
            out.append((str(folder) if files else None, done.rows_added))
            log.info("%s %s -> %s (%d rows)", w.table.qualified, w.partition,
                     folder if files else "(removed: no rows)", done.rows_added)
    for table in {w.table for w in writes}:
        sync_partitions(spark, paths, (table,))
    return out


def write_files(df: DataFrame, folder: Path) -> list[Path]:
    """Write ``df`` as Parquet into ``folder`` (a new folder); returns its data files, fsynced, with Spark's
    bookkeeping files (``_SUCCESS``, ``.crc``) removed. A write with no rows leaves no file."""
    import pyarrow.parquet as pq

    df.write.parquet(str(folder))
    files = []
    for f in sorted(folder.iterdir()):
        if f.suffix == ".parquet" and not f.name.startswith(("_", ".")) and pq.ParquetFile(f).metadata.num_rows:
            files.append(f)
        else:
            f.unlink()
    fsync_tree(folder)
    return files


def partition_lock(part_dir: Path, what: str):
    """Hold ``part_dir/_LOCK`` exclusively (another writer of the partition waits, saying so in the log)."""
    part_dir.mkdir(parents=True, exist_ok=True)
    return file_lock(part_dir / "_LOCK", what)


def append_rows(spark: SparkSession, df: DataFrame, table: Table, paths: Paths | None = None) -> None:
    """Append ``df`` (a few rows: a log table's records) to an unpartitioned log table."""
    paths = paths or Paths.from_env()
    append_records(paths, table, [row.asDict(recursive=True) for row in conform(df, table).collect()])
    spark.catalog.refreshTable(table.qualified)


def quarantine_write(rejected: DataFrame, stage: str, dt: str) -> Write:
    """``rejected`` (id, source, reason, detail) as the replacement of this stage's quarantine for ``dt``."""
    rows = rejected.select("id", "source", "reason", "detail").withColumns(
        {"stage": F.lit(stage), "dt": F.lit(dt)})
    return Write(rows, QUARANTINE, {"stage": stage, "dt": dt})


def write_quarantine(spark: SparkSession, rejected: DataFrame, stage: str, dt: str, paths: Paths | None = None) -> None:
    """Replace this stage's quarantine for ``dt`` with ``rejected``."""
    replace_together(spark, [quarantine_write(rejected, stage, dt)], paths)


def append_job_run(spark: SparkSession | None, *, dt: str, job: str, run_id: str, records_in: int,
                   records_out: int, records_quarantined: int, started_at: _dt.datetime,
                   status: str, paths: Paths | None = None) -> None:
    """``ml.job_runs`` is a log: one appended row per job run, whatever its outcome (written without Spark, so
    a run whose Spark session died still gets its row)."""
    paths = paths or Paths.from_env()
    finished_at = _dt.datetime.now(_dt.timezone.utc)
    append_records(paths, JOB_RUNS, [dict(
        dt=dt, job=job, run_id=run_id, records_in=records_in, records_out=records_out,
        records_quarantined=records_quarantined, started_at=started_at, finished_at=finished_at, status=status)])
    if spark is not None:
        with contextlib.suppress(Exception):
            spark.catalog.refreshTable(JOB_RUNS.qualified)
    log.info("job_runs: %s %s in=%d out=%d quarantined=%d status=%s",
             job, dt, records_in, records_out, records_quarantined, status)
