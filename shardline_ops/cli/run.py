"""`shardline run`, `config show` and `sample-data`: one night through the DAG, the resolved settings, the sample corpora."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import urllib.parse
from pathlib import Path

from shardline import settings
from shardline.config import REPO_ROOT, Paths, ShardlineError, parse_date, require_path, shown
from shardline.storage import file_lock
from shardline_ops.alerts import RUN_FAILURES
from shardline_ops.run_output import quiet_output, task_progress
from shardline_ops.servers.airflow import ensure_db

DAG_FILE = REPO_ROOT / "dags" / "nightly_retrain.py"
DAG_ID = "nightly_retrain"


def airflow_env(paths: Paths) -> dict[str, str]:
    """Environment for Airflow and the spark-submit processes it starts (embedded, loopback-only default)."""
    venv_bin = str(Path(sys.executable).parent)
    return {
        "SHARDLINE_HOME": str(paths.home),
        "AIRFLOW_HOME": str(paths.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Airflow's default URL is a template over AIRFLOW_HOME that breaks on '%' in the path; this one is
        # percent-encoded (SQLAlchemy decodes it), so any data folder path works.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:///" + urllib.parse.quote(str(paths.airflow_home / "airflow.db")),
        # the other settings whose defaults are templates over AIRFLOW_HOME (with a '%' in the path they stay
        # unexpanded and Airflow writes to a relative '{AIRFLOW_HOME}/logs' in the working directory)
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(paths.airflow_home / "plugins"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(paths.airflow_home / "logs"),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(paths.airflow_home / "logs" / "dag_processor"),
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        # local[*] unless the user points spark_default at a cluster (docs/OPERATIONS.md).
        "AIRFLOW_CONN_SPARK_DEFAULT": os.environ.get(
            "AIRFLOW_CONN_SPARK_DEFAULT",
            json.dumps({"conn_type": "spark", "host": "local[*]", "extra": {"deploy-mode": "client"}})),
    }


def cmd_run(args: argparse.Namespace) -> int:
    paths = args.paths
    dt = parse_date(args.date)
    cfg = resolve_config(args, samples=args.image_corpus is None and args.text_corpus is None)
    if args.image_corpus is None or args.text_corpus is None:
        samples = ensure_samples(paths)
    image_corpus = require_path(args.image_corpus or samples["image_corpus"], "image corpus folder")
    text_corpus = require_path(args.text_corpus or samples["text_corpus"], "text corpus")
    from shardline.warehouse_log import ensure_tables

    ensure_tables(paths)  # a pre-Delta data folder is migrated here, once, before any task writes
    env = airflow_env(paths)
    os.environ.update(env)
    ensure_db(paths, env)

    import importlib.util

    import pendulum

    spec = importlib.util.spec_from_file_location("shardline_nightly_retrain", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag_object
    cfg_file = settings.write_resolved(cfg, paths.home / "configs")
    # a name that is not UTF-8 goes as \xNN: the jobs read that form back (spark-submit would turn the byte into U+FFFD)
    conf = {"image_corpus": shown(image_corpus), "text_corpus": shown(text_corpus), "config": shown(cfg_file)}
    y, m, d = (int(x) for x in dt.split("-"))
    logical = pendulum.datetime(y, m, d, tz="UTC")
    # dag.test() deletes the database's run of the same date before it starts: a second `shardline run` of
    # the date would pull the first one's task records from under it ("Task Instance not found").
    # So runs of one date take turns, and a run the scheduler is executing for the date is never replaced.
    with file_lock(paths.airflow_home / "runs" / f"{dt}.lock", f"the nightly run of {dt}"):
        refuse_if_scheduled_run_active(logical, dt)
        failures = paths.airflow_home / "runs" / f"{dt}.failures.jsonl"  # the tasks' alerts (shardline_ops.alerts)
        failures.unlink(missing_ok=True)
        os.environ[RUN_FAILURES] = str(failures)
        print(f"shardline: running DAG {DAG_ID} for {dt} with {conf}", file=sys.stderr)
        started = time.time()
        log = None if args.verbose else paths.logs / f"run-{dt}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.log"
        with quiet_output(log) as terminal, task_progress(len(dag.tasks), terminal):
            dag_run = dag.test(logical_date=logical, run_conf=conf)
        state = str(getattr(dag_run, "state", "unknown"))
        if state != "success":
            failed = [ti.task_id for ti in dag_run.get_task_instances() if str(ti.state) == "failed"]
            said = failed_tasks(failed, failures)
            where = f"each task's output: {log}" if log else "each task's output is above"
            raise ShardlineError(f"DAG run {dt} ended {state}; failed tasks: {said or 'none recorded'} ({where})")
        ran = [ti.task_id for ti in dag_run.get_task_instances() if str(ti.state) in ("success", "failed", "skipped",
                                                                                       "upstream_failed")]
        if not ran:  # e.g. a logical date the DAG does not schedule: a silent no-op is not a success
            raise ShardlineError(f"DAG run {dt} ended {state} without running any task (is {dt} before the DAG's "
                                 f"start_date? see SHARDLINE_START_DATE)")
        print(f"shardline: DAG run {dt} succeeded ({len(ran)} tasks in {time.time() - started:.0f} s)"
              + (f"; the whole output: {log}" if log else ""), file=sys.stderr)
    return 0


def failed_tasks(failed: list[str], alerts: Path) -> str:
    """``task (its error), ...`` from the alerts the run's tasks wrote (the last one per task)."""
    errors: dict[str, str] = {}
    try:
        for line in alerts.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError, AttributeError):
                fields = json.loads(line)
                errors[fields["task_id"]] = str(fields.get("error") or "")
    except OSError:
        pass
    from shardline_ops.results import printable

    return ", ".join(f"{t} ({printable(errors[t])[:300]})" if errors.get(t) else t for t in failed)


