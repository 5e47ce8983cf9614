"""What `shardline run` shows while a night runs: a line per task start and end ([i/N], outcome, seconds) and
training's epoch lines; the rest of the output (Airflow's bookkeeping, Spark, TensorFlow, the tasks' own
lines) goes to a private log unless ``--verbose``."""
from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from pathlib import Path

SHOWN = re.compile(r"^train \w+: epoch \d+/\d+: ")  # lines of the run's output that reach the terminal


@contextlib.contextmanager
def quiet_output(log: Path | None):
    """Without ``--verbose`` the run's whole output (Airflow's bookkeeping, Spark's and TensorFlow's lines, every
    task's own) goes to ``log`` (0600) instead of the terminal; the terminal gets the progress lines and, as they
    are written, training's one line per epoch. Yields the terminal's stream."""
    if log is None:
        yield sys.stderr
        return
    import threading

    from shardline.storage import open_private_log

    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[1]), "w", buffering=1, errors="replace")
    done = threading.Event()
    with open_private_log(log) as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)

        def echo() -> None:  # follow the log; pass on the lines people want to see while it runs
            with open(log, errors="replace") as fh:
                while True:
                    line = fh.readline()
                    if line:
                        if SHOWN.match(line):
                            terminal.write(line)
                    elif done.is_set():
                        return
                    else:
                        time.sleep(0.2)

        follower = threading.Thread(target=echo, daemon=True)
        follower.start()
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            done.set()
            follower.join(timeout=5)
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            terminal.close()


@contextlib.contextmanager
def task_progress(total: int, out=None):
    """One line as each task starts and ends, ``[i/N]``, with its outcome and duration. ``dag.test`` runs the
    tasks one by one through ``airflow.sdk.definitions.dag._run_task`` (Airflow 3.3.2, pinned); it is wrapped
    for the run and put back after. If a later Airflow lacks it, the run goes on without these lines."""
    import airflow.sdk.definitions.dag as dag_module

    original = getattr(dag_module, "_run_task", None)
    if original is None:
        yield
        return
    order: dict[str, int] = {}

    def run_task(*, ti, task, **kw):
        number = order.setdefault(ti.task_id, len(order) + 1)
        print(f"shardline: [{number}/{total}] {ti.task_id} started", file=out or sys.stderr, flush=True)
        began = time.time()
        try:
            return original(ti=ti, task=task, **kw)
        finally:
            with contextlib.suppress(Exception):
                ti.refresh_from_db()
            outcome = str(getattr(ti, "state", "") or "ended").rsplit(".", 1)[-1].lower()
            print(f"shardline: [{number}/{total}] {ti.task_id} {outcome} in {time.time() - began:.1f} s",
                  file=out or sys.stderr, flush=True)

    dag_module._run_task = run_task
    try:
        yield
    finally:
        dag_module._run_task = original
