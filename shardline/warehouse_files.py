"""Where the warehouse's tables are and which files each holds: the one reading of the layout every engine uses.

``<data>/warehouse/ml.db/<table>/`` is a **Delta Lake table**: a ``_delta_log/`` of JSON commits and the
Parquet files they name. Which files make up the table (and, for a partitioned table, each file's partition
values) comes from the log, never from a listing of folders: a folder also holds files that an earlier
version used (kept for time travel until ``vacuum``) and files of a write that never committed. Spark's
catalog (``spark_jobs/common/warehouse.py``), DuckDB's views (``shardline_ops/duck.py``) and any other Delta
reader (delta-rs, delta-spark, Trino, DuckDB's ``delta`` extension) therefore see the same rows.

Written by ``shardline/warehouse_log.py``: Spark writes each partition's files into a folder of their own
(``dt=<date>/v-<utc time>-<id>/``), then one Delta commit replaces the partition's files with them. What a
data file holds (``file_schema``: the table's columns less the partition columns, timestamps as UTC
microseconds) and its entry in the log (``add_action``) are defined here too, for every writer (the commit,
the migration).
"""
from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from schemas.warehouse import DATABASE, Table
from shardline.config import Paths, ShardlineError

LOG = "_delta_log"
Spec = tuple[tuple[str, str], ...]


def database_root(paths: Paths) -> Path:
    return paths.warehouse / f"{DATABASE}.db"


def table_root(paths: Paths, table: Table) -> Path:
    return database_root(paths) / table.name


def is_delta(root: Path) -> bool:
    return (root / LOG).is_dir()


class NotMigrated(ShardlineError):
    """A table still in the pre-Delta folder layout (version folders and ``_CURRENT`` pointers)."""


def legacy_layout(root: Path) -> bool:
    """True for a table folder written before the warehouse was Delta Lake (and not migrated yet)."""
    if not root.is_dir() or is_delta(root):
        return False
    return any(root.glob("*=*/_CURRENT")) or any(root.glob("*=*/*=*/_CURRENT")) or any(root.glob("*.parquet"))


@dataclass(frozen=True)
class AsOf:
    """A point in a table's history: a version number, or a time (every table as it was then)."""
    version: int | None = None
    timestamp: _dt.datetime | None = None

    @classmethod
    def parse(cls, text: str) -> AsOf:
        text = text.strip()
        if re.fullmatch(r"\d+", text):
            return cls(version=int(text))
        try:
            when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ShardlineError(f"--as-of {text!r}: give a version number (shardline warehouse history TABLE) "
                                 "or a time such as 2026-12-08T02:00:00Z") from None
        return cls(timestamp=when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc))

    def __str__(self) -> str:
        return str(self.version) if self.version is not None else self.timestamp.isoformat()


class NoSuchVersion(ShardlineError):
    """``--as-of`` names a version the table does not have."""


def snapshot(paths: Paths, table: Table, as_of: AsOf | None = None):
    """The table's Delta snapshot (``deltalake.DeltaTable``), now or ``as_of``; None when the table does not
    exist (yet, or at that time)."""
    from deltalake import DeltaTable

    root = table_root(paths, table)
    if not is_delta(root):
        if legacy_layout(root):
            raise NotMigrated(f"{table.qualified} is in the pre-Delta layout: run any job or "
                              "`shardline warehouse migrate` once to convert the data folder")
        return None
    dt = DeltaTable(str(root))
    if as_of is None:
        return dt
    if as_of.version is not None:
        if as_of.version > dt.version():
            raise NoSuchVersion(f"{table.qualified} has no version {as_of.version} (latest is {dt.version()}; "
                                f"shardline warehouse history {table.qualified})")
        dt.load_as_version(as_of.version)
        return dt
    created = min(h["timestamp"] for h in dt.history())  # ms; delta-rs would give version 0 for any earlier time
    if as_of.timestamp.timestamp() * 1000 < created:
        return None
    dt.load_as_version(as_of.timestamp)
    return dt


def live_files(paths: Paths, table: Table, as_of: AsOf | None = None) -> list[tuple[Spec, Path]]:
    """(partition spec, Parquet file) for every file of the table's current version (or ``as_of``), sorted;
    the spec is ``()`` for an unpartitioned table. Partition values come from the log, not from folder names."""
    dt = snapshot(paths, table, as_of)
    if dt is None:
        return []
    actions = dt.get_add_actions(flatten=True)
    files = [unquote(p) for p in actions.column("path").to_pylist()]
    values = [actions.column(f"partition.{k}").to_pylist() for k in table.partition_by]
    root = table_root(paths, table)
    found = [(tuple((k, str(col[i])) for k, col in zip(table.partition_by, values)), root / f)
             for i, f in enumerate(files)]
    return sorted(found)


def partition_folders(paths: Paths, table: Table, as_of: AsOf | None = None) -> dict[Spec, str]:
    """Partition spec -> the folder holding all of that partition's live files (Spark's catalog registers a
    partition by folder; every commit Shardline makes replaces a partition with one folder of files)."""
    folders: dict[Spec, set[Path]] = {}
    for spec, f in live_files(paths, table, as_of):
        folders.setdefault(spec, set()).add(f.parent)
    many = {spec: fs for spec, fs in folders.items() if len(fs) > 1}
    if many:
        spec, fs = next(iter(many.items()))
        raise ShardlineError(f"{table.qualified} partition {dict(spec)} has files in {len(fs)} folders (written by "
                             "another engine?): Spark's catalog needs one folder per partition; read it with "
                             "`shardline query` (DuckDB) or any Delta reader")
    return {spec: str(next(iter(fs))) for spec, fs in folders.items()}


def arrow_type(spark_json):
    """A Spark/Delta schema type (its JSON form) as a pyarrow type; timestamps as Delta stores them."""
    import pyarrow as pa

    if isinstance(spark_json, dict):
        if spark_json["type"] == "array":
            return pa.list_(arrow_type(spark_json["elementType"]))
        if spark_json["type"] == "struct":
            return pa.struct([pa.field(f["name"], arrow_type(f["type"])) for f in spark_json["fields"]])
        raise ShardlineError(f"no Arrow type for {spark_json}")
    simple = {"string": pa.string(), "binary": pa.binary(), "integer": pa.int32(), "long": pa.int64(),
              "double": pa.float64(), "float": pa.float32(), "boolean": pa.bool_(), "short": pa.int16(),
              "timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32()}
    return simple[spark_json]


def file_schema(table: Table):
    """The Arrow schema of the table's data files (partition columns live in the log, not in the files)."""
    import pyarrow as pa

    return pa.schema([pa.field(f["name"], arrow_type(f["type"])) for f in table.schema.jsonValue()["fields"]
                      if f["name"] not in table.partition_by])


def add_action(root: Path, path: Path, partition: dict[str, str]):
    """The Delta ``add`` of a complete Parquet file under the table folder ``root``, its row count from the
    footer (no data read) as the ``numRecords`` statistic. Returns (the action, its rows)."""
    import pyarrow.parquet as pq
    from deltalake.transaction import AddAction

    rows = pq.ParquetFile(path).metadata.num_rows
    st = path.stat()
    return AddAction(path=path.relative_to(root).as_posix(), size=st.st_size, partition_values=dict(partition),
                     modification_time=int(st.st_mtime * 1000), data_change=True,
                     stats=json.dumps({"numRecords": rows})), rows
