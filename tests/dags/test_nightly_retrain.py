"""The DAG file parses cleanly, cheaply, and declares what an on-call engineer relies on."""
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

DAG_FILE = REPO / "dags" / "nightly_retrain.py"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "nightly_retrain" in dagbag.dags


def test_schedule_tags_retries_and_params(dagbag):
    dag = dagbag.dags["nightly_retrain"]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert "nightly" in dag.tags
    assert set(dag.params.keys()) >= {"image_corpus", "text_corpus"}
    for t in dag.tasks:
        if t.task_id in ("check_inputs", "validate_image", "validate_text"):  # not worth retrying
            assert t.retries == 0, t.task_id
        else:
            assert t.retries >= 1, t.task_id
        assert t.execution_timeout is not None, t.task_id
    expected = {"check_inputs", "clean_images", "clean_text", "publish_image", "publish_text",
                "validate_image", "validate_text", "train_image", "train_text", "score_image", "score_text"}
    assert {t.task_id for t in dag.tasks} == expected
    assert dag.get_task("score_text").upstream_task_ids == {"train_text"}
    assert dag.get_task("train_image").upstream_task_ids == {"validate_image"}
    assert dag.get_task("publish_image").upstream_task_ids == {"clean_images"}


def test_parsing_imports_no_heavy_libraries():
    code = ("import runpy, sys; runpy.run_path(sys.argv[1]); "
            "print(__import__('json').dumps([m for m in ('tensorflow', 'pyspark', 'petastorm', 'tf_keras')"
            " if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code, str(DAG_FILE)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
