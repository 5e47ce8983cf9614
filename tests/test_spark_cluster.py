"""The image cleaning and publishing jobs on a real standalone cluster (Master + Worker processes on
127.0.0.1) give the same outputs as on local[*]: clean rows, quarantine, dataset version, shard bytes.
(Text cleaning runs the same plumbing; it is left out to keep the suite short.)"""
import hashlib
import json
import os
import socket
import subprocess

import pytest

from shardline.sample_corpora import make_image_corpus
from tests.conftest import BIN, REPO
from tests.helpers import cmdlines

pytestmark = pytest.mark.slow  # spark-submit, Airflow, training or servers: `make test`, not `make test-fast`

DT = "2033-01-01"


def submit(master, home, script, *args):
    cmd = [str(BIN / "spark-submit"), "--master", master, str(REPO / "spark_jobs" / script), "--date", DT, *args]
    done = subprocess.run(cmd, env={**os.environ, "SHARDLINE_HOME": str(home)}, capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert done.returncode == 0, f"{script} on {master}: {done.stderr[-3000:]}"


def outputs(home):
    """Everything the jobs wrote for DT, read back from files (clean rows, quarantine, the dataset)."""
    import pyarrow.parquet as pq

    from shardline.config import Paths
    from shardline.warehouse_files import live_files

    def rows(table, part, cols):
        from schemas.warehouse import ALL_TABLES

        table = next(t for t in ALL_TABLES if t.name == table)
        files = [f for spec, f in live_files(Paths(home), table) if "/".join(f"{k}={v}" for k, v in spec) == part]
        return sorted(tuple(r.values()) for f in files for r in pq.read_table(f, columns=cols).to_pylist())

    latest = json.loads((home / "datasets" / "image" / (home / "datasets" / "image" / "candidate").read_text().strip()
                         / "manifest.json").read_text())
    # per split: each shard's rows in file order and its row-group count (file names carry Spark's job id)
    folder = home / "datasets" / "image" / latest["version"]
    shards = {split: sorted((pq.ParquetFile(p).metadata.num_row_groups,
                             hashlib.sha1(repr(pq.read_table(p).to_pylist()).encode()).hexdigest())
                            for p in (folder / split).glob("*.parquet"))
              for split in ("train", "val", "test")}
    return {
        "clean_images": rows("clean_images", f"dt={DT}", ["id", "label", "content_hash", "image"]),
        "quarantine": rows("quarantine", f"stage=clean_images/dt={DT}", ["id", "reason"]),
        "dataset": (latest["version"], latest["counts"], latest["rows"]),
        "shards": shards,
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One cluster for the module. ``unauthenticated()`` starts (once) a driver without the cluster's
    secret: Spark gives up on it only after three 20-second registration attempts, so the first test
    starts it and runs its jobs meanwhile, and the refusal test collects it."""
    home = tmp_path_factory.mktemp("cluster") / "cluster-state"
    env = {**os.environ, "SHARDLINE_HOME": str(home)}
    started = subprocess.run([str(BIN / "shardline"), "spark-cluster", "start", "--cores", "2", "--memory", "2g"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr[-3000:]
    state = json.loads((home / "spark-cluster.json").read_text())
    master = started.stdout.strip().splitlines()[-1]
    script = home.parent / "job.py"
    script.write_text("from pyspark.sql import SparkSession\n"
                      "print(SparkSession.builder.getOrCreate().range(10).count())\n")
    cmd = [str(BIN / "spark-submit"), "--master", master, "--conf", "spark.driver.host=127.0.0.1", str(script)]
    drivers = []

    def unauthenticated():
        if not drivers:
            drivers.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                            cwd=home.parent))
        return drivers[0]

    yield {"master": master, "state": state, "home": home, "cmd": cmd, "unauthenticated": unauthenticated}
    for driver in drivers:
        driver.kill()
        driver.communicate()
    stopped = subprocess.run([str(BIN / "shardline"), "spark-cluster", "stop"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert stopped.returncode == 0
    port = int(state["master"].rsplit(":", 1)[1])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # the master is gone


def test_jobs_on_a_standalone_cluster_match_local(cluster, tmp_path):
    master, state, cluster_home = cluster["master"], cluster["state"], cluster["home"]
    cluster["unauthenticated"]()  # refused meanwhile (the next test)
    assert master.startswith("spark://127.0.0.1:") and state["workers"] == 1
    images = make_image_corpus(tmp_path / "images", per_class=6)
    results = {}
    for name, url in (("cluster", master), ("local", "local[*]")):
        # on the cluster: its own data folder, where the jobs find its secret (the cluster requires it)
        home = cluster_home if name == "cluster" else tmp_path / f"home-{name}"
        submit(url, home, "clean_images.py", "--input", str(images))
        submit(url, home, "publish_dataset.py", "--kind", "image")
        results[name] = outputs(home)
    assert results["cluster"]["clean_images"] and results["cluster"]["quarantine"]
    assert results["cluster"] == results["local"]
    # the cluster really ran executors: the worker's work dir holds the application's folder
    assert any((cluster_home / "spark-cluster" / "worker-0").iterdir())


def test_the_cluster_refuses_a_driver_without_its_secret(cluster):
    """Open door (#19 item 6): any local user could submit code to run as the cluster's owner. A driver
    from another data folder (so without the secret) never gets an application registered."""
    home = cluster["home"]
    secret = home / "spark-cluster.secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert secret.read_text().strip() not in (home / "spark-cluster.json").read_text()
    logs = home / "logs" / "spark-cluster"
    assert not any(secret.read_text().strip() in f.read_text(errors="replace") for f in logs.iterdir())
    driver = cluster["unauthenticated"]()
    _, err = driver.communicate(timeout=300)
    assert driver.returncode != 0 and "All masters are unresponsive" in err
    cmd = cluster["cmd"]
    with_secret = subprocess.run(cmd[:3] + ["--conf", "spark.authenticate=true", "--conf",
                                            f"spark.authenticate.secret={secret.read_text().strip()}"] + cmd[3:],
                                 capture_output=True, text=True, timeout=300, cwd=home.parent)
    assert with_secret.returncode == 0 and with_secret.stdout.strip().endswith("10"), with_secret.stderr[-2000:]


def test_a_query_on_the_cluster_keeps_its_secret_off_every_command_line(cluster):
    """#44 door 1: ``shardline query --engine spark`` on the cluster authenticates with its secret, and the
    secret is on no process's command line (``/proc/*/cmdline`` is readable by every local user) while it runs,
    nor in any log of the data folder."""
    import time

    home = cluster["home"]
    secret = (home / "spark-cluster.secret").read_text().strip()
    env = {**os.environ, "SHARDLINE_HOME": str(home), "SHARDLINE_QUERY_MASTER": cluster["master"]}
    query = subprocess.Popen([str(BIN / "shardline"), "query", "--engine", "spark", "SELECT count(*) AS n FROM range(7)"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen_java, leaked = False, []
    while query.poll() is None:
        for argv in cmdlines():
            seen_java = seen_java or ("java" in argv and "pyspark-shell" in argv)
            if secret in argv:
                leaked.append(argv[:200])
        time.sleep(0.05)
    out, err = query.communicate()
    assert query.returncode == 0 and out.split()[-1] == "7", err[-2000:]
    assert seen_java and leaked == []  # the driver's JVM was seen, without the secret
    logs = [p for p in (home / "logs").rglob("*") if p.is_file()]
    assert logs and not any(secret in p.read_text(errors="replace") for p in logs)
    assert all(p.stat().st_mode & 0o077 == 0 for p in logs), [oct(p.stat().st_mode) for p in logs]


def test_the_master_ui_kill_handler_kills_nothing(cluster, tmp_path):
    """#44 door 10: the master's web UI takes ``POST /app/kill/`` without authentication. Spark 3.5 keeps the
    handler (it answers 302 whatever happens) and acts only when ``spark.ui.killEnabled``: with it off, an
    application asked to die by an anonymous POST runs to its end."""
    import time
    import urllib.request

    secret = (cluster["home"] / "spark-cluster.secret").read_text().strip()
    script = tmp_path / "long.py"
    script.write_text("import time\nfrom pyspark.sql import SparkSession\n"
                      "spark = SparkSession.builder.getOrCreate()\nspark.range(3).count()\n"
                      "time.sleep(12)\nprint('survived', spark.range(5).count())\n")
    cmd = cluster["cmd"]
    driver = subprocess.Popen(cmd[:3] + ["--conf", "spark.authenticate=true", "--conf",
                                         f"spark.authenticate.secret={secret}", str(script)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    webui = cluster["state"]["webui"]
    deadline, apps = time.time() + 120, []
    while not apps and time.time() < deadline and driver.poll() is None:
        with urllib.request.urlopen(f"{webui}/json/", timeout=5) as resp:
            apps = [a["id"] for a in json.loads(resp.read()).get("activeapps", [])]
        time.sleep(0.5)
    assert apps, driver.communicate()[1][-2000:]
    for app in apps:
        req = urllib.request.Request(f"{webui}/app/kill/?id={app}&terminate=true", data=b"", method="POST")
        urllib.request.urlopen(req, timeout=10).read()
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == 0 and "survived 5" in out, err[-2000:]
