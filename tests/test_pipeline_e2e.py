"""The whole nightly pipeline through Airflow's real dag.test(), on tiny sample corpora made hostile
(``tests/hostile_corpus.py``), for a date a year back, from a data folder and corpus root whose paths
hold spaces, non-ASCII and shell/glob characters.

Expectations come from the sample generator's own inputs (files written, records planted), not from
the pipeline's output.
"""
import datetime
import hashlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from shardline.sample_corpora import (
    PLANTED_IMAGE_REJECTS,
    PLANTED_TEXT_REJECTS,
    make_image_corpus,
    make_text_corpus,
)
from shardline.settings import DEMO_CONFIG
from tests.conftest import BIN
from tests.hostile_corpus import AWKWARD, RENAMED_LABEL, add_hostile_images, hostile_text_folder, unlock

pytestmark = pytest.mark.slow  # spark-submit, Airflow, training or servers: `make test`, not `make test-fast`

_TODAY = datetime.date.today()
DT = (_TODAY - datetime.timedelta(days=365)).isoformat()  # any date runs, not only those after a start_date
D1, D2 = ((_TODAY - datetime.timedelta(days=365 + k)).isoformat() for k in (1, 2))  # the Airflow suite's
IMAGES_PER_CLASS, TEXTS_PER_CLASS = 12, 20


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e-home") / "data folder ü '%;"
    corpora = tmp_path_factory.mktemp("e2e-corpora") / f"corpora{AWKWARD}"
    images = make_image_corpus(corpora / "images", per_class=IMAGES_PER_CLASS)
    image_reasons, kept_extra = add_hostile_images(images)
    text, text_reasons = hostile_text_folder(corpora / "text ü 'x'",
                                             make_text_corpus(corpora / "corpus.jsonl", per_class=TEXTS_PER_CLASS))
    env = {**os.environ, "SHARDLINE_HOME": str(home)}

    def run():
        cmd = [str(BIN / "shardline"), "run", "--date", DT, "--image-corpus", str(images),
               "--text-corpus", str(text), "--epochs", "1", "--config", str(DEMO_CONFIG),
               "--baseline-policy", "warn"]  # the digits; one epoch does not beat the baseline: plumbing only
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
        return done

    def query(sql, engine="duckdb"):
        done = subprocess.run([str(BIN / "shardline"), "query", sql, "--format", "json", "--engine", engine], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    yield {"run": run, "query": query, "home": home, "images": images, "text": text, "env": env,
           "corpora": corpora, "image_reasons": image_reasons, "kept_extra": kept_extra,
           "text_reasons": text_reasons}
    unlock(images)


def snapshot(query):
    return {
        "image": query(f"SELECT count(*) n, count(DISTINCT id) d FROM ml.image_predictions WHERE dt='{DT}'")[0],
        "text": query(f"SELECT count(*) n, count(DISTINCT id) d FROM ml.text_predictions WHERE dt='{DT}'")[0],
        "quarantine": sorted((r["stage"], r["reason"], r["id"]) for r in
                             query(f"SELECT stage, reason, id FROM ml.quarantine WHERE dt='{DT}'")),
    }


def planted_rel(rel: str) -> str:
    return f"{RENAMED_LABEL}{AWKWARD}/" + rel[2:] if rel.startswith(RENAMED_LABEL + "/") else rel


def test_nightly_dag_end_to_end(pipeline):
    done = pipeline["run"]()
    # progress: one line as each task starts and ends, [i/N], and the total at the end
    import re

    ended = re.findall(r"shardline: \[(\d+)/(\d+)\] (\S+) success in [\d.]+ s", done.stderr)
    assert len(ended) == int(ended[0][1]) == 12 and ended[-1][2] == "night_report", ended
    assert re.search(r"shardline: DAG run \S+ succeeded \(12 tasks in \d+ s\); the whole output: ", done.stderr)
    assert len(done.stderr.splitlines()) < 60 and "[DAG TEST]" not in done.stderr  # Airflow's lines: in the log
    # training printed one line per epoch while it ran (the demo config: 1 epoch here)
    assert re.search(r"train image: epoch 1/1: loss [\d.]+", done.stdout + done.stderr)
    first = snapshot(pipeline["query"])

    expected_image_q = {("clean_images", reason, "img-" + hashlib.sha1(planted_rel(rel).encode()).hexdigest()[:16])
                        for reason, rel in PLANTED_IMAGE_REJECTS.items()}
    assert expected_image_q <= set(first["quarantine"])
    image_q = [q for q in first["quarantine"] if q[0] == "clean_images"]
    want = Counter(PLANTED_IMAGE_REJECTS.keys()) + Counter(pipeline["image_reasons"])
    # Distinct 8x8 digits can also sit within the demo's pHash threshold (3 bits): a few may go too,
    # only ever as near_duplicate.
    got = Counter(reason for _, reason, _ in image_q)
    natural = got["near_duplicate"] - want["near_duplicate"]
    assert 0 <= natural <= 3 and got == want + Counter({"near_duplicate": natural}), (got, want)

    n_images = IMAGES_PER_CLASS * 10 + pipeline["kept_extra"] - natural  # digits 0-9, two of them hidden names
    n_texts = TEXTS_PER_CLASS * 4  # four topics
    assert first["image"] == {"n": n_images, "d": n_images}
    assert first["text"] == {"n": n_texts, "d": n_texts}

    text_q = [(reason, qid) for stage, reason, qid in first["quarantine"] if stage == "clean_text"]
    assert Counter(r for r, _ in text_q) == Counter(PLANTED_TEXT_REJECTS.keys()) + Counter(pipeline["text_reasons"])
    for reason, qid in PLANTED_TEXT_REJECTS.items():
        if qid is not None:
            assert (reason, qid) in text_q
    assert len(first["quarantine"]) == len(image_q) + len(text_q)

    runs = pipeline["query"](f"SELECT job, records_in, records_out, records_quarantined, status "
                             f"FROM ml.job_runs WHERE dt='{DT}'")
    by_job = {r["job"]: r for r in runs}
    assert by_job["clean_images"]["records_in"] == (IMAGES_PER_CLASS * 10 + len(PLANTED_IMAGE_REJECTS)
                                                    + pipeline["kept_extra"] + sum(pipeline["image_reasons"].values()))
    # every hostile line is one record (the reused id costs the original its place, so no extra kept row)
    assert by_job["clean_text"]["records_in"] == n_texts + len(PLANTED_TEXT_REJECTS) + sum(pipeline["text_reasons"].values())
    for r in runs:
        assert r["status"] == "success"
        assert r["records_in"] == r["records_out"] + r["records_quarantined"], r

    # awkward names end to end: the renamed label is trained on and predicted; sources are relative
    renamed = f"{RENAMED_LABEL}{AWKWARD}"
    home = pipeline["home"]
    champion = (home / "models" / "image" / "champion").read_text().strip()
    assert renamed in json.loads((home / "models" / "image" / champion / "labels.json").read_text())
    quoted = renamed.replace("'", "''")
    in_label = pipeline["query"](f"SELECT count(*) AS n FROM ml.clean_images WHERE dt='{DT}' AND label = '{quoted}'")
    assert in_label[0]["n"] >= IMAGES_PER_CLASS - natural  # the folder's digits (natural near duplicates aside)
    sources = pipeline["query"](f"SELECT source FROM ml.clean_images WHERE dt='{DT}' AND source LIKE '3/three%'")
    assert sources == [{"source": f"3/three{AWKWARD}.png"}]
    text_sources = pipeline["query"](f"SELECT DISTINCT source FROM ml.clean_text WHERE dt='{DT}' ORDER BY source")
    assert text_sources == [{"source": "_more.jsonl"}, {"source": "corpus.jsonl"}]

    # the model was evaluated on exactly the published test split
    home = pipeline["home"]
    version = (home / "models" / "image" / "champion").read_text().strip()
    metrics = json.loads((home / "models" / "image" / version / "metrics.json").read_text())
    dataset = (home / "datasets" / "image" / "latest").read_text().strip()
    manifest = json.loads((home / "datasets" / "image" / dataset / "manifest.json").read_text())
    assert metrics["n_test"] == manifest["rows"]["test"] > 0

    # scoring recorded its runs and lineage; the monitoring view joins predictions to known labels
    scoring = pipeline["query"](f"SELECT kind, status, rows_in, rows_out, model_version FROM ml.scoring_runs "
                                f"WHERE dt='{DT}' ORDER BY kind")
    assert [(r["kind"], r["status"], r["rows_in"], r["rows_out"]) for r in scoring] == [
        ("image", "success", n_images, n_images), ("text", "success", n_texts, n_texts)]
    assert scoring[0]["model_version"] == version
    lineage = pipeline["query"](f"SELECT min(size(top_k)) k, count(DISTINCT model_version) m, "
                                f"min(dataset_version) d FROM ml.image_predictions WHERE dt='{DT}'", engine="spark")[0]
    assert lineage == {"k": 3, "m": 1, "d": f"ml.clean_images@{DT}"}
    accuracy = pipeline["query"](f"SELECT kind, split, n_labeled, accuracy FROM ml.prediction_accuracy WHERE dt='{DT}'")
    assert {k: sum(r["n_labeled"] for r in accuracy if r["kind"] == k) for k in ("image", "text")} == {
        "image": n_images, "text": n_texts}
    # held-out truth: the view's test split is the model's own test set, with the accuracy training recorded
    for kind in ("image", "text"):
        champ = (home / "models" / kind / "champion").read_text().strip()
        recorded = json.loads((home / "models" / kind / champ / "metrics.json").read_text())
        ds = (home / "datasets" / kind / "latest").read_text().strip()
        test_rows = json.loads((home / "datasets" / kind / ds / "manifest.json").read_text())["rows"]["test"]
        test = next(r for r in accuracy if (r["kind"], r["split"]) == (kind, "test"))
        assert test["n_labeled"] == test_rows and abs(test["accuracy"] - recorded["accuracy"]) < 1e-9, (kind, test)
        assert {r["split"] for r in accuracy if r["kind"] == kind} <= {"train", "val", "test", "unseen"}

    # DuckDB (the CLI's default) and Spark SQL answer every view and table alike on the same warehouse
    every_view = """
        SELECT 'accuracy' AS v, kind AS a, dt AS b, model_version AS c, CAST(n_labeled AS DOUBLE) AS x,
               CAST(n_correct AS DOUBLE) AS y, accuracy AS z FROM ml.prediction_accuracy
        UNION ALL SELECT 'distribution', kind, dt, predicted_label, CAST(n AS DOUBLE), share, CAST(NULL AS DOUBLE)
                  FROM ml.prediction_distribution
        UNION ALL SELECT 'drift', kind, dt, prev_dt, psi, max_share_change, CAST(NULL AS DOUBLE) FROM ml.prediction_drift
        UNION ALL SELECT 'quarantine', stage, reason, dt, CAST(count(*) AS DOUBLE), CAST(NULL AS DOUBLE),
                  CAST(NULL AS DOUBLE) FROM ml.quarantine GROUP BY stage, reason, dt
        UNION ALL SELECT 'predictions', dt, predicted_label, model_version, CAST(count(*) AS DOUBLE), sum(score),
                  CAST(NULL AS DOUBLE) FROM ml.text_predictions GROUP BY dt, predicted_label, model_version
        UNION ALL SELECT 'job_runs', job, dt, status, CAST(sum(records_in) AS DOUBLE), CAST(count(*) AS DOUBLE),
                  CAST(NULL AS DOUBLE) FROM ml.job_runs GROUP BY job, dt, status"""

    def canonical(rows):
        return sorted(tuple(round(v, 9) if isinstance(v, float) else v for v in r.values()) for r in rows)

    duck_rows = canonical(pipeline["query"](every_view))
    assert duck_rows == canonical(pipeline["query"](every_view, engine="spark"))
    assert {r[0] for r in duck_rows} >= {"accuracy", "distribution", "quarantine", "predictions", "job_runs"}

    # every table is a Delta table, and delta-rs's own engine (not Shardline's views) agrees on every count
    from deltalake import DeltaTable, QueryBuilder

    from schemas.warehouse import ALL_TABLES
    from shardline.config import Paths
    from shardline.warehouse_files import is_delta, table_root

    for table in ALL_TABLES:
        root = table_root(Paths(home), table)
        assert is_delta(root), table.name
        keys = [c for c in ("stage", "dt") if c in table.schema.fieldNames()]
        theirs = QueryBuilder().register("t", DeltaTable(str(root))).execute(
            f"SELECT {', '.join(keys)}, count(*) AS n FROM t GROUP BY {', '.join(keys)}").read_all()
        theirs = sorted(zip(*(theirs.column(c).to_pylist() for c in [*keys, "n"])))
        ours = sorted(tuple(r.values()) for r in pipeline["query"](
            f"SELECT {', '.join(keys)}, count(*) AS n FROM {table.qualified} GROUP BY {', '.join(keys)}"))
        assert theirs == ours and ours, table.name

    # the night's report, written by the DAG's last task: every section, the held-out figure from the test split
    from shardline_ops.night_report import SECTIONS

    page = (home / "reports" / "night" / f"dt={DT}" / "index.html").read_text()
    assert all(f"<section id={s}>" in page for s in SECTIONS) and page.count("<svg") >= 3
    assert "every job succeeded" in page

    # a rerun of the date (through Airflow's REST API) is checked in test_airflow_standalone_rest_trigger_and_backfill


def test_failed_gate_alerts_and_keeps_dataset_model_and_predictions(pipeline):
    """A night whose data fails validation: both gates fail with one line, an alert goes out through
    the ``shardline_alerts`` connection, and yesterday's dataset, champion and predictions stay."""
    home, corpora = pipeline["home"], pipeline["corpora"]
    if not (home / "datasets" / "image" / "latest").exists():
        pipeline["run"]()
    pointers = ["datasets/image/latest", "datasets/text/latest", "models/image/champion", "models/text/champion"]
    before = {p: (home / p).read_text() for p in pointers}
    everything = "SELECT dt, run_id, count(*) n FROM ml.{}_predictions GROUP BY dt, run_id ORDER BY dt"
    predictions = {k: pipeline["query"](everything.format(k)) for k in ("image", "text")}

    images = make_image_corpus(corpora / "tiny-images", per_class=2)  # too few per label for the gate
    text = make_text_corpus(corpora / "tiny.jsonl", per_class=2)
    alerts = corpora / "alerts.jsonl"
    env = {**pipeline["env"],
           "AIRFLOW_CONN_SHARDLINE_ALERTS": json.dumps({"conn_type": "fs", "extra": {"path": str(alerts)}})}
    done = subprocess.run([str(BIN / "shardline"), "run", "--date", "2026-11-21", "--image-corpus", str(images),
                           "--text-corpus", str(text), "--epochs", "1", "--config", str(DEMO_CONFIG),
                           "--baseline-policy", "warn"], env=env, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: DAG run 2026-11-21 ended failed; failed tasks:"), last
    assert "validate_image (AirflowFailException: " in last and "validate_text (AirflowFailException: " in last
    assert "(each task's output: " in last and Path(last.rsplit(": ", 1)[1].rstrip(")")).is_file()
    assert len(done.stderr.splitlines()) < 60  # progress, not Airflow's bookkeeping (that is in the log)

    assert {p: (home / p).read_text() for p in pointers} == before
    assert {k: pipeline["query"](everything.format(k)) for k in ("image", "text")} == predictions
    # the night report is written for a failed night too, and it does not turn the run's failure into success
    page = (home / "reports" / "night" / "dt=2026-11-21" / "index.html").read_text()
    assert "<section id=datasets>" in page and "failed" in page
    sent = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert {a["task_id"] for a in sent} == {"validate_image", "validate_text"}
    for a in sent:
        assert a["dag_id"] == "nightly_retrain" and "AirflowFailException" in a["error"]
        assert "train" in a["error"] and a["text"].startswith("Shardline: task nightly_retrain.validate_")


class Api:
    """The Airflow REST API (v2) with a JWT from the simple auth manager."""

    def __init__(self, url, password):
        self.url = url
        self.token = self.call("POST", "/auth/token", {"username": "admin", "password": password},
                               auth=False)["access_token"]

    def call(self, method, path, body=None, auth=True):
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode() if body is not None else None,
                                     method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path} -> {exc.code}: {exc.read()[:2000]!r}") from None


def wait_for(fn, timeout_s, what):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        result = fn()
        if result:
            return result
        time.sleep(5)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@pytest.mark.skipif(os.environ.get("SHARDLINE_AIRFLOW_TESTS") != "1",
                    reason="Airflow standalone suite (~12 min on 2 cores): make test-airflow")
def test_airflow_standalone_rest_trigger_backfill_and_rerun(pipeline):
    """Airflow standalone on loopback, driven through its REST API: a triggered run for the day before
    DT (D1), a backfill over D2..DT that creates the one missing run (one partition per date in each
    prediction table), and a rerun of the dag.test() date by clearing its text branch from
    clean_text on (same rows, no duplicates). Runs sit at the schedule's 02:00, as scheduled ones do."""
    if not (pipeline["home"] / "datasets" / "image" / "latest").exists():
        pipeline["run"]()
    first = snapshot(pipeline["query"])
    shardline = str(BIN / "shardline")
    # the default daily schedule: with catch-up off, unpausing schedules nothing before tomorrow 02:00
    env = {**pipeline["env"]}
    conf = {"image_corpus": str(pipeline["images"]), "text_corpus": str(pipeline["text"]), "epochs": 1,
            "baseline_policy": "warn", "config": str(DEMO_CONFIG)}  # the digits need the demo settings
    started = subprocess.run([shardline, "airflow", "start"], env=env, capture_output=True, text=True, timeout=400)
    assert started.returncode == 0, started.stderr[-3000:]
    state = json.loads((pipeline["home"] / "airflow-standalone.json").read_text())
    try:
        assert state["url"].startswith("http://127.0.0.1:")
        password = json.loads((pipeline["home"] / "airflow" / "simple_auth_manager_passwords.json.generated")
                              .read_text())["admin"]
        api = Api(state["url"], password)
        assert {d["dag_id"] for d in api.call("GET", "/api/v2/dags")["dags"]} >= {"nightly_retrain", "prediction_report"}
        api.call("PATCH", "/api/v2/dags/nightly_retrain", {"is_paused": False})

        def finished(run_id):
            st = api.call("GET", f"/api/v2/dags/nightly_retrain/dagRuns/{run_id}")["state"]
            return st if st in ("success", "failed") else None

        run = api.call("POST", "/api/v2/dags/nightly_retrain/dagRuns",
                       {"logical_date": f"{D1}T02:00:00Z", "conf": conf})
        assert wait_for(lambda: finished(run["dag_run_id"]), 900, "the REST-triggered run") == "success"

        backfill = api.call("POST", "/api/v2/backfills", {
            "dag_id": "nightly_retrain", "from_date": f"{D2}T00:00:00Z", "to_date": f"{DT}T00:00:00Z",
            "reprocess_behavior": "none", "dag_run_conf": conf, "max_active_runs": 1})
        wait_for(lambda: api.call("GET", f"/api/v2/backfills/{backfill['id']}")["completed_at"], 900, "the backfill")
        runs = api.call("GET", f"/api/v2/dags/nightly_retrain/dagRuns?logical_date_gte={D2}T00:00:00Z"
                               f"&logical_date_lte={DT}T23:59:59Z")["dag_runs"]
        assert sorted((r["logical_date"][:10], r["run_type"], r["state"]) for r in runs) == [
            (D2, "backfill", "success"), (D1, "manual", "success"), (DT, "manual", "success")]

        # rerun the dag.test() date from clean_text on, as on-call would after a bad night
        job_runs = len(pipeline["query"](f"SELECT * FROM ml.job_runs WHERE dt='{DT}'"))
        rerun = next(r for r in runs if r["logical_date"].startswith(DT))
        cleared = api.call("POST", "/api/v2/dags/nightly_retrain/clearTaskInstances", {
            "dag_run_id": rerun["dag_run_id"], "task_ids": ["clean_text"], "include_downstream": True,
            "only_failed": False, "dry_run": False, "reset_dag_runs": True})
        assert {t["task_id"] for t in cleared["task_instances"]} == {
            "clean_text", "publish_text", "validate_text", "train_text", "score_text"}
        time.sleep(5)
        assert wait_for(lambda: finished(rerun["dag_run_id"]), 900, "the cleared run") == "success"
    finally:
        stopped = subprocess.run([shardline, "airflow", "stop"], env=env, capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0 and not (pipeline["home"] / "airflow-standalone.json").exists()

    # the rerun replaced the date: same rows, no duplicates; ml.job_runs is a log and grows
    assert snapshot(pipeline["query"]) == first
    assert len(pipeline["query"](f"SELECT * FROM ml.job_runs WHERE dt='{DT}'")) > job_runs
    for kind in ("image", "text"):
        parts = pipeline["query"](f"SELECT dt, count(*) n FROM ml.{kind}_predictions WHERE dt BETWEEN '{D2}' "
                                  f"AND '{DT}' GROUP BY dt ORDER BY dt")
        assert parts == [{"dt": d, "n": first[kind]["n"]} for d in (D2, D1, DT)]


def test_query_is_read_only(pipeline):
    done = subprocess.run([str(BIN / "shardline"), "query", "DROP TABLE ml.quarantine"],
                          env={**os.environ, "SHARDLINE_HOME": str(pipeline["home"])}, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: shardline query is read-only")
    assert "Traceback" not in done.stderr


def test_bad_corpus_path_is_one_clear_line(pipeline, tmp_path):
    done = subprocess.run([str(BIN / "shardline"), "run", "--date", DT, "--image-corpus", str(tmp_path / "nope"),
                           "--text-corpus", str(pipeline["text"])],
                          env={**os.environ, "SHARDLINE_HOME": str(pipeline["home"])}, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: image corpus folder not found: {tmp_path / 'nope'}"
    # a remote URL is refused by name: sizes are checked on the open file and folders walked locally
    done = subprocess.run([str(BIN / "shardline"), "run", "--date", DT, "--image-corpus", str(pipeline["images"]),
                           "--text-corpus", "hdfs://namenode/corpus"],
                          env={**os.environ, "SHARDLINE_HOME": str(pipeline["home"])}, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: text corpus must be a local or mounted path, not a hdfs:// URL: "
                                   "hdfs://namenode/corpus (copy or mount the corpus first)")
