"""The project's small Java classes: the read-only guard (``java/shardline/ReadOnlyGuard.java``), a Spark
SQL extension that refuses any statement that would change data or the catalog, run a program or read a
file by path, for ``shardline query --engine spark`` and the Thrift server; and the Thrift server's password
check (``java/shardline/PasswordAuth.java``).

They are compiled on first use with the JDK's ``javac`` against the pyspark wheel's jars and cached under
``<data>/lib`` by a hash of their sources, so an edit rebuilds them.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from shardline.config import Paths, ShardlineError

SOURCES = sorted((Path(__file__).with_name("java") / "shardline").glob("*.java"))
EXTENSION = "shardline.ReadOnlyGuard"
PASSWORD_AUTH = "shardline.PasswordAuth"
WRITER_PROPERTY = "shardline.warehouse.writer"
# Every read-only session (shardline query --engine spark, the Thrift server, the spark-sql profile): no
# ${env:X}/${system:y} substitution (it would hand a client the server's environment), and no relations read
# by path (Spark would open the file, and answer with its bytes in an error, before the guard ever sees the
# plan: `parquet.`/x`` then names a table that does not exist).
READ_ONLY_CONF = {"spark.sql.variable.substitute": "false", "spark.sql.runSQLOnFiles": "false"}
_LOCK = threading.Lock()


def _javac() -> str:
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "javac" if home else None
    found = str(candidate) if candidate and candidate.exists() else shutil.which("javac")
    if not found:
        raise ShardlineError("javac not found: the read-only guard needs a JDK 17 (apt-get install openjdk-17-jdk-headless)")
    return found


def guard_jar(paths: Paths) -> Path:
    """The compiled classes, built once per version of their sources."""
    import pyspark

    digest = hashlib.sha1(b"".join(src.read_bytes() for src in SOURCES)).hexdigest()[:12]
    jar = paths.home / "lib" / f"shardline-readonly-{digest}.jar"
    with _LOCK:
        if jar.exists():
            return jar
        jars = Path(pyspark.__file__).parent / "jars"
        jar.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=jar.parent) as tmp:
            classes = Path(tmp) / "classes"
            javac = _javac()
            result = subprocess.run([javac, "-nowarn", "-d", str(classes), "-cp", f"{jars}/*", *map(str, SOURCES)],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise ShardlineError(f"could not compile the read-only guard: {result.stderr.strip().splitlines()[0]}")
            built = Path(tmp) / jar.name
            subprocess.run([str(Path(javac).with_name("jar")), "cf", str(built), "-C", str(classes), "."], check=True)
            os.replace(built, jar)
    return jar


@contextmanager
def writer_thread(spark):
    """Let this thread's statements through the guard (catalog upkeep only, never client SQL)."""
    sc = spark.sparkContext
    previous = sc.getLocalProperty(WRITER_PROPERTY)
    sc.setLocalProperty(WRITER_PROPERTY, "true")
    try:
        yield
    finally:
        sc.setLocalProperty(WRITER_PROPERTY, previous)
