"""The DAG's Spark task (shardline_ops/spark_task.py) through a real spark-submit: a job's own refusal (exit 2,
one ``error:`` line) fails the task for good with that line; any other failure stays retryable."""
import json
import os

import pytest

from tests.conftest import BIN

pytestmark = pytest.mark.slow  # spark-submit, Airflow, training or servers: `make test`, not `make test-fast`


@pytest.fixture
def spark_default(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps(
        {"conn_type": "spark", "host": "local[1]", "extra": {"deploy-mode": "client"}}))
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")


def run(tmp_path, name, body):
    from shardline_ops.spark_task import SparkJobOperator

    script = tmp_path / f"{name}.py"
    script.write_text("import sys\n" + body)
    SparkJobOperator(task_id=name, application=str(script), conn_id="spark_default").execute({})


def test_a_refusal_fails_at_once_with_the_jobs_line(spark_default, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException) as caught:
        run(tmp_path, "refuses", "print('working', file=sys.stderr)\n"
                                 "print('error: publish_image: need at least 2 labels, found [0]', file=sys.stderr)\n"
                                 "sys.exit(2)\n")
    assert str(caught.value) == "publish_image: need at least 2 labels, found [0]"


def test_a_crash_is_still_retried(spark_default, tmp_path):
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    with pytest.raises(AirflowException) as caught:
        run(tmp_path, "crashes", "raise MemoryError('out of memory')\n")
    assert not isinstance(caught.value, AirflowFailException)
    assert "Error code is: 1." in str(caught.value)
    run(tmp_path, "works", "print('fine')\n")  # and a job that succeeds is a task that succeeds
