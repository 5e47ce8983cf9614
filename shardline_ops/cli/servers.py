"""`shardline warehouse|airflow|spark-cluster ...` and `spark-conf`: the background servers on 127.0.0.1."""
from __future__ import annotations

import argparse
import subprocess
import sys

from shardline import settings
from shardline.config import REPO_ROOT, ShardlineError
from shardline.storage import open_private_log
from shardline_ops.cli.run import add_settings_flags, airflow_env, ensure_samples


def cmd_spark_conf(args: argparse.Namespace) -> int:
    """Print spark-sql flags that open this project's warehouse read-only: ``spark-sql $(shardline spark-conf)``.

    spark-sql gets a private in-memory catalog, the read-only guard (``spark_jobs/common/readonly.py``) and
    an init file (``-i``) that registers the tables, the partitions live right now, and the views; the
    guard lets exactly that file's statements through, first, and nothing else that writes. Flags hold no
    spaces, so plain word splitting keeps each one whole (a data folder whose path holds a space cannot be
    given this way: run spark-sql from a path without one, or use ``shardline query --engine spark``)."""
    from spark_jobs.common.readonly import EXTENSION, READ_ONLY_CONF, guard_jar
    from spark_jobs.common.session import LOG4J_CONFIG, spark_conf
    from spark_jobs.common.warehouse import catalog_sql

    paths = args.paths
    init = paths.home / "catalog.sql"
    init.parent.mkdir(parents=True, exist_ok=True)
    init.write_text(";\n".join(" ".join(stmt.split()) for stmt in catalog_sql(paths)) + ";\n")
    keep = ("spark.sql.catalogImplementation", "spark.sql.warehouse.dir", "spark.hadoop.javax.jdo.option.ConnectionURL",
            "spark.hadoop.datanucleus.schema.autoCreateAll", "spark.hadoop.hive.metastore.schema.verification",
            "spark.sql.session.timeZone", "spark.ui.enabled", "spark.driver.bindAddress", "spark.driver.host")
    conf = spark_conf(paths, hive=True)
    jar = guard_jar(paths)
    flags = [f"--conf {k}={conf[k]}" for k in keep]
    flags += [f"--jars {jar}", f"--driver-class-path {jar}", f"--conf spark.sql.extensions={EXTENSION}",
              f"--conf spark.shardline.catalogInit={init}", *(f"--conf {k}={v}" for k, v in READ_ONLY_CONF.items())]
    flags.append(f"--driver-java-options=-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}")
    flags.append(f"-i {init}")
    print(" ".join(flags))
    return 0


def cmd_warehouse(args: argparse.Namespace) -> int:
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


def cmd_airflow(args: argparse.Namespace) -> int:
    from shardline_ops.servers import airflow as airflow_server

    paths = args.paths
    if args.action == "status":
        state = airflow_server.read_state(paths)
        print(f"running: {state['url']} (pid {state['pid']})" if state else "not running")
        return 0 if state else 1
    if args.action == "stop":
        state = airflow_server.stop(paths)
        print(f"stopped Airflow at {state['url']}" if state else "not running")
        return 0
    ensure_samples(paths)  # the DAG's default params point at the sample corpora
    print("shardline: starting Airflow standalone (first start takes a minute)...", file=sys.stderr)
    state = airflow_server.start(paths, airflow_env(paths), port=args.port)
    print(f"Airflow UI: {state['url']}  (user admin, password in {state['password_file']}, mode 0600)")
    print(f"DAGs are paused at first: unpause nightly_retrain in the UI, or trigger it. Logs: {state['log']}. "
          f"Stop with `shardline airflow stop`.")
    return 0


def cmd_spark_cluster(args: argparse.Namespace) -> int:
    from shardline_ops.servers import spark_cluster

    paths = args.paths
    if args.action == "status":
        state = spark_cluster.read_state(paths)
        print(f"running: {state['master']} (UI {state['webui']}, {state['workers']} worker(s))" if state
              else "not running")
        return 0 if state else 1
    if args.action == "stop":
        state = spark_cluster.stop(paths)
        print(f"stopped {state['master']}" if state else "not running")
        return 0
    state = spark_cluster.start(paths, workers=args.workers, cores=args.cores, memory=args.memory)
    print(f"shardline: Spark standalone master {state['master']} with {state['workers']} worker(s) x "
          f"{state['cores_per_worker']} cores; UI {state['webui']}", file=sys.stderr)
    print(state["master"])
    return 0



def add_parsers(sub) -> None:
    wh = sub.add_parser("warehouse", help="start, stop or check the Thrift/JDBC SQL endpoint (read-only)")
    wh.add_argument("action", choices=["start", "stop", "status"])
    wh.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    wh.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    wh.add_argument("--refresh", type=float, default=5.0, help="seconds between partition refreshes")
    wh.add_argument("--detach", action="store_true", help="run in the background; print the JDBC URL")
    add_settings_flags(wh)
    wh.set_defaults(func=cmd_warehouse)

    af = sub.add_parser("airflow", help="start, stop or check Airflow standalone (UI on 127.0.0.1)")
    af.add_argument("action", nargs="?", default="start", choices=["start", "stop", "status"])
    af.add_argument("--port", type=int, default=0, help="API server/UI port (default: a free one)")
    af.set_defaults(func=cmd_airflow)

    cluster = sub.add_parser("spark-cluster", help="start or stop a Spark standalone cluster on 127.0.0.1")
    cluster.add_argument("action", choices=["start", "stop", "status"])
    cluster.add_argument("--workers", type=int, default=1)
    cluster.add_argument("--cores", type=int, default=None, help="cores per worker (default: all / workers)")
    cluster.add_argument("--memory", default="2g", help="memory per worker (default 2g)")
    cluster.set_defaults(func=cmd_spark_cluster)

    sconf = sub.add_parser("spark-conf", help="print --conf flags for spark-sql/spark-submit on this warehouse")
    sconf.set_defaults(func=cmd_spark_conf)
