"""Where the warehouse's files are: the one description of its layout that every engine reads.

``<data>/warehouse/ml.db/<table>/`` holds, for a partitioned table, one folder per partition
(``dt=...`` or ``stage=.../dt=...``) with immutable versions and a ``_CURRENT`` pointer naming the live one
(written by ``spark_jobs/common/warehouse.py``); an unpartitioned log table holds its Parquet files
directly. Spark's catalog and DuckDB's views (``shardline_ops/duck.py``) are both built from here and from
``schemas.warehouse``, so the two engines see the same live versions.
"""
from __future__ import annotations

from pathlib import Path

from schemas.warehouse import DATABASE, Table
from shardline.config import Paths
from shardline.storage import read_pointer

CURRENT = "_CURRENT"


def database_root(paths: Paths) -> Path:
    return paths.warehouse / f"{DATABASE}.db"


def table_root(paths: Paths, table: Table) -> Path:
    return database_root(paths) / table.name


def current_partitions(paths: Paths, table: Table) -> dict[tuple[tuple[str, str], ...], str]:
    """Partition spec -> live version folder, read from the ``_CURRENT`` pointers on disk."""
    root = table_root(paths, table)
    if not table.partition_by or not root.exists():
        return {}
    pattern = "/".join("*=*" for _ in table.partition_by) + f"/{CURRENT}"
    found = {}
    for pointer in root.glob(pattern):
        version = read_pointer(pointer)
        if not version:
            continue
        parts = pointer.parent.relative_to(root).parts
        spec = tuple((p.split("=", 1)[0], p.split("=", 1)[1]) for p in parts)
        if [k for k, _ in spec] == list(table.partition_by):
            found[spec] = str(pointer.parent / version)
    return found


def live_files(paths: Paths, table: Table) -> list[tuple[tuple[tuple[str, str], ...], Path]]:
    """(partition spec, Parquet file) for every file of the live versions (unpartitioned: spec ``()``),
    sorted; staging folders and hidden files are never live."""
    if not table.partition_by:
        root = table_root(paths, table)
        return [((), f) for f in sorted(root.glob("*.parquet"))] if root.exists() else []
    return [(spec, f) for spec, folder in sorted(current_partitions(paths, table).items())
            for f in sorted(Path(folder).glob("*.parquet")) if not f.name.startswith(("_", "."))]
