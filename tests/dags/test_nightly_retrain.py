"""The DAG files parse cleanly, cheaply, and declare what an on-call engineer relies on."""
import json
import os
import subprocess
import sys

import pytest

from shardline import assets
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # spark-submit, Airflow, training or servers: `make test`, not `make test-fast`

DAGS = {"nightly_retrain": REPO / "dags" / "nightly_retrain.py", "prediction_report": REPO / "dags" / "prediction_report.py"}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(DAGS) <= set(dagbag.dags)


def test_schedule_tags_retries_and_params(dagbag):
    dag = dagbag.dags["nightly_retrain"]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 2 * * *", "UTC")
    assert "nightly" in dag.tags
    from shardline.settings import OVERRIDES

    # Airflow's own Params, built from the generated table: every override of `shardline run` is one
    assert set(dag.params.keys()) == {"image_corpus", "text_corpus", "config", *OVERRIDES}
    for t in dag.tasks:
        if t.task_id in ("check_inputs", "validate_image", "validate_text", "night_report"):  # not worth retrying
            assert t.retries == 0, t.task_id
        else:
            assert t.retries >= 1 and t.retry_exponential_backoff, t.task_id
        assert t.execution_timeout is not None, t.task_id
        assert t.on_failure_callback, t.task_id
    expected = {"check_inputs", "clean_images", "clean_text", "publish_image", "publish_text",
                "validate_image", "validate_text", "train_image", "train_text", "score_image", "score_text",
                "night_report"}
    assert {t.task_id for t in dag.tasks} == expected
    # the report runs last, after failures too, and as a teardown never decides the run's state
    report = dag.get_task("night_report")
    assert report.is_teardown and report.upstream_task_ids == {"check_inputs", "score_image", "score_text"}
    assert dag.get_task("score_text").upstream_task_ids == {"train_text"}
    assert dag.get_task("train_image").upstream_task_ids == {"validate_image"}
    assert dag.get_task("publish_image").upstream_task_ids == {"clean_images"}


def test_assets_connect_the_report_dag(dagbag):
    nightly, report = dagbag.dags["nightly_retrain"], dagbag.dags["prediction_report"]
    outlets = {t.task_id: {a.uri for a in t.outlets} for t in nightly.tasks if t.outlets}
    for kind in ("image", "text"):
        assert outlets[f"validate_{kind}"] == {assets.DATASET[kind]}
        assert outlets[f"train_{kind}"] == {assets.MODEL[kind]}
        assert outlets[f"score_{kind}"] == {assets.PREDICTIONS[kind]}
    assert {a.uri for a in report.timetable.asset_condition.objects} == set(assets.PREDICTIONS.values())
    assert "report" in report.tags and all(t.retries >= 1 for t in report.tasks)


def test_schedule_is_configurable():
    code = ("import runpy, sys; d = runpy.run_path(sys.argv[1])['dag_object']; "
            "print(d.timetable.expression, d.catchup)")
    env = {**os.environ, "SHARDLINE_SCHEDULE": "30 4 * * 1-5", "SHARDLINE_CATCHUP": "true"}
    out = subprocess.run([sys.executable, "-c", code, str(DAGS["nightly_retrain"])], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "30 4 * * 1-5 True"


@pytest.mark.parametrize("dag_id", sorted(DAGS))
def test_parsing_imports_no_heavy_libraries(dag_id):
    """No TF/Spark/petastorm import at module level (parse time itself is measured by
    benchmarks/dag_parse.py, not asserted here)."""
    code = ("import json, runpy, sys; runpy.run_path(sys.argv[1]); "
            "print(json.dumps([m for m in ('tensorflow', 'pyspark', 'petastorm', 'tf_keras') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code, str(DAGS[dag_id])], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_check_inputs_stops_a_corpus_without_two_labels(dagbag, tmp_path):
    """#43 fail fast: the DAG's first task runs the label sample; a flat image folder stops the night there, in
    seconds, with the rule (not after minutes of cleaning with "found []")."""
    import time

    from airflow.exceptions import AirflowFailException

    flat = tmp_path / "flat"
    flat.mkdir()
    for k in range(3):
        (flat / f"{k}.png").write_bytes(b"\x89PNG")
    text = tmp_path / "t.jsonl"
    text.write_text("".join(json.dumps({"id": k, "text": "words", "label": "ab"[k % 2]}) + "\n" for k in range(4)))
    check = dagbag.dags["nightly_retrain"].get_task("check_inputs").python_callable
    started = time.monotonic()
    with pytest.raises(AirflowFailException, match="labels come from folder names"):
        check(params={"image_corpus": str(flat), "text_corpus": str(text), "config": None})
    assert time.monotonic() - started < 10
