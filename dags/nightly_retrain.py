"""Nightly retraining: clean -> publish -> validate -> train -> score, for images and text, by logical date.

Spark jobs run through SparkSubmitOperator on the ``spark_default`` connection (``local[*]`` in the
embedded default; a cluster master works unchanged); a job that refuses its input (exit 2, one ``error:``
line) fails at once with that line, other failures are retried. Training runs as a subprocess so TensorFlow never
loads in the scheduler or DAG processor. The validation gate fails without retries and leaves the
previous dataset version as ``latest``, so a bad night never reaches training or the prediction tables. Every task reads and writes by ``{{ ds }}``, never now().
The schedule is ``SHARDLINE_SCHEDULE`` (cron, default 02:00 UTC); ``SHARDLINE_CATCHUP=true`` turns
catch-up on (from ``SHARDLINE_START_DATE``, default 2000-01-01, so any older date can be run by hand). A task that fails for good raises an alert (``shardline_ops.alerts``). The gate's
dataset, the model registry and the prediction tables are Airflow Assets; ``prediction_report`` runs
when both prediction tables have been updated.
No heavy imports here: this file is parsed often.
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Asset, Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from shardline import assets
from shardline.settings import dag_params
from shardline_ops.alerts import notify_failure
from shardline_ops.spark_task import SparkJobOperator

REPO = Path(__file__).resolve().parents[1]
JOBS = REPO / "spark_jobs"
DATA = Path(os.environ.get("SHARDLINE_HOME") or REPO / "data")
SPARK_CONF = {
    "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={(JOBS / 'common' / 'log4j2.properties').as_uri()}",
}
SCHEDULE = os.environ.get("SHARDLINE_SCHEDULE", "0 2 * * *")
CATCHUP = os.environ.get("SHARDLINE_CATCHUP", "false").lower() in ("1", "true", "yes")
# Far back on purpose: a manual or backfill run of an older snapshot must run (a logical date before
# start_date gives a run marked success with no task run). With catch-up on, set SHARDLINE_START_DATE to
# where the backfill should begin.
START_DATE = pendulum.parse(os.environ.get("SHARDLINE_START_DATE", "2000-01-01"), tz="UTC")
DATASETS = {kind: Asset(uri) for kind, uri in assets.DATASET.items()}
MODELS = {kind: Asset(uri) for kind, uri in assets.MODEL.items()}
PREDICTIONS = {kind: Asset(uri) for kind, uri in assets.PREDICTIONS.items()}


CONFIG_XCOM = "{{ ti.xcom_pull(task_ids='check_inputs')['config'] }}"  # the resolved configuration file


def spark_job(task_id: str, script: str, *args: str, outlets: list | None = None) -> SparkJobOperator:
    """A Spark job's task: retried when it fails, except for the job's own refusal (bad input), which fails
    at once with its line (``shardline_ops/spark_task.py``)."""
    return SparkJobOperator(
        task_id=task_id,
        application=str(JOBS / script),
        conn_id="spark_default",
        name=f"shardline-{task_id}",
        conf=SPARK_CONF,
        application_args=["--date", "{{ ds }}", "--run-id", "{{ run_id }}", "--config", CONFIG_XCOM, *args],
        outlets=outlets or [],
    )


@dag(
    dag_id="nightly_retrain",
    schedule=SCHEDULE,
    start_date=START_DATE,
    catchup=CATCHUP,
    max_active_runs=1,
    tags=["shardline", "nightly", "training"],
    default_args={
        "owner": "shardline",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": notify_failure,
    },
    params={
        "image_corpus": Param(str(DATA / "samples" / "images"), type="string",
                              description="image folder ROOT/<label>/<file>"),
        "text_corpus": Param(str(DATA / "samples" / "text" / "corpus.jsonl"), type="string",
                             description="text corpus: a JSONL, JSON, CSV/TSV, Parquet file or a folder of them, or a folder ROOT/<label>/*.txt"),
        "config": Param("", type="string",
                        description="pipeline configuration file (TOML, docs/CONFIG.md); empty: built-in defaults"),
        # Each overrides fields of the configuration when set (null: the file's value); generated from the
        # settings schema (shardline.settings.OVERRIDES), as `shardline run`'s flags are.
        **{name: Param(None, **kw) for name, kw in dag_params().items()},
    },
    doc_md=__doc__,
)
def nightly_retrain():
    @task(retries=0)
    def check_inputs(params=None) -> dict[str, str]:
        """Fail fast, once, with one line, when a corpus path or the configuration is wrong (no retries for a
        typo); the resolved configuration is written once and every task reads that file."""
        from shardline.config import Paths, ShardlineError
        from shardline.settings import resolve, write_resolved

        resolved = {}
        for key in ("image_corpus", "text_corpus"):
            path = Path(params[key]).expanduser()
            if not path.exists():
                raise AirflowFailException(f"{key} not found: {path}")
            resolved[key] = str(path.resolve())
        try:  # the override params share their names with `shardline run`'s flags (settings.OVERRIDES)
            cfg = resolve(params.get("config") or None, params)
        except ShardlineError as exc:
            raise AirflowFailException(str(exc)) from None
        from shardline.corpus_check import TooFewLabels, check_labels

        try:  # seconds, not minutes of cleaning: a corpus that cannot train a classifier stops here
            check_labels(Path(resolved["image_corpus"]), Path(resolved["text_corpus"]), cfg.text.label_field)
        except TooFewLabels as exc:
            raise AirflowFailException(str(exc)) from None
        resolved["config"] = str(write_resolved(cfg, Paths.from_env().home / "configs"))
        resolved["train_workers"] = str(cfg.train.workers)
        return resolved

    def validate(kind: str):
        @task(task_id=f"validate_{kind}", retries=0, outlets=[DATASETS[kind]])
        def _validate(ti=None) -> str:
            """The quality gate: moves the dataset's `latest` only when every check passes."""
            from shardline.config import Paths
            from shardline.storage import read_pointer

            config = ti.xcom_pull(task_ids="check_inputs")["config"]
            proc = subprocess.run([sys.executable, "-m", "spark_jobs.validate_dataset", "--kind", kind,
                                   "--config", config], cwd=REPO, capture_output=True, text=True)
            print(proc.stderr[-20000:])
            if proc.returncode != 0:  # the gate's one line, without retries: a bad dataset stays bad
                lines = proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"]
                raise AirflowFailException(lines[-1].removeprefix("error: validate_dataset: "))
            root = Paths.from_env().datasets / kind
            return str(root / read_pointer(root / "latest"))

        return _validate()

    def train(kind: str):
        @task(task_id=f"train_{kind}", outlets=[MODELS[kind]])
        def _train(ds=None, ti=None) -> str:
            inputs = ti.xcom_pull(task_ids="check_inputs")
            cmd = [sys.executable, "-m", "training.launch", "--workers", inputs["train_workers"],
                   "--", "--kind", kind, "--date", ds, "--config", inputs["config"]]
            # stream the run's log (one line per epoch with loss, held-out accuracy and ETA) into the task log
            # while it trains, instead of all of it at the end
            import tempfile

            with tempfile.TemporaryFile("w+") as result:  # stdout: the model's folder (a file: no pipe to fill)
                proc = subprocess.Popen(cmd, cwd=REPO, stdout=result, stderr=subprocess.PIPE, text=True,
                                        errors="replace")
                last = ""
                for line in proc.stderr:
                    print(line, end="", flush=True)
                    last = line.strip() or last
                proc.wait()
                result.seek(0)
                stdout = result.read()
            if proc.returncode != 0:
                raise RuntimeError(f"training {kind} failed (exit {proc.returncode}): {last or 'no output'}")
            lines = stdout.strip().splitlines()
            return lines[-1] if lines else ""  # the registered model's folder (a path, not data)

        return _train()

    @task(retries=0)
    def night_report(ds=None) -> str:
        """The nightly report (shardline_ops/night_report.py), written whatever the night's outcome: a teardown,
        so it runs after failures too and never changes the run's state."""
        from shardline.config import Paths
        from shardline_ops.night_report import write

        page = write(Paths.from_env(), ds)
        print(f"nightly report: {page}")
        return str(page)

    checked = check_inputs()
    clean_images = spark_job("clean_images", "clean_images.py", "--input",
                             "{{ ti.xcom_pull(task_ids='check_inputs')['image_corpus'] }}")
    clean_text = spark_job("clean_text", "clean_text.py", "--input",
                           "{{ ti.xcom_pull(task_ids='check_inputs')['text_corpus'] }}")
    report = night_report().as_teardown(setups=checked)
    for kind, clean in (("image", clean_images), ("text", clean_text)):
        publish = spark_job(f"publish_{kind}", "publish_dataset.py", "--kind", kind)
        score = spark_job(f"score_{kind}", "batch_inference.py", "--kind", kind, outlets=[PREDICTIONS[kind]])
        checked >> clean >> publish >> validate(kind) >> train(kind) >> score >> report


dag_object = nightly_retrain()
