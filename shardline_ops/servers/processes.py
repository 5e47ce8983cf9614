"""The background servers the CLI starts (Thrift endpoint, Airflow standalone, Spark standalone):
free loopback ports, state files naming their processes, and stopping them.

A state file records each process's identity (boot id and start time, from ``/proc``) next to its pid,
so after a reboot or a crash a reused pid is never taken for the server: ``stop`` signals only
processes that are still the ones it started. It fails closed: a pid whose identity was not recorded, or
cannot be read now (no ``/proc``), is never signalled (stop the server by hand there)."""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

from shardline.storage import write_json_atomic


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


def identity(pid: int) -> str | None:
    """``<boot id>:<start time in clock ticks>`` of a running process; None where /proc cannot tell."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
        start = stat[stat.rindex(")") + 2:].split()[19]  # field 22, counted after the command name
        return f"{boot}:{start}"
    except (OSError, ValueError, IndexError):
        return None


def write_state(path: Path, state: dict) -> None:
    """Write a server's state file with the identity of each of its processes."""
    write_json_atomic(path, {**state, "identity": {str(pid): identity(pid) for pid in state_pids(state)}})


def ours(pid: int, state: dict) -> bool:
    """``pid`` is running and provably the process the state file recorded: its recorded identity is known and
    equals its identity now. No identity on either side is "not ours" (a hand-written or foreign state file,
    a host without ``/proc``)."""
    if not isinstance(pid, int) or pid <= 1 or not alive(pid):
        return False
    identities = state.get("identity")
    recorded = identities.get(str(pid)) if isinstance(identities, dict) else None
    return recorded is not None and recorded == identity(pid)


def state_pids(state: dict) -> list[int]:
    """A state file names one process (``pid``) or several (``pids``)."""
    return list(state["pids"]) if "pids" in state else [state["pid"]]


def read_state(path: Path) -> dict | None:
    """The state in ``path``, or None when there is none or none of its processes is left (the stale
    file is removed)."""
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if not any(ours(pid, state) for pid in state_pids(state)):
        path.unlink(missing_ok=True)
        return None
    return state


def stop_processes(path: Path, sig: int, *, group: bool, timeout_s: float) -> dict | None:
    """Stop what ``path`` names: send ``sig`` to each process (or its whole process group), last one
    first, wait up to ``timeout_s``, then SIGKILL whatever is left of the groups; remove the file."""
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    pids = [pid for pid in state_pids(state) if ours(pid, state)]  # a reused pid is left alone
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
