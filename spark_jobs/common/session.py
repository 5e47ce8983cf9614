"""The one SparkSession builder: every job, the CLI and the tests get the same warehouse configuration.

Embedded default: Hive catalog in an embedded Derby metastore under the data directory, warehouse folder
beside it, driver bound to loopback, UI off. Under spark-submit the master comes from the command line;
run as plain Python it defaults to ``local[*]``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from spark_jobs.common.config import Paths


def spark_conf(paths: Paths) -> dict[str, str]:
    """Spark settings that make a process see the project's warehouse (also used for spark-sql/Thrift)."""
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(paths.warehouse),
        "spark.hadoop.javax.jdo.option.ConnectionURL":
            f"jdbc:derby:;databaseName={paths.metastore};create=true",
        "spark.hadoop.datanucleus.schema.autoCreateAll": "true",
        "spark.hadoop.hive.metastore.schema.verification": "false",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": os.environ.get("SHARDLINE_SHUFFLE_PARTITIONS", "8"),
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.ui.enabled": os.environ.get("SHARDLINE_SPARK_UI", "false"),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }


def build_spark(app: str, master: str | None = None, paths: Paths | None = None) -> SparkSession:
    paths = paths or Paths.from_env()
    paths.home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app)
    if master:
        builder = builder.master(master)
    for key, value in spark_conf(paths).items():
        builder = builder.config(key, value)
    # Only honoured when this process starts the JVM itself (not under spark-submit): keeps derby.log
    # and Spark's INFO chatter out of the user's working directory and terminal.
    builder = builder.config("spark.driver.extraJavaOptions", java_options(paths))
    spark = builder.enableHiveSupport().getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("SHARDLINE_SPARK_LOG_LEVEL", "WARN"))
    # Derby reads this when the metastore first boots, which is lazy: set it now so derby.log lands in
    # the data directory whichever way the JVM was started.
    spark.sparkContext._jvm.java.lang.System.setProperty(  # noqa: SLF001
        "derby.stream.error.file", str(paths.home / "derby.log"))
    return spark


LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


def java_options(paths: Paths) -> str:
    """Driver JVM flags; pass them to spark-submit as ``--conf spark.driver.extraJavaOptions=...``."""
    return f"-Dderby.stream.error.file={paths.home / 'derby.log'} -Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}"
