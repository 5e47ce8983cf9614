"""Two whole nightly runs of one date at once: ``shardline run --date D`` started while another run of D is
under way (a manual run while the scheduler runs the date; ``dag.test()`` ignores ``max_active_runs``).

Both must finish; the date's partitions must be whole (every kept image and text scored once, the
accounting exact); each run registers its own model version; and a third run afterwards succeeds. Two
runs of the demo pipeline on 2 cores take several minutes, so this runs in ``make test-reliability`` (and
CI), not in ``make test``: set SHARDLINE_SLOW_RELIABILITY=1.
"""
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from shardline.sample_corpora import make_image_corpus, make_text_corpus
from shardline.settings import DEMO_CONFIG
from tests.conftest import BIN

pytestmark = [pytest.mark.fault_injection, pytest.mark.slow]
DT = "2025-03-04"


def test_two_runs_of_one_date_at_once_lose_nothing(tmp_path):
    home = tmp_path / "home"
    images = make_image_corpus(tmp_path / "images", per_class=8, plant_bad=False)
    text = make_text_corpus(tmp_path / "corpus.jsonl", per_class=15, plant_bad=False)
    env = {**os.environ, "SHARDLINE_HOME": str(home)}
    cmd = [str(BIN / "shardline"), "run", "--date", DT, "--image-corpus", str(images), "--text-corpus", str(text),
           "--epochs", "1", "--config", str(DEMO_CONFIG), "--baseline-policy", "warn"]
    logs = [(tmp_path / f"run{k}.log").open("w") for k in range(2)]
    runs = [subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs]
    codes = [p.wait(timeout=1500) for p in runs]
    for log in logs:
        log.close()
    assert codes == [0, 0], "\n".join(Path(log.name).read_text()[-4000:] for log in logs)

    def query(sql):
        done = subprocess.run([str(BIN / "shardline"), "query", sql, "--format", "json"], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    def check():
        for kind, table in (("image", "clean_images"), ("text", "clean_text")):
            kept = query(f"SELECT count(*) n FROM ml.{table} WHERE dt='{DT}'")[0]["n"]
            scored = query(f"SELECT count(*) n, count(DISTINCT id) d FROM ml.{kind}_predictions WHERE dt='{DT}'")[0]
            assert kept > 0 and scored == {"n": kept, "d": kept}, (kind, kept, scored)
        runs = query(f"SELECT job, records_in, records_out, records_quarantined, status FROM ml.job_runs "
                     f"WHERE dt='{DT}'")
        assert runs and all(r["status"] == "success" for r in runs), runs
        assert all(r["records_in"] == r["records_out"] + r["records_quarantined"] for r in runs), runs
        quarantine = query(f"SELECT stage, id, count(*) n FROM ml.quarantine WHERE dt='{DT}' GROUP BY stage, id "
                           f"HAVING count(*) > 1")
        assert quarantine == [], quarantine  # each stage's partition replaced whole, never appended twice

    check()
    for kind in ("image", "text"):
        versions = [p for p in (home / "models" / kind).iterdir() if p.is_dir() and not p.name.startswith(("_", "."))]
        assert len(versions) == 2, versions  # each run registered its own version, none overwritten
        champion = (home / "models" / kind / "champion").read_text().strip()
        assert (home / "models" / kind / champion / "metrics.json").is_file()
    # while the scheduler runs the date (its run made to look scheduled and running), a manual run refuses
    db = sqlite3.connect(home / "airflow" / "airflow.db")
    with db:
        assert db.execute("UPDATE dag_run SET run_type='scheduled', state='running' WHERE dag_id='nightly_retrain' "
                          "AND logical_date LIKE ?", (f"{DT}%",)).rowcount == 1
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith(
        f"error: the scheduler is running nightly_retrain for {DT} now"), done.stderr[-3000:]
    with db:
        db.execute("UPDATE dag_run SET state='success' WHERE dag_id='nightly_retrain'")
    db.close()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1500)  # the next run succeeds
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check()
