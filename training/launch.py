"""Start N local training workers on loopback with TF_CONFIG, and restart them all if one dies.

    python -m training.launch --workers 2 [--max-restarts 1] -- --kind image --date 2026-11-23

Everything after the launcher's own flags is passed to ``training.train``. Each worker gets a free
127.0.0.1 port; worker 0 is the chief. If any worker exits non-zero (or is killed), the others are
stopped and the whole group is relaunched, up to ``--max-restarts`` times; ``BackupAndRestore`` makes the
relaunch resume from the last completed epoch. Workers never outlive the launcher: Ctrl-C, SIGTERM (an
Airflow timeout) or any error in the launcher stops every worker's process group before it exits. On a
cluster, run ``training.train`` on each host with a TF_CONFIG naming every host instead (docs/TRAINING.md).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

log = logging.getLogger("shardline.launch")


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def stop_workers(procs: list[subprocess.Popen], grace_s: float = 15.0) -> None:
    """SIGTERM every running worker's process group, then SIGKILL what is left after ``grace_s``."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def run_group(n: int, train_args: list[str], module: str = "training.train") -> tuple[int, str]:
    """Run one attempt; returns (exit code, the chief's stdout)."""
    ports = free_ports(n)
    procs = []
    try:
        for i in range(n):
            env = {**os.environ, "TF_CONFIG": tf_config(ports, i)}
            procs.append(subprocess.Popen([sys.executable, "-m", module, *train_args], env=env,
                                          stdout=subprocess.PIPE, text=True, start_new_session=True))
        log.info("started %d workers (pids %s) on ports %s", n, [p.pid for p in procs], ports)
        failed = None
        while failed is None and not _STOP and any(p.poll() is None for p in procs):
            failed = next((p for p in procs if p.poll() not in (None, 0)), None)
            time.sleep(0.5)
        if failed is not None:
            log.warning("worker pid %d exited with %s; stopping the others", failed.pid, failed.returncode)
    finally:  # a failed worker, Ctrl-C, SIGTERM or an error here: no worker is left running
        stop_workers(procs)
    if _STOP:
        raise SystemExit(128 + _STOP[0])
    chief_out = procs[0].stdout.read() if procs[0].stdout else ""
    codes = [p.returncode for p in procs]
    return (0 if all(c == 0 for c in codes) else next(c for c in codes if c != 0) or 1), chief_out


_STOP: list[int] = []


def _request_stop(signum, _frame) -> None:
    """SIGTERM (an Airflow timeout) or Ctrl-C: noted here, acted on by ``run_group``'s loop, which stops the
    workers and exits 128 + the signal. Not an exception raised wherever the signal lands: one raised inside
    ``Popen.poll`` between its lock's acquire and its ``try`` leaves the lock held, and the next ``wait`` on
    that worker blocks forever (seen once in a loaded test run: the launcher outlived SIGINT by 30 s)."""
    _STOP.append(signum)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--max-restarts", type=int, default=1)
    p.add_argument("--module", default="training.train", help=argparse.SUPPRESS)  # what each worker runs (tests)
    args, train_args = p.parse_known_args(argv)
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    train_args = [a for a in train_args if a != "--"]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.workers < 1 or args.max_restarts < 0:
        print(f"error: launch: --workers must be >= 1 and --max-restarts >= 0, got {args.workers}, "
              f"{args.max_restarts}", file=sys.stderr)
        return 2
    for attempt in range(args.max_restarts + 1):
        code, out = run_group(args.workers, train_args, args.module)
        if code == 0:
            print(out.strip().splitlines()[-1] if out.strip() else "")
            return 0
        if code == 2:  # a usage/config error: restarting cannot help
            return code
        if attempt < args.max_restarts:
            log.warning("attempt %d failed (exit %s); relaunching all workers (resume from checkpoint)", attempt + 1, code)
    log.error("training failed after %d attempts", args.max_restarts + 1)
    return 1


if __name__ == "__main__":
    sys.exit(main())
