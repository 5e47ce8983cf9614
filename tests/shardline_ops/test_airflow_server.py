"""``shardline airflow start``: the four Airflow components on loopback, nothing else listening (#44 door 5: the
standalone log servers on 0.0.0.0:8793/8794), no password on a command line or in a log others can read."""
from __future__ import annotations

import json
import os
import subprocess
import urllib.request

import pytest

from tests.conftest import BIN
from tests.helpers import cmdlines, listening

pytestmark = pytest.mark.slow  # starts Airflow


def test_airflow_listens_on_loopback_only_and_keeps_its_password_private(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "SHARDLINE_HOME": str(home), "AIRFLOW_HOME": str(home / "airflow")}
    started = subprocess.run([str(BIN / "shardline"), "airflow", "start"], env=env, capture_output=True, text=True,
                             timeout=400)
    assert started.returncode == 0, started.stderr[-3000:]
    state = json.loads((home / "airflow-standalone.json").read_text())
    try:
        assert set(state["components"]) == {"scheduler", "dag-processor", "triggerer", "api-server"}
        with urllib.request.urlopen(f"{state['url']}/api/v2/monitor/health", timeout=10) as resp:
            assert json.loads(resp.read())["scheduler"]["status"] == "healthy"
        sockets = listening(set(state["pids"]))
        assert (("127.0.0.1", state["port"]) in sockets and all(addr in ("127.0.0.1", "::1") for addr, _ in sockets)
                and not {8793, 8794} & {port for _, port in sockets}), sockets
        password_file = home / "airflow" / "simple_auth_manager_passwords.json.generated"
        password = json.loads(password_file.read_text())["admin"]
        assert password_file.stat().st_mode & 0o077 == 0
        assert not any(password in c for c in cmdlines())
        logs = [p for p in (home / "logs").rglob("*") if p.is_file()]
        assert logs and all(p.stat().st_mode & 0o077 == 0 for p in logs)
        assert not any(password in p.read_text(errors="replace") for p in logs)
    finally:
        stopped = subprocess.run([str(BIN / "shardline"), "airflow", "stop"], env=env, capture_output=True,
                                 text=True, timeout=120)
    assert stopped.returncode == 0 and not (home / "airflow-standalone.json").exists()
    assert listening(set(state["pids"])) == []
