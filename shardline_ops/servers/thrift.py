"""The warehouse's SQL endpoint: a Spark Thrift (HiveServer2) server on loopback, for beeline and JDBC/BI tools.

``shardline warehouse start`` runs it. It registers the warehouse like any other process, loads the
read-only guard (every data-changing statement, script transform, reflect call and read by path is
refused), and re-reads the partition pointers every ``--refresh`` seconds, so it serves new partitions as
jobs commit them. Each JDBC connection gets its own session (``SET``/``USE`` stay in it); all share the
catalog that the refresh updates. Connections authenticate (HiveServer2 CUSTOM auth,
``java/shardline/PasswordAuth.java``) with the password in ``<data>/warehouse-server.secret`` (generated on
first start, mode 0600, never printed or logged), any user name. Its address goes to
``<data>/warehouse-server.json``; ``shardline warehouse stop`` ends it (SIGTERM).

    beeline -u jdbc:hive2://127.0.0.1:<port>/ml -n shardline -w data/warehouse-server.secret -e "SELECT 1"
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import secrets
import signal
import socket
import threading
from collections.abc import Sequence
from pathlib import Path

from shardline.config import Paths
from shardline.settings import QuerySettings
from shardline.storage import ensure_private_file
from shardline_ops.servers import processes

log = logging.getLogger("shardline.warehouse")


def state_file(paths: Paths) -> Path:
    return paths.home / "warehouse-server.json"


def read_state(paths: Paths) -> dict | None:
    """The running server's address, or None (no state file, or its process is gone)."""
    return processes.read_state(state_file(paths))


def secret_file(paths: Paths) -> Path:
    return paths.home / "warehouse-server.secret"


def ensure_secret(paths: Paths) -> Path:
    """The server's password file: created 0600 (never wider, not even for a moment) with a random token
    on first use; an existing one is kept, and made 0600 if someone widened it."""
    path = ensure_private_file(secret_file(paths), lambda: secrets.token_urlsafe(32) + "\n")
    if not path.read_text().strip():
        raise RuntimeError(f"{path} is empty: delete it and start again to generate a new credential")
    return path


def stop(paths: Paths, timeout_s: float = 30.0) -> dict | None:
    """SIGTERM: the server stops HiveServer2 and Spark and removes its state file; leftovers are killed."""
    return processes.stop_processes(state_file(paths), signal.SIGTERM, group=False, timeout_s=timeout_s)


def serve(paths: Paths, host: str, port: int, refresh_s: float, master: str,
          query_timeout_s: float = QuerySettings().spark_timeout_s) -> None:
    from spark_jobs.common.readonly import PASSWORD_AUTH, writer_thread
    from spark_jobs.common.session import build_spark
    from spark_jobs.common.warehouse import sync_partitions

    port = port or processes.free_port(host)
    secret = ensure_secret(paths)
    spark = build_spark("shardline-warehouse", master=master, paths=paths, read_only=True,
                        extra={"spark.sql.hive.thriftServer.singleSession": "false",
                               # [query] spark_timeout_s: a client's statement is cancelled past it
                               "spark.sql.thriftServer.queryTimeout": f"{max(1, math.ceil(query_timeout_s))}s"})
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    # HiveServer2 reads its address and authentication from HiveConf, which takes these JVM system properties
    for key, value in {"hive.server2.thrift.bind.host": host, "hive.server2.thrift.port": str(port),
                       "hive.server2.authentication": "CUSTOM",
                       "hive.server2.custom.authentication.class": PASSWORD_AUTH,
                       "shardline.thrift.secret.file": str(secret)}.items():
        jvm.java.lang.System.setProperty(key, value)
    server = jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(
        spark._jsparkSession.sqlContext())  # noqa: SLF001
    _wait_listening(host, port)
    url = f"jdbc:hive2://{host}:{port}/ml"
    processes.write_state(state_file(paths), {"pid": os.getpid(), "host": host, "port": port, "url": url,
                                          "user": "shardline", "password_file": str(secret)})
    print(f"warehouse SQL endpoint: {url}  (beeline -u {url} -n shardline -w {secret}; read-only; "
          "Ctrl-C or `shardline warehouse stop`)", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(refresh_s):
            try:
                with writer_thread(spark):
                    changed = sync_partitions(spark, paths)
                if changed:
                    log.info("picked up %d partition change(s)", changed)
            except Exception:  # a bad refresh must not take the endpoint down
                log.exception("partition refresh failed; serving the previous view")
    finally:
        state_file(paths).unlink(missing_ok=True)
        server.stop()
        spark.stop()
        print("warehouse SQL endpoint stopped", flush=True)


def _wait_listening(host: str, port: int, timeout_s: float = 60.0) -> None:
    import time

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the Thrift server did not listen on {host}:{port} within {timeout_s:.0f}s")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    p.add_argument("--refresh", type=float, default=5.0, help="seconds between partition refreshes")
    p.add_argument("--master", default=os.environ.get("SHARDLINE_WAREHOUSE_MASTER", "local[2]"))
    p.add_argument("--query-timeout", type=float, default=QuerySettings().spark_timeout_s,
                   help="seconds after which a client's query is cancelled (setting query.spark_timeout_s)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("SHARDLINE_SPARK_LOG_LEVEL", "ERROR")
    serve(Paths.from_env(), args.host, args.port, args.refresh, args.master, args.query_timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
