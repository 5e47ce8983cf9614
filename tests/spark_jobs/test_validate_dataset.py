import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.warehouse import CLEAN_TEXT
from shardline.config import ShardlineError
from shardline.datasets import list_versions
from spark_jobs.common.warehouse import replace_partitions
from spark_jobs.publish_dataset import ShardConfig, SplitConfig, publish
from spark_jobs.validate_dataset import GateSettings, gate, psi

SHARDS = ShardConfig(target_file_mb=1, row_group_mb=0.5, max_workers=2, row_groups_per_worker=2)


@pytest.fixture
def fresh(tmp_path):
    """Each test gets its own datasets folder; tables come from the shared session's warehouse."""
    from shardline.config import Paths

    return Paths(tmp_path / "data folder ü")  # a space and non-ASCII: every publish here goes through it


def publish_texts(spark, paths, dt, n, labels=("a", "b", "c"), weights=None):
    weights = weights or [1] * len(labels)
    pool = [label for label, w in zip(labels, weights) for _ in range(w)]
    rows = [(f"{dt}-{i:05d}", f"some words {i} " * (1 + i % 3), pool[i % len(pool)], f"h{dt}{i}", "inline", dt)
            for i in range(n)]
    df = spark.createDataFrame(rows, "id string, text string, label string, content_hash string, source string, dt string")
    replace_partitions(spark, df, CLEAN_TEXT, {"dt": dt})
    return publish(spark, "text", dt, SplitConfig(), SHARDS, paths)[0]


def latest(paths):
    return (paths.datasets / "text" / "latest").read_text().strip()


def test_psi_is_zero_for_equal_and_large_for_shifted():
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    assert psi([50, 50], [95, 5]) > 0.5


def test_passing_gate_moves_latest(spark, fresh):
    m = publish_texts(spark, fresh, "2032-01-01", 300)
    result = gate(fresh, "text")
    assert result["status"] == "passed" and latest(fresh) == m["version"]
    saved = json.loads((fresh.datasets / "text" / m["version"] / "validation.json").read_text())
    assert saved["status"] == "passed"


def test_label_drift_fails_and_keeps_previous(spark, fresh):
    good = publish_texts(spark, fresh, "2032-02-01", 300)
    gate(fresh, "text")
    skewed = publish_texts(spark, fresh, "2032-02-02", 300, weights=[18, 1, 1])
    with pytest.raises(ShardlineError) as err:
        gate(fresh, "text")
    msg = str(err.value)
    assert msg.startswith(f"text dataset {skewed['version']} failed validation (drift: label distribution PSI ")
    assert f"latest stays {good['version']}" in msg and "\n" not in msg
    assert latest(fresh) == good["version"]
    status = {v["version"]: v["status"] for v in list_versions(fresh, "text")}
    assert status[skewed["version"]] == "failed"


def test_min_rows_failure_names_the_numbers(spark, fresh):
    publish_texts(spark, fresh, "2032-03-01", 60)
    with pytest.raises(ShardlineError, match=r"min_rows: train has \d+ rows < 1000"):
        gate(fresh, "text", cfg=GateSettings(min_train_rows=1000))
    assert not (fresh.datasets / "text" / "latest").exists()


def test_rare_label_is_left_out_reported_and_passes_by_default(spark, fresh):
    """A long tail is normal: the rare label's rows are not published, the manifest and the gate name it."""
    rows = 200
    manifest = publish_texts(spark, fresh, "2032-03-02", rows, labels=("a", "b", "rare"), weights=[30, 30, 1])
    expected_rare = sum(1 for i in range(rows) if i % 61 == 60)  # the pool is 30 a, 30 b, 1 rare
    assert manifest["labels"] == ["a", "b"]
    assert set(manifest["rare_labels"]) == {"rare"} and manifest["rare_labels"]["rare"] < 5
    assert manifest["rare_label"] == expected_rare
    assert sum(manifest["rows"].values()) == rows - expected_rare
    result = gate(fresh, "text")
    assert result["status"] == "passed" and result["rare_labels"] == manifest["rare_labels"]
    assert latest(fresh) == manifest["version"]


def test_rare_label_policy_fail_names_the_label(spark, fresh):
    rows = [(f"f-{i:05d}", f"some words {i}", ["a", "b"][i % 2] if i else "rare", f"hf{i}", "inline", "2032-03-12")
            for i in range(120)]
    df = spark.createDataFrame(rows, "id string, text string, label string, content_hash string, source string, dt string")
    replace_partitions(spark, df, CLEAN_TEXT, {"dt": "2032-03-12"})
    manifest = publish(spark, "text", "2032-03-12", SplitConfig(), SHARDS, fresh, rare_labels="fail")[0]
    assert "rare" in manifest["labels"]
    with pytest.raises(ShardlineError, match=r"label 'rare' has \d train rows < 5"):
        gate(fresh, "text", cfg=GateSettings(rare_labels="fail"))


def test_fewer_than_two_usable_labels_fails_the_gate_with_one_line(spark, fresh):
    rows = [(f"u-{i:05d}", f"words {i}", "a" if i < 100 else "b", f"hu{i}", "inline", "2032-03-13") for i in range(102)]
    df = spark.createDataFrame(rows, "id string, text string, label string, content_hash string, source string, dt string")
    replace_partitions(spark, df, CLEAN_TEXT, {"dt": "2032-03-13"})
    manifest = publish(spark, "text", "2032-03-13", SplitConfig(), SHARDS, fresh)[0]
    assert manifest["labels"] == ["a", "b"] and set(manifest["rare_labels"]) == {"b"}  # published, for the gate
    with pytest.raises(ShardlineError, match=r"1 usable labels < 2 .*rare: \{'b'"):
        gate(fresh, "text")
    assert not (fresh.datasets / "text" / "latest").exists()


def _tamper(folder, table):
    target = sorted((folder / "train").glob("*.parquet"))[0]
    pq.write_table(table, target)


def test_nulls_fail(spark, fresh):
    m = publish_texts(spark, fresh, "2032-04-01", 300)
    folder = fresh.datasets / "text" / m["version"]
    original = pq.read_table(sorted((folder / "train").glob("*.parquet"))[0])
    ids = original.column("id").to_pylist()
    _tamper(folder, original.set_column(0, "id", pa.array([None] + ids[1:], pa.string())))
    with pytest.raises(ShardlineError, match=r"nulls: train.id has 1 nulls"):
        gate(fresh, "text")


def test_schema_mismatch_fails(spark, fresh):
    m = publish_texts(spark, fresh, "2032-05-01", 300)
    folder = fresh.datasets / "text" / m["version"]
    original = pq.read_table(sorted((folder / "train").glob("*.parquet"))[0])
    _tamper(folder, original.set_column(3, "label_index", original.column("label_index").cast(pa.int64())))
    with pytest.raises(ShardlineError, match=r"schema: train columns .*'label_index': 'int64'"):
        gate(fresh, "text")


def test_retention_keeps_the_newest_and_latest(spark, fresh):
    versions = []
    for day in range(1, 5):
        versions.append(publish_texts(spark, fresh, f"2032-06-0{day}", 200 + day)["version"])
        gate(fresh, "text", cfg=GateSettings(keep_versions=2, max_label_psi=10, max_size_psi=10))
    kept = [v["version"] for v in list_versions(fresh, "text")]
    assert kept == versions[-2:]
    assert latest(fresh) == versions[-1]
