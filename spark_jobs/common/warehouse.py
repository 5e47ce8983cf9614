"""The warehouse: Parquet tables under ``<data>/warehouse/ml.db`` that many processes read at once.

There is no shared metastore. Each process (job, ``shardline query``, ``spark-sql``, the Thrift server)
keeps its own throw-away catalog and registers the project's tables in it at start from the table
definitions in ``schemas.warehouse`` (``register_warehouse``). The files are the source of truth:

- A partition (``dt=...``, or ``stage=.../dt=...``) is a folder holding immutable *versions*
  (``v-<utc time>-<id>``) and a ``_CURRENT`` pointer naming the live one. A write stages a complete new
  version, then moves the pointer with one atomic rename (``commit_partition``). A reader resolves the
  pointer once per query plan, so it sees the old version or the new one, never a mix, and never a
  partly written one. The version before the current one is kept, so a query that resolved it just
  before a commit can still finish; older ones are deleted.
- Rerunning a date writes a new version of that date's partition only: other dates are untouched and
  rows are never duplicated (the effect of a dynamic-partition overwrite, with an atomic swap).
- Two writers of one partition (``shardline run`` while the scheduler runs the same date, a retried task
  whose zombie still runs) take turns: each holds the partition's ``_LOCK`` (``flock``, released by the
  kernel if the process dies) from staging to pruning, so pruning never meets another writer's staging
  and the partition always holds one writer's complete version. The version files, the rename and the
  pointer are fsynced before the pointer moves; an empty pointer is an error, never "no partition".
- Unpartitioned log tables (``ml.job_runs``, ``ml.scoring_runs``) only ever get whole files appended,
  staged under ``_staging`` and renamed in.

Long-lived readers (the Thrift server) call ``sync_partitions`` to pick up commits made by others.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import threading
import uuid
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas.warehouse import ALL_TABLES, DATABASE, JOB_RUNS, QUARANTINE, VIEWS, Table
from shardline.config import Paths
from shardline.storage import file_lock, fsync_dir, fsync_tree, read_pointer, write_pointer
from shardline.warehouse_files import CURRENT, current_partitions, database_root, table_root  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

# What this process registered in its catalog: table root -> {partition spec: version location}.
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


def catalog_sql(paths: Paths) -> list[str]:
    """The statements that register the whole warehouse, with the partitions live right now, in a
    fresh catalog (``spark-sql -i``)."""
    specs = {table: current_partitions(paths, table) for table in ALL_TABLES}
    return definitions_sql(paths) + [add_partitions_sql(t, s) for t, s in specs.items() if s]


def register_warehouse(spark: SparkSession, paths: Paths, views: bool = True) -> None:
    """Register every table (with its live partitions), and the views unless ``views=False`` (jobs skip
    them: ~1 s per process), in this process's catalog."""
    with _LOCK:
        for table in ALL_TABLES:
            table_root(paths, table).mkdir(parents=True, exist_ok=True)
            _REGISTERED.setdefault(str(table_root(paths, table)), {})
        for stmt in definitions_sql(paths, views):
            spark.sql(stmt)
        sync_partitions(spark, paths)


def sync_partitions(spark: SparkSession, paths: Paths, tables: tuple[Table, ...] = ALL_TABLES) -> int:
    """Bring this catalog's partitions in line with the pointers on disk; returns how many changed.
    Unpartitioned tables are refreshed so their file listing includes appended files."""
    changed = 0
    with _LOCK:
        for table in tables:
            if not table.partition_by:
                spark.catalog.refreshTable(table.qualified)
                continue
            known = _REGISTERED.setdefault(str(table_root(paths, table)), {})
            live = current_partitions(paths, table)
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


