"""Credentials the project writes are 0600 from the first byte, kept across restarts, narrowed if widened."""
import json
import stat

import pytest

from shardline.config import Paths
from shardline_ops.servers import airflow, thrift


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_airflow_password_file_is_ours_and_private(tmp_path):
    paths = Paths(tmp_path)
    path = airflow.ensure_password_file(paths)
    first = json.loads(path.read_text())
    assert mode(path) == 0o600 and set(first) == {"admin"} and len(first["admin"]) >= 20
    path.chmod(0o644)
    assert airflow.ensure_password_file(paths) == path and mode(path) == 0o600
    assert json.loads(path.read_text()) == first  # kept: Airflow reads it and never prints a new one


def test_thrift_secret_is_private_and_kept(tmp_path):
    paths = Paths(tmp_path)
    path = thrift.ensure_secret(paths)
    secret = path.read_text()
    assert mode(path) == 0o600 and len(secret.strip()) >= 40
    path.chmod(0o640)
    assert thrift.ensure_secret(paths) == path and mode(path) == 0o600 and path.read_text() == secret


@pytest.mark.slow
def test_stop_never_signals_a_reused_pid(tmp_path):
    """A state file whose pid now belongs to another process (reboot, crash) is stale: nothing is signalled."""
    import subprocess
    import sys

    from shardline_ops.servers import processes

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        path = tmp_path / "server.json"
        path.write_text(json.dumps({"pid": other.pid, "identity": {str(other.pid): "another-boot:12345"}}))
        assert processes.read_state(path) is None and not path.exists()
        path.write_text(json.dumps({"pid": other.pid, "identity": {str(other.pid): "another-boot:12345"}}))
        processes.stop_processes(path, 15, group=False, timeout_s=1)
        assert other.poll() is None  # still running: it was never ours
        # #44: no recorded identity proves nothing, so nothing is signalled (fails closed), whole groups neither
        for foreign in ({"pid": other.pid}, {"pids": [other.pid], "identity": {str(other.pid): None}},
                        {"pid": other.pid, "identity": "garbage"}):
            path.write_text(json.dumps(foreign))
            processes.stop_processes(path, 15, group=True, timeout_s=1)
            assert other.poll() is None, foreign
        processes.write_state(path, {"pid": other.pid})  # recorded with its real identity: stop ends it
        assert processes.read_state(path)["pid"] == other.pid
        processes.stop_processes(path, 15, group=False, timeout_s=2)  # (a zombie until reaped below)
        assert other.wait(timeout=10) is not None
    finally:
        other.kill()