def refuse_if_scheduled_run_active(logical, dt: str) -> None:
    """One clear line when the scheduler (a scheduled run or a backfill) is running this date now."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        active = session.execute(select(DagRun.run_id, DagRun.state).where(
            DagRun.dag_id == DAG_ID, DagRun.logical_date == logical,
            DagRun.state.in_(("queued", "running")), DagRun.run_type.in_(("scheduled", "backfill")))).all()
    if active:
        run_id, state = active[0]
        raise ShardlineError(f"the scheduler is running {DAG_ID} for {dt} now ({run_id}, {state}); a manual run "
                             "would replace it: wait for it to finish, or clear its tasks in Airflow to rerun")


def ensure_samples(paths: Paths) -> dict[str, Path]:
    from shardline.sample_corpora import make_all

    images, text = paths.samples / "images", paths.samples / "text" / "corpus.jsonl"
    with file_lock(paths.home / ".samples-lock", "the sample corpora"):  # two first runs at once take turns
        if images.exists() and text.exists():
            return {"image_corpus": images, "text_corpus": text}
        print(f"shardline: writing sample corpora to {paths.samples}", file=sys.stderr)
        return make_all(paths.samples)


def cmd_sample_data(args: argparse.Namespace) -> int:
    from shardline.sample_corpora import make_all

    out = Path(args.out) if args.out else args.paths.samples
    for name, path in make_all(out, images_per_class=args.images_per_class,
                               texts_per_class=args.texts_per_class).items():
        print(f"{name}: {path}")
    return 0


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` and ``--set section.key=value``."""
    parser.add_argument("--config", metavar="FILE",
                        help="pipeline configuration, TOML (docs/CONFIG.md; default: built-in defaults, or the demo's "
                             "for the bundled samples)")
    parser.add_argument("--set", dest="set_items", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one setting (repeatable), e.g. --set images.resize=crop")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    add_settings_flags(parser)
    settings.add_override_flags(parser)


def resolve_config(args: argparse.Namespace, samples: bool = False) -> settings.Settings:
    """The configuration file (or the defaults; the demo's for the bundled samples) with ``--set`` items, then
    the single-field override flags."""
    path = args.config or (settings.DEMO_CONFIG if samples else None)
    try:
        return settings.resolve(path, vars(args), args.set_items)
    except ShardlineError as exc:
        raise ShardlineError(str(exc).replace("overrides: ", "a flag: ")) from None


def cmd_config(args: argparse.Namespace) -> int:
    print(resolve_config(args).to_toml(), end="")
    return 0



def add_parsers(sub) -> None:
    run = sub.add_parser("run", help="run the nightly DAG once for a date (Airflow dag.test)")
    run.add_argument("--date", required=True, help="run date YYYY-MM-DD")
    run.add_argument("--image-corpus", help="image folder ROOT/<label>/<file> (default: sample corpus)")
    run.add_argument("--text-corpus", help="JSONL file or folder (default: sample corpus)")
    run.add_argument("--verbose", action="store_true",
                     help="print the whole output (Airflow, Spark, TensorFlow, every task) instead of writing it to a "
                          "log under <data>/logs and printing progress")
    add_config_flags(run)
    run.set_defaults(func=cmd_run)

    config = sub.add_parser("config", help="print the resolved pipeline configuration (TOML)")
    config.add_argument("action", choices=["show"])
    add_config_flags(config)
    config.set_defaults(func=cmd_config)

    sample = sub.add_parser("sample-data", help="write the sample image and text corpora")
    sample.add_argument("--out", help="folder (default: <data>/samples)")
    sample.add_argument("--images-per-class", type=int, default=None)
    sample.add_argument("--texts-per-class", type=int, default=150)
    sample.set_defaults(func=cmd_sample_data)