def replace_partitions(spark: SparkSession, df: DataFrame, table: Table, partition: dict[str, str],
                       paths: Paths | None = None) -> tuple[str | None, int]:
    """Make ``df`` (whose rows all belong to ``partition``) the content of that partition of ``table``.

    Writes a new version in one pass over ``df``, counts its rows from the Parquet footers, then moves
    the partition's pointer atomically; no rows removes the partition. Returns (the new version's
    folder or None, rows written)."""
    paths = paths or Paths.from_env()
    if list(partition) != list(table.partition_by):
        raise ValueError(f"{table.qualified} is partitioned by {table.partition_by}, got {list(partition)}")
    part_dir = table_root(paths, table).joinpath(*(f"{k}={v}" for k, v in partition.items()))
    pointer = part_dir / CURRENT
    with partition_lock(part_dir, f"{table.qualified} {partition}"):
        previous = read_pointer(pointer)  # an empty (corrupt) pointer stops here, before anything is pruned
        version = f"v-{_dt.datetime.now(_dt.timezone.utc):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
        stage = part_dir / f"_staging-{version}"
        conform(df, table).drop(*table.partition_by).write.parquet(str(stage))
        written = parquet_rows(stage)
        if written == 0:
            shutil.rmtree(stage, ignore_errors=True)
            pointer.unlink(missing_ok=True)
            fsync_dir(part_dir)
            location = None
        else:
            fsync_tree(stage)
            os.replace(stage, part_dir / version)  # the version is complete before anything can point at it
            fsync_dir(part_dir)
            write_pointer(pointer, version)
            location = str(part_dir / version)
        _prune_versions(part_dir, keep={v for v in (read_pointer(pointer), previous) if v})
    sync_partitions(spark, paths, (table,))
    log.info("%s %s -> %s (%d rows)", table.qualified, partition, location or "(removed: no rows)", written)
    return location, written


def partition_lock(part_dir: Path, what: str):
    """Hold ``part_dir/_LOCK`` exclusively (another writer of the partition waits, saying so in the log)."""
    part_dir.mkdir(parents=True, exist_ok=True)
    return file_lock(part_dir / "_LOCK", what)


def parquet_rows(folder: Path) -> int:
    """Rows in a folder of Parquet files, from their footers (no data read)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet"))


def _prune_versions(part_dir: Path, keep: set[str]) -> None:
    """Delete versions other than ``keep`` and leftovers of writes that died before their commit."""
    if not part_dir.exists():
        return
    for child in part_dir.iterdir():
        if child.is_dir() and child.name.startswith(("v-", "_staging-v-")) and child.name not in keep:
            shutil.rmtree(child, ignore_errors=True)


def append_rows(spark: SparkSession, df: DataFrame, table: Table, paths: Paths | None = None) -> None:
    """Append ``df`` to an unpartitioned log table as whole files: staged, then renamed in."""
    paths = paths or Paths.from_env()
    root = table_root(paths, table)
    tag = uuid.uuid4().hex[:12]
    stage = root / "_staging" / tag
    conform(df, table).coalesce(1).write.parquet(str(stage))
    fsync_tree(stage)
    for part in sorted(stage.glob("part-*.parquet")):
        os.replace(part, root / f"{_dt.datetime.now(_dt.timezone.utc):%Y%m%dT%H%M%S}-{tag}-{part.name}")
    fsync_dir(root)
    shutil.rmtree(stage, ignore_errors=True)
    spark.catalog.refreshTable(table.qualified)


def write_quarantine(spark: SparkSession, rejected: DataFrame, stage: str, dt: str, paths: Paths | None = None) -> None:
    """``rejected`` has id, source, reason, detail; it replaces this stage's quarantine for ``dt``."""
    rows = rejected.select("id", "source", "reason", "detail").withColumns(
        {"stage": F.lit(stage), "dt": F.lit(dt)})
    replace_partitions(spark, rows, QUARANTINE, {"stage": stage, "dt": dt}, paths)


def append_job_run(spark: SparkSession, *, dt: str, job: str, run_id: str, records_in: int,
                   records_out: int, records_quarantined: int, started_at: _dt.datetime,
                   status: str, paths: Paths | None = None) -> None:
    """``ml.job_runs`` is a log: one appended row per job run, whatever its outcome."""
    finished_at = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
    row = [(dt, job, run_id, records_in, records_out, records_quarantined,
            started_at.replace(tzinfo=None), finished_at, status)]
    append_rows(spark, spark.createDataFrame(row, JOB_RUNS.schema), JOB_RUNS, paths)
    log.info("job_runs: %s %s in=%d out=%d quarantined=%d status=%s",
             job, dt, records_in, records_out, records_quarantined, status)
