"""The `shardline` command's own edges, in-process (#43's query items): the version, no abbreviated flags, the
statement from a file or standard input, SHOW TABLES, one line and exit 1 without a warehouse, and a read-only
query that writes nothing under the data folder."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from shardline.config import Paths
from shardline_ops.cli import main


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def home(spark, paths):
    from spark_jobs.common.warehouse import write_quarantine

    bad = spark.createDataFrame([("c1", "a.png", "truncated", "cut")], "id string, source string, reason string, detail string")
    write_quarantine(spark, bad, "cli_test", "2034-01-01")
    return paths


def test_version_and_no_abbreviated_flags(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("shardline ")
    with pytest.raises(SystemExit) as done:  # --epoch is not --epochs: refused, not a whole night of 3 epochs
        main(["config", "show", "--epoch", "3"])
    assert done.value.code == 2 and "--epoch" in capsys.readouterr().err


def test_statement_from_argument_file_or_stdin_and_show_tables(home, tmp_path, capsys, monkeypatch):
    sql = "SELECT reason, count(*) AS n FROM ml.quarantine WHERE dt = '2034-01-01' GROUP BY 1"
    before = files(home.home)
    assert main(["query", sql, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["reason,n", "truncated,1"]
    script = tmp_path / "q.sql"
    script.write_text(sql + ";\n")
    assert main(["query", "-f", str(script), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "truncated,1"
    monkeypatch.setattr("sys.stdin", io.StringIO(sql))
    assert main(["query", "-", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "truncated,1"
    assert main(["query", "SHOW TABLES", "--format", "csv"]) == 0
    shown = set(capsys.readouterr().out.split())
    assert {"quarantine", "image_predictions", "text_predictions", "job_runs", "prediction_accuracy"} <= shown
    assert files(home.home) == before  # nothing written under the data folder (the spill is elsewhere)
    assert main(["query", sql, "-f", str(script)]) == 2
    assert "not both" in capsys.readouterr().err


def test_no_warehouse_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("SHARDLINE_HOME", str(empty))
    assert Paths.from_env().home == empty.resolve()
    assert main(["query", "SELECT 1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no warehouse in" in err and "shardline run" in err
    assert os.listdir(empty) == []  # and it created nothing
