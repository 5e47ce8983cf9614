"""``shardline``: the command line of the pipeline.

    shardline run --date 2026-11-23 [--image-corpus DIR] [--text-corpus FILE] [--config FILE] [--image-size N ...]
    shardline config show [--config FILE] [overrides]
    shardline query "SELECT count(*) FROM ml.text_predictions" [--format table|csv|json] [--engine duckdb|spark]
    shardline sample-data [--out DIR]
    shardline datasets list | show VERSION | validate --kind image|text
    shardline models list | show [VERSION] | promote VERSION | rollback   (--kind image|text)
    shardline warehouse start [--port N] [--detach] | stop | status
    shardline airflow [start | stop | status] [--port N]      (Airflow UI + scheduler on 127.0.0.1)
    shardline spark-cluster start [--workers N --cores C --memory 2g] | stop | status
    spark-sql $(shardline spark-conf) -e "SELECT ..."
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from shardline import pipeline_config
from shardline.alerts import RUN_FAILURES
from shardline.config import REPO_ROOT, Paths, ShardlineError, parse_date, require_path, shown
from shardline.storage import file_lock

DAG_FILE = REPO_ROOT / "dags" / "nightly_retrain.py"
DAG_ID = "nightly_retrain"
READ_ONLY = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN)\b", re.IGNORECASE)


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
        # local[*] unless the user points spark_default at a cluster (docs/RUNNING.md).
        "AIRFLOW_CONN_SPARK_DEFAULT": os.environ.get(
            "AIRFLOW_CONN_SPARK_DEFAULT",
            json.dumps({"conn_type": "spark", "host": "local[*]", "extra": {"deploy-mode": "client"}})),
    }


def ensure_airflow_db(paths: Paths, env: dict[str, str]) -> None:
    """Create (migrate) the Airflow database once. Two first runs at once take turns (the second saw a
    half-created ``airflow.db`` and failed); ``.db-ready`` is written only after a migration succeeded."""
    ready = paths.airflow_home / ".db-ready"
    if ready.exists():
        return
    with file_lock(paths.airflow_home / ".db-lock", "the Airflow database"):
        if ready.exists():
            return
        print(f"shardline: creating the Airflow database in {paths.airflow_home}", file=sys.stderr)
        done = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                              env={**os.environ, **env}, capture_output=True, text=True)
        if done.returncode != 0:
            raise ShardlineError(f"airflow db migrate failed: {done.stderr.strip().splitlines()[-1:]}")
        ready.write_text("airflow db migrate done\n")


def cmd_run(args: argparse.Namespace) -> int:
    paths = Paths.from_env()
    dt = parse_date(args.date)
    cfg = resolve_config(args, samples=args.image_corpus is None and args.text_corpus is None)
    if args.image_corpus is None or args.text_corpus is None:
        samples = ensure_samples(paths)
    image_corpus = require_path(args.image_corpus or samples["image_corpus"], "image corpus folder")
    text_corpus = require_path(args.text_corpus or samples["text_corpus"], "text corpus")
    env = airflow_env(paths)
    os.environ.update(env)
    ensure_airflow_db(paths, env)

    import importlib.util

    import pendulum

    spec = importlib.util.spec_from_file_location("shardline_nightly_retrain", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag_object
    cfg_file = pipeline_config.write_resolved(cfg, paths.home / "configs")
    # a name that is not UTF-8 goes as \xNN: the jobs read that form back (spark-submit would turn the byte into U+FFFD)
    conf = {"image_corpus": shown(image_corpus), "text_corpus": shown(text_corpus), "config": shown(cfg_file)}
    y, m, d = (int(x) for x in dt.split("-"))
    logical = pendulum.datetime(y, m, d, tz="UTC")
    # dag.test() deletes the database's run of the same date before it starts: a second `shardline run` of
    # the date would pull the first one's task records from under it (seen: "Task Instance not found").
    # So runs of one date take turns, and a run the scheduler is executing for the date is never replaced.
    with file_lock(paths.airflow_home / "runs" / f"{dt}.lock", f"the nightly run of {dt}"):
        refuse_if_scheduled_run_active(logical, dt)
        failures = paths.airflow_home / "runs" / f"{dt}.failures.jsonl"  # the tasks' alerts (shardline.alerts)
        failures.unlink(missing_ok=True)
        os.environ[RUN_FAILURES] = str(failures)
        print(f"shardline: running DAG {DAG_ID} for {dt} with {conf}", file=sys.stderr)
        dag_run = dag.test(logical_date=logical, run_conf=conf)
        state = str(getattr(dag_run, "state", "unknown"))
        if state != "success":
            failed = [ti.task_id for ti in dag_run.get_task_instances() if str(ti.state) == "failed"]
            said = failed_tasks(failed, failures)
            raise ShardlineError(f"DAG run {dt} ended {state}; failed tasks: {said or 'none recorded'} "
                                 "(each task's output is above)")
        ran = [ti.task_id for ti in dag_run.get_task_instances() if str(ti.state) in ("success", "failed", "skipped",
                                                                                       "upstream_failed")]
        if not ran:  # e.g. a logical date the DAG does not schedule: a silent no-op is not a success
            raise ShardlineError(f"DAG run {dt} ended {state} without running any task (is {dt} before the DAG's "
                                 f"start_date? see SHARDLINE_START_DATE)")
        print(f"shardline: DAG run {dt} succeeded ({len(ran)} tasks)", file=sys.stderr)
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
    from shardline.results import printable

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

    out = Path(args.out) if args.out else Paths.from_env().samples
    for name, path in make_all(out, images_per_class=args.images_per_class,
                               texts_per_class=args.texts_per_class).items():
        print(f"{name}: {path}")
    return 0


def run_query(sql: str, fmt: str, engine: str = "duckdb") -> str:
    """Run one read-only statement with DuckDB (``shardline/duck.py``: in-process, sandboxed) or Spark SQL."""
    from shardline.results import format_rows

    columns, rows = duck_query(sql) if engine == "duckdb" else spark_query(sql)
    return format_rows(columns, rows, fmt)


def duck_query(sql: str):
    from shardline import duck

    return duck.query(Paths.from_env(), sql)


def query_repl(fmt: str) -> int:
    """``shardline query --interactive``: one sandboxed DuckDB connection (the views as of its start;
    ``.refresh`` picks up later runs), readline editing and a history file under the data folder."""
    import readline

    from shardline import duck
    from shardline.results import format_rows

    paths = Paths.from_env()
    history = paths.home / ".query_history"
    try:
        readline.read_history_file(history)
    except OSError:
        pass
    con = duck.connect(paths)
    print("shardline query (DuckDB, read-only): end statements with ';', .tables lists the tables, "
          ".refresh reloads the views, Ctrl-D quits", file=sys.stderr)
    buffer = ""
    try:
        while True:
            try:
                line = input("... " if buffer else "sql> ")
            except EOFError:
                print(file=sys.stderr)
                return 0
            except KeyboardInterrupt:
                buffer = ""
                print(file=sys.stderr)
                continue
            if not buffer and line.strip() in (".tables", ".refresh"):
                if line.strip() == ".refresh":
                    con.close()
                    con = duck.connect(paths)
                line = "SELECT table_name, table_type FROM information_schema.tables ORDER BY 1" \
                    if line.strip() == ".tables" else ""
                if not line:
                    continue
                line += ";"
            buffer += line + "\n"
            if not buffer.rstrip().endswith(";"):
                continue
            sql, buffer = buffer.strip().rstrip(";"), ""
            try:
                duck.check_statement(con, sql)
                rel = con.sql(sql)
                print(format_rows(list(rel.columns), rel.fetchall(), fmt))
            except ShardlineError as exc:
                print(f"error: {exc}", file=sys.stderr)
            except Exception as exc:  # duckdb.Error: one line, the prompt goes on
                print(f"error: query failed: {duck.first_line(exc)}", file=sys.stderr)
    finally:
        con.close()
        history.parent.mkdir(parents=True, exist_ok=True)
        readline.set_history_length(1000)
        readline.write_history_file(history)


def spark_query(sql: str):
    """The quick check below spares a Spark start for obvious writes; the read-only guard inside the
    session (``spark_jobs.common.readonly``) is what enforces it."""
    if not READ_ONLY.match(sql):
        raise ShardlineError("shardline query is read-only: only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN "
                             "statements are allowed")
    from spark_jobs.common.session import build_spark

    os.environ.setdefault("SHARDLINE_SPARK_LOG_LEVEL", "ERROR")
    paths = Paths.from_env()
    paths.logs.mkdir(parents=True, exist_ok=True)
    # The JVM inherits this process's stderr when it starts: hand it the log file instead, so Spark's
    # start-up lines and progress bars never reach the terminal (errors come back through Py4J).
    saved = os.dup(2)
    with open(paths.logs / "shardline-query-spark.log", "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            spark = build_spark("shardline-query", master=os.environ.get("SHARDLINE_QUERY_MASTER", "local[2]"),
                                paths=paths, read_only=True, extra={"spark.ui.showConsoleProgress": "false"})
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    try:
        df = spark.sql(sql)
        return df.columns, [tuple(r) for r in df.collect()]
    except Exception as exc:  # Spark's AnalysisException, the guard's refusal etc.: one line for the user
        err = ShardlineError(f"query failed: {spark_error_line(exc)}")
        err.detail = str(exc)  # shardline query --verbose prints it
        raise err from None
    finally:
        spark.stop()


def spark_error_line(exc: Exception) -> str:
    """The meaningful first line of a Spark/Py4J error (not "An error occurred while calling o42.sql")."""
    java = getattr(exc, "java_exception", None)
    text = str(java.getMessage()) if java is not None else str(exc)
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def cmd_query(args: argparse.Namespace) -> int:
    if args.interactive:
        return query_repl(args.format)
    if not args.sql:
        raise ShardlineError("give a statement, e.g. shardline query \"SELECT * FROM ml.prediction_accuracy\", "
                             "or --interactive")
    try:
        print(run_query(args.sql, args.format, args.engine))
    except ShardlineError as exc:
        if args.verbose and getattr(exc, "detail", None):
            print(exc.detail, file=sys.stderr)
        raise
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from shardline.datasets import KINDS, list_versions, read_manifest, read_validation

    paths = Paths.from_env()
    kinds = [args.kind] if args.kind else list(KINDS)
    if args.action == "list":
        rows = [v for kind in kinds for v in list_versions(paths, kind)]
        if not rows:
            print(f"no published datasets under {paths.datasets}")
            return 0
        print(f"{'kind':<6} {'version':<13} {'dt':<11} {'train':>7} {'val':>6} {'test':>6} {'status':<12} pointers")
        for v in rows:
            pointers = ",".join(p for p in ("latest", "candidate") if v[p])
            print(f"{v['kind']:<6} {v['version']:<13} {v['dt']:<11} {v['rows']['train']:>7} {v['rows']['val']:>6} "
                  f"{v['rows']['test']:>6} {v['status']:<12} {pointers}")
        return 0
    if args.action == "show":
        if not args.version:
            raise ShardlineError("datasets show needs a VERSION (see `shardline datasets list`)")
        matches = [k for k in kinds if (paths.datasets / k / args.version / "manifest.json").exists()]
        if not matches:
            raise ShardlineError(f"no dataset version {args.version!r} under {paths.datasets}")
        kind = matches[0]
        print(json.dumps({"manifest": read_manifest(paths, kind, args.version),
                          "validation": read_validation(paths, kind, args.version)}, indent=2))
        return 0
    from spark_jobs.validate_dataset import gate

    if not args.kind:
        raise ShardlineError("datasets validate needs --kind image|text")
    result = gate(paths, args.kind, args.version)
    print(f"{args.kind} dataset {result['version']} passed validation and is now latest")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from training import registry

    paths = Paths.from_env()
    kinds = [args.kind] if args.kind else list(registry.KINDS)
    if args.action == "list":
        rows = [m for kind in kinds for m in registry.list_models(paths, kind)]
        if not rows:
            print(f"no registered models under {paths.models}")
            return 0
        print(f"{'kind':<6} {'version':<30} {'dataset':<13} {'accuracy':>8} {'macro_f1':>8}  champion")
        for m in rows:
            acc = "-" if m["accuracy"] is None else f"{m['accuracy']:.4f}"
            f1 = "-" if m["macro_f1"] is None else f"{m['macro_f1']:.4f}"
            print(f"{m['kind']:<6} {m['version']:<30} {str(m['dataset_version']):<13} {acc:>8} {f1:>8}  "
                  f"{'*' if m['champion'] else ''}")
        return 0
    if not args.kind:
        raise ShardlineError(f"models {args.action} needs --kind image|text")
    if args.action == "show":
        version = args.version or registry.champion(paths, args.kind)
        if version is None:
            raise ShardlineError(f"no {args.kind} champion yet; name a VERSION")
        meta = registry.read_model(paths, args.kind, version)
        meta["metrics"].pop("history", None)
        meta["champion"] = registry.champion(paths, args.kind) == version
        if args.json:
            print(json.dumps(meta, indent=2))
        else:
            print(describe_model(meta, registry.kind_root(paths, args.kind) / version))
        return 0
    if args.action == "promote":
        if not args.version:
            raise ShardlineError("models promote needs a VERSION (see `shardline models list`)")
        registry.promote(paths, args.kind, args.version, reason="promoted by hand")
        print(f"{args.kind} champion is now {args.version}")
        return 0
    restored = registry.rollback(paths, args.kind)
    print(f"{args.kind} champion rolled back to {restored}")
    return 0


def cmd_spark_conf(args: argparse.Namespace) -> int:
    """Print spark-sql flags that open this project's warehouse read-only: ``spark-sql $(shardline spark-conf)``.

    spark-sql gets a private in-memory catalog, the read-only guard (``spark_jobs/common/readonly.py``) and
    an init file (``-i``) that registers the tables, the partitions live right now, and the views; the
    guard lets exactly that file's statements through, first, and nothing else that writes. Flags hold no
    spaces, so plain word splitting keeps each one whole (a data folder whose path holds a space cannot be
    given this way: run spark-sql from a path without one, or use ``shardline query --engine spark``)."""
    from spark_jobs.common.readonly import EXTENSION, guard_jar
    from spark_jobs.common.session import LOG4J_CONFIG, spark_conf
    from spark_jobs.common.warehouse import catalog_sql

    paths = Paths.from_env()
    init = paths.home / "catalog.sql"
    init.parent.mkdir(parents=True, exist_ok=True)
    init.write_text(";\n".join(" ".join(stmt.split()) for stmt in catalog_sql(paths)) + ";\n")
    keep = ("spark.sql.catalogImplementation", "spark.sql.warehouse.dir", "spark.hadoop.javax.jdo.option.ConnectionURL",
            "spark.hadoop.datanucleus.schema.autoCreateAll", "spark.hadoop.hive.metastore.schema.verification",
            "spark.sql.session.timeZone", "spark.ui.enabled", "spark.driver.bindAddress", "spark.driver.host")
    conf = spark_conf(paths, hive=True)
    jar = guard_jar(paths)
    flags = [f"--conf {k}={conf[k]}" for k in keep]
    flags += [f"--jars {jar}", f"--driver-class-path {jar}", f"--conf spark.sql.extensions={EXTENSION}",
              f"--conf spark.shardline.catalogInit={init}"]
    flags.append(f"--driver-java-options=-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}")
    flags.append(f"-i {init}")
    print(" ".join(flags))
    return 0


def cmd_warehouse(args: argparse.Namespace) -> int:
    import time

    from shardline.servers import thrift as thrift_server

    paths = Paths.from_env()
    state = thrift_server.read_state(paths)
    if args.action == "status":
        print(f"running: {state['url']} (pid {state['pid']})" if state else "not running")
        return 0 if state else 1
    if args.action == "stop":
        if not state:
            print("not running")
            return 0
        thrift_server.stop(paths)
        print(f"stopped (pid {state['pid']})")
        return 0
    if state:
        raise ShardlineError(f"already running: {state['url']} (pid {state['pid']}); `shardline warehouse stop` first")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: binding {args.host}: the endpoint is reachable from other machines, and its password "
              "travels unencrypted (no TLS)", file=sys.stderr)
    cmd = [sys.executable, "-m", "shardline.servers.thrift", "--host", args.host, "--port", str(args.port),
           "--refresh", str(args.refresh)]
    if not args.detach:
        return subprocess.call(cmd, cwd=REPO_ROOT)
    paths.logs.mkdir(parents=True, exist_ok=True)
    log_path = paths.logs / "warehouse-server.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        state = thrift_server.read_state(paths)
        if state and state["pid"] == proc.pid:
            print(state["url"])
            return 0
        if proc.poll() is not None:
            raise ShardlineError(f"the warehouse server exited with {proc.returncode}; see {log_path}")
        time.sleep(0.3)
    proc.terminate()
    raise ShardlineError(f"the warehouse server did not come up in 180 s; see {log_path}")


def cmd_airflow(args: argparse.Namespace) -> int:
    from shardline.servers import airflow as airflow_server

    paths = Paths.from_env()
    if args.action == "status":
        state = airflow_server.read_state(paths)
        print(f"running: {state['url']} (pid {state['pid']})" if state else "not running")
        return 0 if state else 1
    if args.action == "stop":
        state = airflow_server.stop(paths)
        print(f"stopped Airflow at {state['url']}" if state else "not running")
        return 0
    ensure_samples(paths)  # the DAG's default params point at the sample corpora
    print("shardline: starting Airflow standalone (first start takes a minute)...", file=sys.stderr)
    state = airflow_server.start(paths, airflow_env(paths), port=args.port)
    print(f"Airflow UI: {state['url']}  (user admin, password in {state['password_file']}, mode 0600)")
    print(f"DAGs are paused at first: unpause nightly_retrain in the UI, or trigger it. Logs: {state['log']}. "
          f"Stop with `shardline airflow stop`.")
    return 0


def cmd_spark_cluster(args: argparse.Namespace) -> int:
    from shardline.servers import spark_cluster

    paths = Paths.from_env()
    if args.action == "status":
        state = spark_cluster.read_state(paths)
        print(f"running: {state['master']} (UI {state['webui']}, {state['workers']} worker(s))" if state
              else "not running")
        return 0 if state else 1
    if args.action == "stop":
        state = spark_cluster.stop(paths)
        print(f"stopped {state['master']}" if state else "not running")
        return 0
    state = spark_cluster.start(paths, workers=args.workers, cores=args.cores, memory=args.memory)
    print(f"shardline: Spark standalone master {state['master']} with {state['workers']} worker(s) x "
          f"{state['cores_per_worker']} cores; UI {state['webui']}", file=sys.stderr)
    print(state["master"])
    return 0


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="pipeline configuration, TOML (docs/CONFIG.md; default: built-in defaults, or the demo's "
                             "for the bundled samples)")
    for name, (targets, kind, text) in pipeline_config.OVERRIDES.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind,
                            help=f"{text} (overrides {', '.join(targets)})")


def resolve_config(args: argparse.Namespace, samples: bool = False) -> pipeline_config.PipelineConfig:
    """The configuration file (or the defaults; the demo's for the bundled samples) with flag overrides."""
    path = args.config or (pipeline_config.DEMO_CONFIG if samples else None)
    try:
        return pipeline_config.resolve(path, vars(args))
    except ShardlineError as exc:
        raise ShardlineError(str(exc).replace("overrides: ", "a flag: ")) from None


def cmd_config(args: argparse.Namespace) -> int:
    print(resolve_config(args).to_toml(), end="")
    return 0


def describe_model(meta: dict, folder: Path) -> str:
    """``models show``: the version, the decision, the candidate beside its baseline and champion, the
    per-label figures and where the report is."""
    m = meta["metrics"]
    base = m.get("baseline") or {}
    promo = m.get("promotion") or {}
    champ = promo.get("champion_metrics") or {}

    def f(v):
        return "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

    lines = [f"{meta['kind']} model {meta['version']}{'  (champion)' if meta.get('champion') else ''}",
             f"dataset {meta.get('dataset_version')}  date {meta.get('dt')}  saved {meta.get('saved_at')}",
             f"{'promoted' if promo.get('promoted') else 'not promoted'}: {promo.get('reason', '-')}", "",
             f"{'test split':<24} {'model':>8} {'baseline':>9} {'champion':>9}"]
    if meta.get("flavour") == "sklearn":
        lines.insert(1, f"the scikit-learn baseline {meta.get('name')}, registered in place of the refused "
                        f"network {m.get('refused_network', '-')}")
    from shardline.results import printable  # labels come from the corpus
    from training.report import ROWS, mix_summary  # the report's rows, in the same order

    for key, title in ROWS:
        lines.append(f"{title:<24} {f(m.get(key)):>8} {f(base.get(key)):>9} {f(champ.get(key)):>9}")
    lines.append(f"baseline: {base.get('name', '-')}; champion compared: {promo.get('champion') or 'none'}; "
                 f"majority class {f(m.get('majority_baseline_accuracy'))}")
    if m.get("mix"):
        lines.append(f"mix: {mix_summary(m['mix'])}")
    per = m.get("per_class") or {}
    if per:
        lines += ["", f"{'label':<24} {'support':>7} {'precision':>9} {'recall':>7} {'baseline recall':>15}"]
        for label, row in per.items():
            b = (base.get("per_class") or {}).get(label, {}).get("recall")
            lines.append(f"{printable(label)[:24]:<24} {row['support']:>7} {row['precision']:>9.3f} {row['recall']:>7.3f} "
                         f"{'-' if b is None else f'{b:.3f}':>15}")
    if m.get("epoch_seconds"):
        lines.append(f"\ntraining: {len(m['epoch_seconds'])} epochs, {sum(m['epoch_seconds']) / len(m['epoch_seconds']):.1f} "
                     f"s per epoch, {m.get('train_samples_per_second') or 0:.0f} samples/s")
    if m.get("search"):
        lines.append(f"search: {m['search']['n_trials']} trials, best {m['search']['best']['params']} "
                     f"(val accuracy {m['search']['best']['val_accuracy']})")
    report = folder / "report.html"
    lines.append(f"report: {report}" if report.exists() else "report: none (registered before reports)")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shardline", description="Shardline: corpora -> shards -> models -> SQL")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the nightly DAG once for a date (Airflow dag.test)")
    run.add_argument("--date", required=True, help="run date YYYY-MM-DD")
    run.add_argument("--image-corpus", help="image folder ROOT/<label>/<file> (default: sample corpus)")
    run.add_argument("--text-corpus", help="JSONL file or folder (default: sample corpus)")
    add_config_flags(run)
    run.set_defaults(func=cmd_run)

    config = sub.add_parser("config", help="print the resolved pipeline configuration (TOML)")
    config.add_argument("action", choices=["show"])
    add_config_flags(config)
    config.set_defaults(func=cmd_config)

    query = sub.add_parser("query", help="run a read-only SQL query against the warehouse")
    query.add_argument("sql", nargs="?", help="one statement (or --interactive)")
    query.add_argument("--format", choices=["table", "csv", "json"], default="table")
    query.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                       help="duckdb: in-process, sub-second (default); spark: Spark SQL with the read-only guard")
    query.add_argument("--verbose", action="store_true", help="print the engine's whole error message on failure")
    query.add_argument("--interactive", "-i", action="store_true",
                       help="a prompt (DuckDB, the same sandbox): statements end with ';', history kept, Ctrl-D quits")
    query.set_defaults(func=cmd_query)

    datasets = sub.add_parser("datasets", help="list, show or validate published dataset versions")
    datasets.add_argument("action", choices=["list", "show", "validate"])
    datasets.add_argument("version", nargs="?", help="version id (show; validate defaults to the candidate)")
    datasets.add_argument("--kind", choices=["image", "text"])
    datasets.set_defaults(func=cmd_datasets)

    models = sub.add_parser("models", help="list, show, promote or roll back registered models")
    models.add_argument("action", choices=["list", "show", "promote", "rollback"])
    models.add_argument("version", nargs="?", help="model version (show: default champion; promote: required)")
    models.add_argument("--kind", choices=["image", "text"])
    models.add_argument("--json", action="store_true", help="show: model.json and metrics.json as JSON")
    models.set_defaults(func=cmd_models)

    wh = sub.add_parser("warehouse", help="start, stop or check the Thrift/JDBC SQL endpoint (read-only)")
    wh.add_argument("action", choices=["start", "stop", "status"])
    wh.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    wh.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    wh.add_argument("--refresh", type=float, default=5.0, help="seconds between partition refreshes")
    wh.add_argument("--detach", action="store_true", help="run in the background; print the JDBC URL")
    wh.set_defaults(func=cmd_warehouse)

    af = sub.add_parser("airflow", help="start, stop or check Airflow standalone (UI on 127.0.0.1)")
    af.add_argument("action", nargs="?", default="start", choices=["start", "stop", "status"])
    af.add_argument("--port", type=int, default=0, help="API server/UI port (default: a free one)")
    af.set_defaults(func=cmd_airflow)

    cluster = sub.add_parser("spark-cluster", help="start or stop a Spark standalone cluster on 127.0.0.1")
    cluster.add_argument("action", choices=["start", "stop", "status"])
    cluster.add_argument("--workers", type=int, default=1)
    cluster.add_argument("--cores", type=int, default=None, help="cores per worker (default: all / workers)")
    cluster.add_argument("--memory", default="2g", help="memory per worker (default 2g)")
    cluster.set_defaults(func=cmd_spark_cluster)

    sconf = sub.add_parser("spark-conf", help="print --conf flags for spark-sql/spark-submit on this warehouse")
    sconf.set_defaults(func=cmd_spark_conf)

    sample = sub.add_parser("sample-data", help="write the sample image and text corpora")
    sample.add_argument("--out", help="folder (default: <data>/samples)")
    sample.add_argument("--images-per-class", type=int, default=None)
    sample.add_argument("--texts-per-class", type=int, default=150)
    sample.set_defaults(func=cmd_sample_data)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `models promote --kind image V` as well as `models promote V --kind image`: argparse leaves an
    # optional positional that follows an option unparsed.
    if len(extra) == 1 and not extra[0].startswith("-") and getattr(args, "version", "") is None:
        args.version, extra = extra[0], []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.WARNING)
    try:
        return args.func(args)
    except ShardlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
