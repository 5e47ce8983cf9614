"""Writing the warehouse's Delta logs: table creation, one commit per table write, history and vacuum.

Every ``ml.*`` table is a Delta Lake table (protocol reader 1 / writer 2, no deletion vectors, no column
mapping: what every Delta reader supports). Spark writes the Parquet files (``spark_jobs/common/warehouse.py``);
this module, through delta-rs (``deltalake``), makes them the table's content in **one commit**:

- a partitioned table's date (or stage and date) is *replaced*: the commit removes the partition's files and
  adds the new ones, or only removes them when the write had no rows;
- a log table (``ml.job_runs``, ``ml.scoring_runs``) gets files *appended*.

The commit (an atomic put-if-absent of ``_delta_log/<version>.json``) is the only moment a reader sees new
data: a writer killed before it leaves files no version names (removed by ``vacuum``) and the table as it
was. Commits to different partitions at once are reconciled by delta-rs (optimistic concurrency, retried);
two writers of the *same* partition take turns on the partition's lock (``spark_jobs/common/warehouse.py``),
so neither is refused after doing its work. Each commit's ``commitInfo`` carries the writing job, its run
id, the date and the rows added and removed, which ``history`` reads back.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from schemas.warehouse import ALL_TABLES, Table
from shardline.config import Paths, ShardlineError
from shardline.warehouse_files import LOG, add_action, is_delta, table_root

log = logging.getLogger(__name__)

# Stamped into every commit this process makes (the job skeleton sets it: ``set_commit_info``).
_COMMIT_INFO: dict[str, str] = {}


def set_commit_info(**info: str) -> None:
    """The job, run id and date written into every commit this process makes from now on."""
    _COMMIT_INFO.clear()
    _COMMIT_INFO.update({k: str(v) for k, v in info.items() if v is not None})


def ensure_table(paths: Paths, table: Table):
    """The table's ``DeltaTable``, created empty (schema from ``schemas.warehouse``) if it does not exist."""
    from deltalake import DeltaTable, Schema
    from deltalake.exceptions import DeltaError

    root = table_root(paths, table)
    if not is_delta(root):
        root.mkdir(parents=True, exist_ok=True)
        try:
            DeltaTable.create(str(root), Schema.from_json(table.schema.json()), mode="ignore",
                              partition_by=list(table.partition_by) or None, name=table.qualified,
                              commit_properties=_properties({"operation": "create"}))
        except DeltaError:
            if not is_delta(root):  # not a lost race with another creator
                raise
    dt = DeltaTable(str(root))
    _add_new_columns(dt, table)
    return dt


def _add_new_columns(dt, table: Table) -> None:
    """A column added to ``schemas.warehouse`` since the table was created is added to the Delta schema (one
    commit); files written before it read as null in that column, in every Delta reader."""
    from deltalake import Schema
    from deltalake.exceptions import DeltaError

    have = {f.name for f in dt.schema().fields}
    missing = [f for f in Schema.from_json(table.schema.json()).fields if f.name not in have]
    if missing:
        try:
            dt.alter.add_columns(missing, commit_properties=_properties(
                {"operation": "add columns " + ", ".join(f.name for f in missing)}))
        except DeltaError:
            if {f.name for f in type(dt)(dt.table_uri).schema().fields} < {f.name for f in missing} | have:
                raise  # not a lost race with another writer adding the same columns
        dt.update_incremental()


def ensure_tables(paths: Paths) -> None:
    """Every table of ``schemas.warehouse`` exists as a Delta table (a pre-Delta data folder is migrated)."""
    from shardline.warehouse_migrate import migrate

    migrate(paths)
    for table in ALL_TABLES:
        ensure_table(paths, table)


@dataclass(frozen=True)
class Commit:
    version: int
    rows_added: int
    rows_removed: int


def commit(paths: Paths, table: Table, files: list[Path], partition: dict[str, str] | None = None,
           replace: bool = False, info: dict[str, str] | None = None) -> Commit:
    """One commit of ``files`` (already complete and fsynced, under the table's folder) to ``table``:
    ``replace=True`` makes them the whole content of ``partition``; otherwise they are appended."""
    dt = ensure_table(paths, table)
    root = table_root(paths, table)
    partition = partition or {}
    if list(partition) != list(table.partition_by) and (replace or table.partition_by):
        raise ValueError(f"{table.qualified} is partitioned by {table.partition_by}, got {list(partition)}")
    adds = [add_action(root, f, partition) for f in files]
    added = sum(rows for _, rows in adds)
    adds = [action for action, _ in adds]
    removed = _partition_rows(dt, partition) if replace else 0
    meta = {**_COMMIT_INFO, **(info or {}), "rows_added": str(added), "rows_removed": str(removed)}
    if partition:
        meta["partition"] = "/".join(f"{k}={v}" for k, v in partition.items())
    filters = [(k, "=", v) for k, v in partition.items()] if replace else None
    dt.create_write_transaction(adds, mode="overwrite" if replace else "append", schema=dt.schema(),
                                partition_by=list(table.partition_by) or None, partition_filters=filters,
                                commit_properties=_properties(meta))
    version = _version_of(root, meta)
    log.info("%s %s: version %d, +%d rows, -%d rows", table.qualified, meta.get("partition", "append"),
             version, added, removed)
    return Commit(version, added, removed)


