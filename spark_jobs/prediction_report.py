"""A daily report on the predictions: accuracy where labels are known, label mix and drift, per model.

Reads the monitoring views (``ml.prediction_accuracy``, ``ml.prediction_distribution``,
``ml.prediction_drift``) through a read-only session and writes ``<data>/reports/predictions-<date>.json``.
The ``prediction_report`` DAG runs it whenever both prediction tables have been updated.

    python -m spark_jobs.prediction_report [--date YYYY-MM-DD]   (default: the latest scored date)
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession

from shardline.config import Paths, ShardlineError, parse_date
from shardline.storage import write_json_atomic


def latest_scored_date(spark: SparkSession) -> str | None:
    row = spark.sql("SELECT max(dt) AS dt FROM ml.prediction_distribution").first()
    return row["dt"] if row else None


def summarize(spark: SparkSession, dt: str) -> dict:
    """The report for one date, as plain data."""
    def rows(sql: str) -> list[dict]:
        return [r.asDict() for r in spark.sql(sql).collect()]

    return {
        "dt": dt,
        "runs": rows(f"SELECT kind, run_id, status, rows_in, rows_out, rows_quarantined, model_version, "
                     f"dataset_version, duration_s FROM ml.scoring_runs WHERE dt = '{dt}' ORDER BY finished_at"),
        "accuracy": rows(f"SELECT kind, model_version, n_labeled, n_correct, accuracy FROM ml.prediction_accuracy "
                         f"WHERE dt = '{dt}' ORDER BY kind"),
        "distribution": rows(f"SELECT kind, model_version, predicted_label, n, share FROM ml.prediction_distribution "
                             f"WHERE dt = '{dt}' ORDER BY kind, predicted_label"),
        "drift": rows(f"SELECT kind, prev_dt, psi, max_share_change FROM ml.prediction_drift WHERE dt = '{dt}' "
                      f"ORDER BY kind"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--date", type=parse_date, default=None)
    p.add_argument("--master", default=os.environ.get("SHARDLINE_QUERY_MASTER", "local[2]"))
    try:
        args = p.parse_args(argv)
        from spark_jobs.common.session import build_spark

        paths = Paths.from_env()
        spark = build_spark("shardline-prediction-report", master=args.master, read_only=True)
        try:
            dt = args.date or latest_scored_date(spark)
            if dt is None:
                raise ShardlineError("no predictions yet: nothing to report")
            report = summarize(spark, dt)
        finally:
            spark.stop()
    except ShardlineError as exc:
        print(f"error: prediction_report: {exc}", file=sys.stderr)
        return 2
    out = paths.home / "reports" / f"predictions-{dt}.json"
    write_json_atomic(out, report)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
