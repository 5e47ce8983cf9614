"""Shared fixtures: one SparkSession with a throwaway warehouse for the whole test session.

The data directory and Airflow home point at a temporary folder before anything imports Airflow or
starts Spark, so tests never touch the user's ./data.

Two tiers (docs/TESTING.md): ``make test-fast`` (``SHARDLINE_TEST_TIER=fast``) runs the tests not marked
``slow`` on ``local[1]``, and any of them that starts a subprocess (a spark-submit, Airflow, a training run, a
server) fails at once: such a test belongs to the slow tier. ``make test`` runs both.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="shardline-tests-"))
os.environ["SHARDLINE_HOME"] = str(_TMP / "home")
os.environ["AIRFLOW_HOME"] = str(_TMP / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
logging.getLogger("py4j").setLevel(logging.WARNING)  # its shutdown chatter outlives pytest's streams

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FAST_TIER = os.environ.get("SHARDLINE_TEST_TIER") == "fast"


@pytest.fixture(scope="session")
def spark():
    from shardline.config import Paths
    from spark_jobs.common.session import build_spark

    session = build_spark("shardline-tests", master="local[1]" if FAST_TIER else "local[2]",
                          paths=Paths(Path(os.environ["SHARDLINE_HOME"])), views=True)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def paths():
    from shardline.config import Paths

    return Paths(Path(os.environ["SHARDLINE_HOME"]))


def pytest_configure(config):
    config.addinivalue_line("markers", "fault_injection: kills, SIGKILLs and concurrent writers; they run in "
                                       "`make test-reliability` (and CI), not in `make test`")
    config.addinivalue_line("markers", "slow: starts subprocesses (spark-submit, Airflow, training, servers); "
                                       "`make test` runs it, `make test-fast` does not")


# Libraries ask these for a fact (the code version; the processor name at TensorFlow's import; the system fonts
# when matplotlib first builds its font cache): no work.
_FACT_COMMANDS = ("git", "uname", "fc-list")


def _no_subprocess(popen: type) -> type:
    class NoSubprocess(popen):
        def __init__(self, args, *a, **kw):
            argv = [args] if isinstance(args, (str, bytes)) else list(args)
            if Path(str(argv[0])).name not in _FACT_COMMANDS:
                raise AssertionError(f"the fast tier starts no subprocess (mark the test slow): {args!r}"[:300])
            super().__init__(args, *a, **kw)

    return NoSubprocess


@pytest.fixture(autouse=True)
def _fast_tier_starts_no_subprocess(request, monkeypatch):
    """In the fast tier a test that starts a process fails, so the tier stays fast by construction. The
    session's JVM is started by the ``spark`` fixture before this runs (a session fixture sets up first)."""
    if FAST_TIER and "slow" not in request.keywords:
        import subprocess

        monkeypatch.setattr(subprocess, "Popen", _no_subprocess(subprocess.Popen))


# The longest files first (minutes each on 2 cores, measured with --durations; the Makefile passes
# --no-loadscope-reorder, else xdist starts the files with the most tests first and the end-to-end file,
# a third of the suite's time, started late and set the wall time). A worker whose file holds at most 2
# tests is given the next file at once: in the fault-injection suite the two-runs file is paired with
# the short publish file, not with the training file.
LONGEST_FIRST = ("tests/test_pipeline_e2e.py", "tests/reliability/test_concurrent_runs.py",
                 "tests/training/test_training.py", "tests/test_spark_cluster.py",
                 "tests/spark_jobs/test_publish_dataset.py", "tests/test_warehouse_serving.py")


def pytest_collection_modifyitems(config, items):
    """The longest files first (``LONGEST_FIRST``; the order within a file is kept). Fault-injection tests
    run only with SHARDLINE_SLOW_RELIABILITY=1 (``make test-reliability``, which .ci/run calls after
    ``make test``): they kill whole training and Spark runs, minutes on 2 cores."""
    def rank(item) -> int:
        path = Path(str(item.fspath)).resolve().relative_to(Path(__file__).resolve().parents[1]).as_posix()
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file keeps its own order
    if os.environ.get("SHARDLINE_SLOW_RELIABILITY"):
        return
    skip = pytest.mark.skip(reason="fault injection: make test-reliability (SHARDLINE_SLOW_RELIABILITY=1; CI runs it)")
    for item in items:
        if "fault_injection" in item.keywords:
            item.add_marker(skip)


_NICED = []


# The chains that set the suite's wall time, one per core: they keep their CPU priority.
CRITICAL = ("tests/test_pipeline_e2e.py", "tests/training/test_training.py")


def pytest_runtest_setup(item):
    """Under xdist, a worker whose first file is not in ``CRITICAL`` lowers its CPU priority (and its Spark
    and training subprocesses', which inherit it). The end-to-end file and the training file are each one
    chain of subprocesses that sets the suite's wall time: with three workers on 2 cores the end-to-end
    file ran 2.5 times slower than alone, and once it alone kept its priority, the niced training file
    became the longest (about 1,020 of 1,063 s; its digits test 457 s against 120 alone). The third
    worker fills the cores they leave idle. Nothing a test checks depends on priority."""
    if _NICED or not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    path = Path(str(item.fspath)).resolve().relative_to(REPO).as_posix()
    if path not in CRITICAL:
        os.nice(10)
        _NICED.append(path)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_TMP, ignore_errors=True)