def append_records(paths: Paths, table: Table, records: list[dict]) -> Commit:
    """Append rows (dicts of column -> value; naive datetimes are UTC) to an unpartitioned log table as one
    file and one commit, under the table's lock. Written with pyarrow, not Spark: a one-row log entry needs
    no Spark job, and a run whose Spark session died can still record itself."""
    import uuid

    import pyarrow as pa
    import pyarrow.parquet as pq

    from shardline.storage import file_lock, fsync_dir
    from shardline.warehouse_files import file_schema

    if table.partition_by:
        raise ValueError(f"{table.qualified} is partitioned: append_records is for log tables")
    root = table_root(paths, table)  # the table is created, if need be, by the commit
    schema = file_schema(table)
    data = pa.Table.from_pylist([{f.name: _utc(r.get(f.name)) for f in schema} for r in records], schema=schema)
    with file_lock(root / "_LOCK", f"{table.qualified} append"):
        drop_uncommitted(paths, table)
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}.parquet"
        stage = root / "_staging"
        stage.mkdir(exist_ok=True)
        with open(stage / name, "wb") as fh:
            pq.write_table(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(stage / name, root / name)
        fsync_dir(root)
        return commit(paths, table, [root / name])


def _utc(value):
    import datetime as _dt

    if isinstance(value, _dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=_dt.timezone.utc)
    return value


def drop_uncommitted(paths: Paths, table: Table) -> None:
    """Delete Parquet files in a log table's folder that its log does not name: an appender was killed between
    moving its file in and committing it. Call holding the table's lock (every appender takes it, so none of
    those files belongs to a live writer). Spark reads a log table's folder, not its log: this keeps the two
    views equal."""
    from shardline.warehouse_files import live_files

    committed = {f for _, f in live_files(paths, table)}
    for f in table_root(paths, table).glob("*.parquet"):
        if f not in committed:
            log.warning("%s: removing %s, written by an append that never committed", table.qualified, f.name)
            f.unlink()


def _properties(meta: dict[str, str]):
    from deltalake.transaction import CommitProperties

    # Another writer's commit to another partition between our read and our commit is retried by delta-rs;
    # 20 tries covers every job of a night committing at once.
    return CommitProperties(custom_metadata={f"shardline.{k}": v for k, v in meta.items()}, max_commit_retries=20)


def _partition_rows(dt, partition: dict[str, str]) -> int:
    actions = dt.get_add_actions(flatten=True)
    rows = actions.column("num_records").to_pylist()
    keep = [True] * len(rows)
    for k, v in partition.items():
        keep = [ok and str(x) == v for ok, x in zip(keep, actions.column(f"partition.{k}").to_pylist())]
    return sum(r or 0 for r, ok in zip(rows, keep) if ok)


def _version_of(root: Path, meta: dict[str, str]) -> int:
    """The version our commit got: the newest log entry carrying our meta (others may have committed since)."""
    from deltalake import DeltaTable

    dt = DeltaTable(str(root))
    want = {f"shardline.{k}": v for k, v in meta.items()}
    for entry in dt.history(10):
        if all(entry.get(k) == v for k, v in want.items()):
            return int(entry["version"])
    return dt.version()


def history(paths: Paths, table: Table, limit: int | None = None) -> list[dict]:
    """The table's commits, newest first: version, time, operation, job, run id, date, partition, rows
    added and removed (commits made by other engines show what their commit info says)."""
    from deltalake import DeltaTable

    root = table_root(paths, table)
    if not is_delta(root):
        return []
    out = []
    for entry in DeltaTable(str(root)).history(limit):
        meta = {k.removeprefix("shardline."): v for k, v in entry.items() if k.startswith("shardline.")}
        params = entry.get("operationParameters") or {}
        out.append({
            "version": entry.get("version"),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry.get("timestamp", 0) / 1000)),
            "operation": entry.get("operation", "") + (f" ({params['mode']})" if params.get("mode") else ""),
            "job": meta.get("job", ""), "run_id": meta.get("run_id", ""), "dt": meta.get("dt", ""),
            "partition": meta.get("partition", ""),
            "rows_added": _int(meta.get("rows_added")), "rows_removed": _int(meta.get("rows_removed")),
        })
    return out


def _int(text: str | None) -> int | None:
    return int(text) if text not in (None, "") else None


def vacuum(paths: Paths, retention_hours: float, dry_run: bool = False) -> dict[str, list[str]]:
    """Delete, per table, the files no version within ``retention_hours`` uses: files earlier versions
    replaced, and files of writes that never committed once they are that old (delta-rs's full vacuum).
    A file the current version or a retained one uses is never deleted. Then removes version folders left
    empty. Returns table -> files deleted (or, with ``dry_run``, that would be)."""
    from deltalake import DeltaTable

    if retention_hours < 0:
        raise ShardlineError("vacuum retention cannot be negative")
    done: dict[str, list[str]] = {}
    for table in ALL_TABLES:
        root = table_root(paths, table)
        if not is_delta(root):
            continue
        dt = DeltaTable(str(root))
        files = dt.vacuum(retention_hours=int(retention_hours), dry_run=dry_run, enforce_retention_duration=False,
                          full=True, commit_properties=None if dry_run else _properties({"operation": "vacuum"}))
        done[table.qualified] = sorted(files)
        if not dry_run:
            _remove_empty_folders(root)
    return done


def _remove_empty_folders(root: Path) -> None:
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if folder.name == LOG or LOG in folder.relative_to(root).parts:
            continue
        try:
            folder.rmdir()  # only when empty: a writer may be staging into it right now
        except OSError:
            pass
