"""The one-time move of a pre-Delta data folder (version folders and ``_CURRENT`` pointers) to Delta Lake.

Run automatically by every job before it writes (``ensure_tables``), by ``shardline run`` and
``shardline warehouse migrate``; a folder already on Delta is left alone, so it is idempotent. Per table,
under the table's lock:

1. the live files (the version each ``_CURRENT`` names; a log table's Parquet files) are copied into new
   files, their columns cast to the table's types (older Spark wrote timestamps as INT96; Delta wants
   microseconds), and the rows of every copy are checked against the original's footer;
2. one commit creates the Delta table with exactly those files (version 0): until then readers of the old
   layout see the old data, from then on readers of the log see the same rows;
3. the old versions, pointers and files are deleted. A crash before step 2 is redone from the start; after
   it, the next run finishes step 3.
"""
from __future__ import annotations

import logging
import shutil
import time
import uuid
from pathlib import Path

from schemas.warehouse import ALL_TABLES, Table
from shardline.config import Paths, ShardlineError
from shardline.storage import file_lock, fsync_dir, fsync_tree
from shardline.warehouse_files import add_action, file_schema, is_delta, legacy_layout, table_root

log = logging.getLogger(__name__)
CURRENT = "_CURRENT"


def migrate(paths: Paths) -> list[str]:
    """Move every pre-Delta table of the data folder to Delta Lake; returns the tables moved."""
    moved = []
    for table in ALL_TABLES:
        root = table_root(paths, table)
        if not root.is_dir() or not (legacy_layout(root) or _leftovers(root)):
            continue
        with file_lock(root / "_LOCK", f"migrating {table.qualified}"):
            if legacy_layout(root):
                _migrate_table(paths, table, root)
                moved.append(table.qualified)
            _remove_old_layout(paths, table, root)
    return moved


def _leftovers(root: Path) -> bool:
    return is_delta(root) and (any(root.glob(f"*=*/{CURRENT}")) or any(root.glob(f"*=*/*=*/{CURRENT}")))


def _old_live_files(table: Table, root: Path) -> list[tuple[dict[str, str], list[Path]]]:
    if not table.partition_by:
        return [({}, sorted(root.glob("*.parquet")))]
    pattern = "/".join("*=*" for _ in table.partition_by) + f"/{CURRENT}"
    found = []
    for pointer in sorted(root.glob(pattern)):
        version = pointer.read_text().strip()
        if not version:
            raise ShardlineError(f"{pointer} is empty (a crash during a write?): write the name of the newest "
                                 "complete version folder beside it into it, then migrate again")
        spec = dict(part.split("=", 1) for part in pointer.parent.relative_to(root).parts)
        found.append((spec, sorted((pointer.parent / version).glob("*.parquet"))))
    return found


def _migrate_table(paths: Paths, table: Table, root: Path) -> None:
    import pyarrow.parquet as pq
    from deltalake import Schema
    from deltalake.transaction import CommitProperties, create_table_with_add_actions

    started, schema, tag = time.time(), file_schema(table), uuid.uuid4().hex[:8]
    adds, rows_total, partitions = [], 0, 0
    for spec, files in _old_live_files(table, root):
        if not files:
            continue
        partitions += 1
        if spec:
            folder = root.joinpath(*(f"{k}={v}" for k, v in spec.items())) / f"v-migrated-{tag}"
            folder.mkdir(parents=True, exist_ok=True)
        for i, old in enumerate(files):
            new = (folder / f"part-{i:05d}.parquet") if spec else root / f"migrated-{tag}-{i:05d}.parquet"
            pq.write_table(_conform(pq.read_table(old), schema), new)
            action, rows = add_action(root, new, spec)
            if rows != pq.ParquetFile(old).metadata.num_rows:
                raise ShardlineError(f"migrating {old}: wrote {rows} rows of {pq.ParquetFile(old).metadata.num_rows}")
            adds.append(action)
            rows_total += rows
    fsync_tree(root)
    fsync_dir(root)
    meta = {"shardline.operation": "migrate", "shardline.rows_added": str(rows_total),
            "shardline.rows_removed": "0"}
    create_table_with_add_actions(str(root), Schema.from_json(table.schema.json()), adds, mode="error",
                                  partition_by=list(table.partition_by) or None, name=table.qualified,
                                  commit_properties=CommitProperties(custom_metadata=meta))
    log.warning("migrated %s to Delta Lake: %d rows in %d %s, %.1f s", table.qualified, rows_total, partitions,
                "partitions" if table.partition_by else "file sets", time.time() - started)


def _conform(data, schema):
    import pyarrow as pa

    columns = []
    for field in schema:
        if field.name in data.column_names:
            columns.append(data.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(data.num_rows, field.type))
    return pa.table(columns, schema=schema)


def _remove_old_layout(paths: Paths, table: Table, root: Path) -> None:
    """Delete what the old layout left beside the Delta table: pointers, old versions, staging folders,
    old log files."""
    from shardline.warehouse_files import live_files

    live = {f for _, f in live_files(paths, table)}
    if not table.partition_by:
        for f in root.glob("*.parquet"):
            if f not in live:
                f.unlink()
        shutil.rmtree(root / "_staging", ignore_errors=True)
        return
    live_folders = {f.parent for f in live}
    pattern = "/".join("*=*" for _ in table.partition_by) + f"/{CURRENT}"
    for pointer in root.glob(pattern):
        for child in pointer.parent.iterdir():
            if child.is_dir() and child.name.startswith(("v-", "_staging-v-")) and child not in live_folders:
                shutil.rmtree(child)
        pointer.unlink()  # last: a crash before it leaves the partition to be cleaned again
