"""`shardline warehouse|airflow|spark-cluster ...` and `spark-conf`: the background servers on 127.0.0.1."""
from __future__ import annotations

import argparse
import sys

from shardline_ops.cli.run import airflow_env, ensure_samples


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
