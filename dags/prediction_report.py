"""Prediction report: runs when both prediction tables have new data (Airflow Assets from nightly_retrain).

Writes ``<data>/reports/predictions-<date>.json`` (accuracy where labels are known, label mix, drift)
from the warehouse's monitoring views. No heavy imports here: the work runs in a subprocess.
"""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Asset, dag, task

from shardline import assets
from shardline_ops.alerts import notify_failure

REPO = Path(__file__).resolve().parents[1]


@dag(
    dag_id="prediction_report",
    schedule=[Asset(uri) for uri in assets.PREDICTIONS.values()],
    start_date=pendulum.datetime(2000, 1, 1, tz="UTC"),  # any date may be reported
    catchup=False,
    max_active_runs=1,
    tags=["shardline", "report"],
    default_args={"owner": "shardline", "retries": 1, "retry_delay": timedelta(seconds=30),
                  "retry_exponential_backoff": True, "execution_timeout": timedelta(minutes=30),
                  "on_failure_callback": notify_failure},
    doc_md=__doc__,
)
def prediction_report():
    @task
    def write_report() -> str:
        proc = subprocess.run([sys.executable, "-m", "spark_jobs.prediction_report"], cwd=REPO,
                              capture_output=True, text=True)
        print(proc.stderr[-5000:])
        if proc.returncode != 0:
            raise RuntimeError(f"prediction report failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
        return proc.stdout.strip().splitlines()[-1]

    write_report()


dag_object = prediction_report()
