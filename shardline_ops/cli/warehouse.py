"""`shardline warehouse ...`: the Thrift/JDBC endpoint (start, stop, status) and the Delta Lake tables' upkeep
(history, vacuum, migrate)."""
from __future__ import annotations

import argparse
import subprocess
import sys

from shardline import settings
from shardline.config import REPO_ROOT, ShardlineError
from shardline.storage import open_private_log
from shardline_ops.cli.run import add_settings_flags


def table_named(name: str):
    from schemas.warehouse import ALL_TABLES, DATABASE

    by_name = {t.name: t for t in ALL_TABLES} | {t.qualified: t for t in ALL_TABLES}
    if name not in by_name:
        raise ShardlineError(f"no table {name!r}: one of {', '.join(t.qualified for t in ALL_TABLES)}"
                             f" ({DATABASE}. may be left out)")
    return by_name[name]


def cmd_history(args: argparse.Namespace) -> int:
    """The table's commits, newest first: which run wrote which date, when, and how many rows."""
    from shardline.warehouse_log import history
    from shardline_ops.results import format_rows

    if not args.table:
        raise ShardlineError("name a table: shardline warehouse history ml.image_predictions")
    table = table_named(args.table)
    rows = history(args.paths, table, args.limit)
    if not rows:
        raise ShardlineError(f"{table.qualified} has no history yet (no job has written it)")
    cols = ["version", "time", "operation", "partition", "job", "run_id", "rows_added", "rows_removed"]
    print(format_rows(cols, [tuple(r[c] for c in cols) for r in rows], args.format))
    return 0


def cmd_vacuum(args: argparse.Namespace) -> int:
    from shardline.warehouse_log import vacuum

    retention = settings.resolve(args.config, {}, args.set_items).warehouse.retention_days
    if args.retention_days is not None:
        retention = args.retention_days
    done = vacuum(args.paths, retention * 24, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for table, files in done.items():
        print(f"{table}: {verb} {len(files)} file(s)")
    print(f"kept every file a version of the last {retention:g} day(s) uses (warehouse.retention_days)",
          file=sys.stderr)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from shardline.warehouse_log import ensure_tables
    from shardline.warehouse_migrate import migrate

    moved = migrate(args.paths)
    ensure_tables(args.paths)
    print(f"migrated to Delta Lake: {', '.join(moved)}" if moved else "already Delta Lake: nothing to migrate")
    return 0


def cmd_warehouse(args: argparse.Namespace) -> int:
    actions = {"history": cmd_history, "vacuum": cmd_vacuum, "migrate": cmd_migrate}
    return actions.get(args.action, cmd_server)(args)


def cmd_server(args: argparse.Namespace) -> int:
    """start | stop | status of the Thrift/JDBC endpoint."""
    import time

    from shardline_ops.servers import thrift as thrift_server

    paths = args.paths
    state = thrift_server.read_state(paths)
    if args.action == "status":
        print(f"running: {state['url']} (pid {state['pid']})" if state else "not running")
        return 0 if state else 1
    if args.action == "stop":
        if not state:
            print("not running")
            return 0
        thrift_server.stop(paths)
        print(f"stopped (pid {state['pid']})")
        return 0
    if state:
        raise ShardlineError(f"already running: {state['url']} (pid {state['pid']}); `shardline warehouse stop` first")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: binding {args.host}: the endpoint is reachable from other machines, and its password "
              "travels unencrypted (no TLS)", file=sys.stderr)
    limits = settings.resolve(args.config, {}, args.set_items).query
    cmd = [sys.executable, "-m", "shardline_ops.servers.thrift", "--host", args.host, "--port", str(args.port),
           "--refresh", str(args.refresh), "--query-timeout", str(limits.spark_timeout_s)]
    if not args.detach:
        return subprocess.call(cmd, cwd=REPO_ROOT)
    paths.logs.mkdir(parents=True, exist_ok=True)
    log_path = paths.logs / "warehouse-server.log"
    with open_private_log(log_path) as out:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        state = thrift_server.read_state(paths)
        if state and state["pid"] == proc.pid:
            print(state["url"])
            return 0
        if proc.poll() is not None:
            raise ShardlineError(f"the warehouse server exited with {proc.returncode}; see {log_path}")
        time.sleep(0.3)
    proc.terminate()
    raise ShardlineError(f"the warehouse server did not come up in 180 s; see {log_path}")


def add_parsers(sub) -> None:
    wh = sub.add_parser("warehouse", help="the Thrift/JDBC SQL endpoint (start|stop|status) and the Delta tables "
                                          "(history TABLE | vacuum | migrate)")
    wh.add_argument("action", choices=["start", "stop", "status", "history", "vacuum", "migrate"])
    wh.add_argument("table", nargs="?", help="history: the table, e.g. ml.image_predictions")
    wh.add_argument("--host", default="127.0.0.1", help="start: bind address (default loopback)")
    wh.add_argument("--port", type=int, default=0, help="start: port (default: a free one)")
    wh.add_argument("--refresh", type=float, default=5.0, help="start: seconds between partition refreshes")
    wh.add_argument("--detach", action="store_true", help="start: run in the background; print the JDBC URL")
    wh.add_argument("--limit", type=int, default=None, help="history: the newest N commits only")
    wh.add_argument("--format", choices=["table", "csv", "json"], default="table", help="history: output format")
    wh.add_argument("--dry-run", action="store_true", help="vacuum: list what would be deleted, delete nothing")
    wh.add_argument("--retention-days", type=float, default=None,
                    help="vacuum: override warehouse.retention_days for this run")
    add_settings_flags(wh)
    wh.set_defaults(func=cmd_warehouse)
