"""The nightly report (#43): one page with every section, numbers read back from the warehouse and the dataset
and model folders, held-out accuracy from the test/unseen rows only, plots inline, links that resolve."""
from __future__ import annotations

import datetime as _dt
import json
import re
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.warehouse import CLEAN_TEXT, JOB_RUNS, QUARANTINE, SCORING_RUNS, TEXT_PREDICTIONS
from shardline.config import Paths
from shardline.warehouse_files import file_schema, table_root
from shardline.warehouse_log import append_records, commit, ensure_tables
from shardline_ops.night_report import SECTIONS, gather, write

DT, PREV = "2036-01-02", "2036-01-01"


def put(paths: Paths, table, partition: dict, rows: list[dict]) -> None:
    folder = table_root(paths, table).joinpath(*(f"{k}={v}" for k, v in partition.items())) / f"v-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=file_schema(table)), folder / "part-0.parquet")
    commit(paths, table, [folder / "part-0.parquet"], partition, replace=True)


def night(paths: Paths, dt: str, kept: int, dups: int, test_right: int) -> None:
    t0 = _dt.datetime(2036, 1, 1, 2, tzinfo=_dt.timezone.utc)
    append_records(paths, JOB_RUNS, [dict(dt=dt, job="clean_text", run_id="r", records_in=kept + dups + 1,
                                          records_out=kept, records_quarantined=dups + 1, started_at=t0,
                                          finished_at=t0 + _dt.timedelta(seconds=42), status="success")])
    append_records(paths, SCORING_RUNS, [dict(run_id="r", kind="text", dt=dt, rows_in=kept, rows_out=kept,
                                              rows_quarantined=0, duration_s=7.5, status="success",
                                              started_at=t0, finished_at=t0)])
    put(paths, QUARANTINE, {"stage": "clean_text", "dt": dt},
        [{"id": f"d{k}", "reason": "near_duplicate"} for k in range(dups)] + [{"id": "bad", "reason": "malformed_json"}])
    labels = [{"id": f"x{k}", "label": "a" if k % 2 else "b"} for k in range(kept)]
    put(paths, CLEAN_TEXT, {"dt": dt}, labels)
    # 10 train rows all right (in-sample), 10 test rows of which test_right are right
    preds = [{"id": f"x{k}", "predicted_label": labels[k]["label"] if (k < 10 or k - 10 < test_right) else "zzz",
              "split": "train" if k < 10 else "test", "model_version": "m1"} for k in range(kept)]
    put(paths, TEXT_PREDICTIONS, {"dt": dt}, preds)


@pytest.fixture
def two_nights(tmp_path) -> Paths:
    paths = Paths(tmp_path / "home")
    ensure_tables(paths)
    night(paths, PREV, kept=20, dups=3, test_right=9)
    night(paths, DT, kept=20, dups=5, test_right=6)
    model = paths.models / "text" / "m1"
    model.mkdir(parents=True)
    (model / "model.json").write_text(json.dumps({"name": "text_classifier", "version": "m1", "dt": DT,
                                                     "saved_at": "2036-01-02T03:00:00"}))
    (model / "metrics.json").write_text(json.dumps({
        "accuracy": 0.6, "macro_f1": 0.55, "n_test": 10, "baseline": {"name": "tfidf", "accuracy": 0.5},
        "promotion": {"promoted": True, "reason": "first model", "champion": None},
        "history": {"loss": [1.0, 0.7, 0.5], "val_accuracy": [0.4, 0.5, 0.6]}}))
    (model / "report.html").write_text("<html></html>")
    (paths.models / "text" / "champion").write_text("m1\n")
    ds = paths.datasets / "text" / "d1"
    ds.mkdir(parents=True)
    (ds / "manifest.json").write_text(json.dumps({"rows": {"train": 10, "val": 0, "test": 10}}))
    (ds / "validation.json").write_text(json.dumps({"status": "passed", "drift": {"label_psi": 0.01}, "checks": {}}))
    (paths.datasets / "text" / "candidate").write_text("d1\n")
    job_report = paths.home / "reports" / "clean_text" / f"dt={DT}"
    job_report.mkdir(parents=True)
    (job_report / "report.html").write_text("<html></html>")
    return paths


def test_the_night_report_has_every_section_and_true_numbers(two_nights):
    paths = two_nights
    data = gather(paths, DT)
    assert data["previous_dt"] == PREV
    # held out only: 6 of the 10 test rows, not 16 of 20 with the training rows
    assert [(r["dt"], round(r["accuracy"], 3), r["n"]) for r in data["accuracy"]] == [(PREV, 0.9, 10), (DT, 0.6, 10)]
    page_path = write(paths, DT)
    assert page_path == paths.home / "reports" / "night" / f"dt={DT}" / "index.html"
    page = page_path.read_text()
    for section in SECTIONS:
        assert f"<section id={section}>" in page, section
    assert page.count("<svg") == 3  # accuracy, drift, the text model's training curves
    assert "<td>near_duplicate</td><td>5</td><td>+2</td>" in page  # against the previous night
    assert "<td>clean_text</td><td>success</td><td>42.000</td>" in page and "batch inference (text)" not in page
    assert "first model" in page and "tfidf 0.500" in page
    assert len(re.findall(r"<a href=", page)) == 2  # the job report and the model report
    for href in re.findall(r'<a href="([^"]+)"', page):
        assert (page_path.parent / href).resolve().exists(), href
    assert not list(page_path.parent.parent.glob(".stage-*"))


@pytest.mark.slow
def test_chromium_renders_every_section(two_nights, tmp_path):
    """Headless Chromium (Debian's `chromium`) loads the page: every section is in the rendered DOM with its
    plots, and a screenshot has content. Refreshes docs/night-report.png when SHARDLINE_DOCS_SCREENSHOT=1."""
    import os
    import shutil
    import subprocess

    from PIL import Image

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on this machine (apt-get install chromium; .ci/run installs it)")
    page = write(two_nights, DT)
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2600"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for section in SECTIONS:
        assert re.search(rf'<section id="{section}">', dom.stdout), section
    assert dom.stdout.count("<svg") == 3
    shot = tmp_path / "night.png"
    done = subprocess.run([*flags, f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    img = Image.open(shot).convert("L")
    assert img.size == (1280, 2600) and len(set(img.resize((64, 64)).getdata())) > 8  # not a blank page
    if os.environ.get("SHARDLINE_DOCS_SCREENSHOT"):
        shutil.copy(shot, Path(__file__).resolve().parents[2] / "docs" / "night-report.png")
