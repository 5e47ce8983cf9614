"""The data folder: any path Spark can take as a location works; one that Spark would read as a file
pattern is one clear error before anything starts."""
import pytest

from shardline.config import Paths, ShardlineError


@pytest.mark.parametrize("name", ["data [1]", "data*", "da?ta", "data{a,b}", "data#1"])
def test_glob_characters_in_the_data_folder_are_one_clear_error(monkeypatch, tmp_path, name):
    monkeypatch.setenv("SHARDLINE_HOME", str(tmp_path / name))
    with pytest.raises(ShardlineError, match="set SHARDLINE_HOME to a folder"):
        Paths.from_env()


def test_spaces_quotes_and_non_ascii_are_fine(monkeypatch, tmp_path):
    monkeypatch.setenv("SHARDLINE_HOME", str(tmp_path / "data folder ü '%;"))
    assert Paths.from_env().home.name == "data folder ü '%;"
