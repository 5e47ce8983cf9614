"""The background servers the CLI starts (Thrift endpoint, Airflow standalone, Spark standalone):
free loopback ports, state files naming their processes, and stopping them."""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def state_pids(state: dict) -> list[int]:
    """A state file names one process (``pid``) or several (``pids``)."""
    return list(state["pids"]) if "pids" in state else [state["pid"]]


def read_state(path: Path) -> dict | None:
    """The state in ``path``, or None when there is none or none of its processes is left (the stale
    file is removed)."""
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if not any(alive(pid) for pid in state_pids(state)):
        path.unlink(missing_ok=True)
        return None
    return state


def stop_processes(path: Path, sig: int, *, group: bool, timeout_s: float) -> dict | None:
    """Stop what ``path`` names: send ``sig`` to each process (or its whole process group), last one
    first, wait up to ``timeout_s``, then SIGKILL whatever is left of the groups; remove the file."""
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    pids = state_pids(state)
    for pid in reversed(pids):
        try:
            os.killpg(pid, sig) if group else os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.time() + timeout_s
    while time.time() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.2)
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    path.unlink(missing_ok=True)
    return state
