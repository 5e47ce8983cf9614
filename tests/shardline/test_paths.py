"""The data folder: any path Spark can take as a location works; one that Spark would read as a file
pattern is one clear error before anything starts."""
from pathlib import Path

import pytest

from shardline.config import Paths, ShardlineError, folder_label, require_path


@pytest.mark.parametrize("name", ["data [1]", "data*", "da?ta", "data{a,b}", "data#1"])
def test_glob_characters_in_the_data_folder_are_one_clear_error(monkeypatch, tmp_path, name):
    monkeypatch.setenv("SHARDLINE_HOME", str(tmp_path / name))
    with pytest.raises(ShardlineError, match="set SHARDLINE_HOME to a folder"):
        Paths.from_env()


def test_spaces_quotes_and_non_ascii_are_fine(monkeypatch, tmp_path):
    monkeypatch.setenv("SHARDLINE_HOME", str(tmp_path / "data folder ü '%;"))
    assert Paths.from_env().home.name == "data folder ü '%;"


@pytest.mark.parametrize("url", ["hdfs://namenode/corpus", "s3a://bucket/corpus", "gs://b/c"])
def test_remote_inputs_are_refused_by_name(url):
    with pytest.raises(ShardlineError, match=r"must be a local or mounted path, not a \w+:// URL"):
        require_path(url, "image corpus folder")


def test_file_urls_are_local_paths(tmp_path):
    assert require_path(f"file://{tmp_path}", "corpus") == tmp_path.resolve()
    assert require_path(f"file:{tmp_path}", "corpus") == tmp_path.resolve()


def test_a_corpus_whose_name_is_not_utf8_can_be_named_with_escapes(tmp_path):
    """Names from Latin-1 archives: spark-submit hands the raw bytes to the job as U+FFFD (through the JVM),
    so the job cannot find them as given; written with ``\\xNN`` (as sources and labels show them) they
    are found, and a path that was mangled says how to write it."""
    import os

    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9")
    os.mkdir(raw)
    assert require_path(f"{tmp_path}/caf\\xe9", "corpus") == Path(os.fsdecode(raw)).resolve()
    assert require_path(f"file:{tmp_path}/caf\\xe9", "corpus") == Path(os.fsdecode(raw)).resolve()
    with pytest.raises(ShardlineError, match=r"corpus not found: .*caf\ufffd \(spark-submit hands .* \\xNN"):
        require_path(f"{tmp_path}/caf\ufffd", "corpus")
    with pytest.raises(ShardlineError, match=r"corpus not found: .*/caf\\xe9x$"):
        require_path(os.fsdecode(raw + b"x"), "corpus")  # the message shows such a name escaped


def test_a_label_folder_named_on_macos_and_on_linux_is_one_label():
    decomposed, composed = "cafe\u0301", "caf\u00e9"  # NFD (macOS file names) and NFC: the same word
    assert folder_label(f"{decomposed}/a.png") == folder_label(f"{composed}/b.png") == composed
    assert folder_label("loose.png") is None


def test_a_version_is_a_folder_name_never_a_path(monkeypatch, tmp_path):
    """``shardline models promote ../text/<v> --kind image`` made a text model the image champion (and
    ``datasets validate ../../x`` wrote outside the data folder): a version is one folder name."""
    import json

    from shardline import datasets
    from training import registry

    monkeypatch.setenv("SHARDLINE_HOME", str(tmp_path))
    paths = Paths.from_env()
    text = registry.kind_root(paths, "text") / "20251201-abc-baseline-20261203T051404"
    text.mkdir(parents=True)
    (text / "model.json").write_text(json.dumps({"name": "svm"}))
    assert registry.read_model(paths, "text", text.name)["name"] == "svm"
    for version in (f"../text/{text.name}", "..", "../../etc", "/etc", "a/b", "_staging", ".hidden", ""):
        with pytest.raises(ShardlineError, match="must be a folder name"):
            registry.promote(paths, "image", version, reason="by hand")
        with pytest.raises(ShardlineError, match="must be a folder name"):
            datasets.write_validation(paths, "image", version, {"passed": True})
    assert registry.champion(paths, "image") is None
    assert sorted(p.name for p in tmp_path.rglob("*.json")) == ["model.json"]
