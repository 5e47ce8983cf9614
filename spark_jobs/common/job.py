"""The skeleton every Spark job shares: flags, one ``JobContext`` (session, paths, settings, date, run id) built
once, accounting, ``ml.job_runs``, one-line errors. A job's body gets the context and returns its counts."""
from __future__ import annotations

import argparse
import datetime as _dt
import logging
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.sql import SparkSession

from shardline.config import Paths, ShardlineError, parse_date
from shardline.settings import Settings
from shardline.warehouse_log import set_commit_info
from spark_jobs.common.session import build_spark
from spark_jobs.common.warehouse import append_job_run

log = logging.getLogger("shardline")


@dataclass(frozen=True)
class JobContext:
    """What a job's body works with, built once per run by ``run_job``: the environment is read there only."""
    job: str
    spark: SparkSession
    paths: Paths
    settings: Settings
    dt: str
    run_id: str


@dataclass(frozen=True)
class Counts:
    records_in: int
    records_out: int
    records_quarantined: int

    def check(self) -> "Counts":
        if self.records_in != self.records_out + self.records_quarantined:
            raise ShardlineError(
                f"accounting broken: in={self.records_in} != out={self.records_out} + "
                f"quarantined={self.records_quarantined}")
        return self


def base_parser(description: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The flags every job takes; ``prog`` names the job in its one-line errors."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--date", required=True, type=_date_arg, help="run date YYYY-MM-DD (the partition written)")
    p.add_argument("--run-id", default=None, help="run id recorded in ml.job_runs (default: manual__<time>)")
    p.add_argument("--master", default=None, help="Spark master when run without spark-submit")
    return p


def _date_arg(value: str) -> str:
    try:
        return parse_date(value)
    except ShardlineError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    for noisy in ("py4j", "pyspark"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_job(job: str, args: argparse.Namespace, body: Callable[[JobContext], Counts],
            validate: Callable[[Paths], None] | None = None) -> int:
    """Validate inputs before Spark starts, build the ``JobContext``, run ``body``, record the run in
    ``ml.job_runs``.

    A ShardlineError (bad path, failed check) prints one line and exits 2; a failed run is still
    logged in ``ml.job_runs`` with status ``failed`` before the error propagates.
    """
    setup_logging()
    run_id = args.run_id or f"manual__{_dt.datetime.now(_dt.timezone.utc):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"
    args.run_id = run_id
    set_commit_info(job=job, run_id=run_id, dt=args.date)  # every Delta commit of this run says who made it
    # a kill (Airflow's timeout, `shardline run` stopped) is recorded; only the main thread may set a handler
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _killed) if main_thread else None
    try:
        return _run(job, args, body, validate, run_id)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run(job: str, args: argparse.Namespace, body: Callable[[JobContext], Counts],
         validate: Callable[[Paths], None] | None, run_id: str) -> int:
    try:
        paths = Paths.from_env()
        if validate:
            validate(paths)
    except ShardlineError as exc:
        print(f"error: {job}: {exc}", file=sys.stderr)
        return 2
    started = _dt.datetime.now(_dt.timezone.utc)
    spark = build_spark(f"shardline-{job}", master=args.master, paths=paths)
    ctx = JobContext(job, spark, paths, getattr(args, "settings", None) or Settings(), args.date, run_id)
    try:
        counts = body(ctx).check()
    except ShardlineError as exc:
        _record_failure(ctx, started)
        print(f"error: {job}: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except Exception:
        _record_failure(ctx, started)
        raise
    append_job_run(spark, dt=ctx.dt, job=job, run_id=run_id, records_in=counts.records_in,
                   records_out=counts.records_out, records_quarantined=counts.records_quarantined,
                   started_at=started, status="success", paths=paths)
    log.info("%s %s done: in=%d out=%d quarantined=%d", job, ctx.dt, counts.records_in,
             counts.records_out, counts.records_quarantined)
    return 0


class Killed(ShardlineError):
    """SIGTERM reached the job: it stops where it is, records the run as failed and exits 143."""
    exit_code = 128 + signal.SIGTERM


def _killed(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Killed("stopped by SIGTERM")


def _record_failure(ctx: JobContext, started: _dt.datetime) -> None:
    try:
        append_job_run(ctx.spark, dt=ctx.dt, job=ctx.job, run_id=ctx.run_id, records_in=0, records_out=0,
                       records_quarantined=0, started_at=started, status="failed", paths=ctx.paths)
    except Exception:  # the original error matters more than the log row
        log.exception("could not record the failed run in ml.job_runs")


def entrypoint(main: Callable[[Sequence[str] | None], int]) -> None:
    sys.exit(main(None))
