"""Training workers never outlive their launcher (issue #19 item 7): SIGTERM (an Airflow timeout) or
Ctrl-C to the launcher stops every worker, although each runs in its own session."""
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # spark-submit, Airflow, training or servers: `make test`, not `make test-fast`


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_workers_stop_with_the_launcher(tmp_path, sig):
    launcher = subprocess.Popen([sys.executable, "-m", "training.launch", "--workers", "2", "--module",
                                 "tests.reliability.sleeper", "--", str(tmp_path)], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while len(list(tmp_path.glob("worker-*"))) < 2:
        assert time.time() < deadline and launcher.poll() is None, launcher.stderr.read()[-2000:]
        time.sleep(0.2)
    pids = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
    assert all(running(pid) for pid in pids)
    launcher.send_signal(sig)
    assert launcher.wait(timeout=30) != 0
    deadline = time.time() + 20
    while any(running(pid) for pid in pids) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(running(pid) for pid in pids), "a worker outlived its launcher"
