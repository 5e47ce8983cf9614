"""The nightly DAG's Spark tasks: ``SparkSubmitOperator``, except that a job's own refusal fails the task at
once, with the job's one line, instead of being retried.

A Shardline job exits 2 after printing ``error: <job>: <why>`` when its input, configuration or dataset is
wrong (``spark_jobs/common/job.py``: a corpus with one label, a Parquet column of numbers, a missing
folder). Run again, the same input fails the same way, so retrying only delays the alert by the retry
delays. Any other failure (exit 1, a JVM killed for memory) is retried as before.
"""
from __future__ import annotations

from collections.abc import Iterator

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

REFUSED = 2  # run_job's exit status for a ShardlineError


def refusal(message: str, error_lines: list[str]) -> str | None:
    """The line to fail with when the hook's failure ``message`` reports exit status 2, else None."""
    if f"Error code is: {REFUSED}." not in message:
        return None
    return error_lines[-1].removeprefix("error: ") if error_lines else f"the job refused its input (exit {REFUSED})"


class SparkJobOperator(SparkSubmitOperator):
    def execute(self, context):
        if self._hook is None:
            self._hook = self._get_hook()
        hook, error_lines = self._hook, []
        process_log = hook._process_spark_submit_log  # logs each line of spark-submit's output

        def remember(lines: Iterator[str]) -> Iterator[str]:
            for line in lines:
                if line.startswith("error: "):
                    error_lines.append(line.strip())
                yield line

        hook._process_spark_submit_log = lambda itr: process_log(remember(itr))
        try:
            return super().execute(context)
        except AirflowException as exc:
            why = refusal(str(exc), error_lines)
            if why is None:
                raise
            raise AirflowFailException(why) from None
