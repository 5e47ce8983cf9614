"""The one SparkSession builder: every job, the CLI and the tests get the same warehouse configuration.

Each process keeps its own in-memory catalog and registers the warehouse's tables in it at start
(``spark_jobs.common.warehouse``), so any number of processes can read while a job writes: there is
no metastore to share or lock. Driver bound to loopback, UI off. Under spark-submit the master comes
from the command line; run as plain Python it defaults to ``local[*]``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from shardline.cluster_auth import auth_conf
from shardline.config import Paths


def spark_conf(paths: Paths, hive: bool = False) -> dict[str, str]:
    """Spark settings that make a process see the project's warehouse.

    ``hive=True`` is for ``spark-sql``, whose CLI needs a Hive catalog: it gets a private in-memory
    Derby database per process, never a shared one on disk."""
    conf = {
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.warehouse.dir": str(paths.warehouse),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": os.environ.get("SHARDLINE_SHUFFLE_PARTITIONS", "8"),
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.ui.enabled": os.environ.get("SHARDLINE_SPARK_UI", "false"),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Delta Lake stores timestamps as microseconds since the epoch, UTC (Spark's default is INT96).
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }
    if hive:
        conf.update({
            "spark.sql.catalogImplementation": "hive",
            "spark.hadoop.javax.jdo.option.ConnectionURL": "jdbc:derby:memory:shardline;create=true",
            "spark.hadoop.datanucleus.schema.autoCreateAll": "true",
            "spark.hadoop.hive.metastore.schema.verification": "false",
        })
    return conf


def build_spark(app: str, master: str | None = None, paths: Paths | None = None,
                read_only: bool = False, extra: dict[str, str] | None = None,
                views: bool | None = None) -> SparkSession:
    """A session with the warehouse registered. ``read_only`` loads the guard that refuses writes;
    the monitoring views are registered for read-only sessions unless ``views`` says otherwise."""
    from spark_jobs.common.readonly import EXTENSION, READ_ONLY_CONF, guard_jar, writer_thread
    from spark_jobs.common.warehouse import register_warehouse

    paths = paths or Paths.from_env()
    paths.home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app)
    if master:
        builder = builder.master(master)
    conf = spark_conf(paths)
    conf.update(_cluster_auth(paths, master))
    if read_only:
        jar = str(guard_jar(paths))
        conf.update({"spark.jars": jar, "spark.driver.extraClassPath": jar, "spark.sql.extensions": EXTENSION,
                     **READ_ONLY_CONF})
    conf.update(extra or {})
    # Only honoured when this process starts the JVM itself (not under spark-submit): keeps Spark's
    # INFO chatter out of the user's terminal.
    conf["spark.driver.extraJavaOptions"] = java_options(paths)
    if SECRET_KEY in conf:
        launch_without_secret(conf)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("SHARDLINE_SPARK_LOG_LEVEL", "WARN"))
    with writer_thread(spark):
        register_warehouse(spark, paths, views=read_only if views is None else views, writer=not read_only)
    return spark


SECRET_KEY = "spark.authenticate.secret"


def launch_without_secret(conf: dict[str, str]) -> None:
    """Start this process's JVM with every setting but the cluster's secret. PySpark would pass each setting
    to spark-submit as ``--conf k=v``, on a command line any local user reads in ``/proc``; the secret reaches
    the JVM's SparkConf through Py4J afterwards instead (``builder.config``). Under spark-submit, or once the
    JVM runs, there is nothing to launch."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None or os.environ.get("PYSPARK_GATEWAY_PORT"):  # noqa: SLF001
        return
    launch = SparkConf(loadDefaults=False)
    for key, value in conf.items():
        if key != SECRET_KEY:
            launch.set(key, value)
    SparkContext._ensure_initialized(gateway=launch_gateway(launch))  # noqa: SLF001


def _cluster_auth(paths: Paths, master: str | None) -> dict[str, str]:
    """The shared secret when the master is the standalone cluster this data folder started
    (``shardline spark-cluster``, which requires authentication). Under spark-submit the master is only
    known from the JVM's system properties, read here through the gateway."""
    if master is None:
        from pyspark import SparkConf, SparkContext

        SparkContext._ensure_initialized()
        master = SparkConf().get("spark.master", "")
    if not master.startswith("spark://"):
        return {}
    return auth_conf(paths, master)


LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


def java_options(paths: Paths) -> str:
    """Driver JVM flags; pass them to spark-submit as ``--conf spark.driver.extraJavaOptions=...``."""
    return (f"-Dderby.stream.error.file={_quoted(str(paths.home / 'derby.log'))} "
            f"-Dlog4j2.configurationFile={_quoted(LOG4J_CONFIG.as_uri())}")


def _quoted(value: str) -> str:
    """One argument for Spark's option-string parser: a data folder whose path holds a space would
    otherwise split into two JVM arguments and stop the JVM from starting."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

