"""The corpus walk: every entry under the root is either a file to process or an entry with a problem."""
import os
import socket

from spark_jobs.common.files import read_files, read_samples, walk


def build(root):
    (root / "cat").mkdir(parents=True)
    (root / "cat" / "_under.png").write_bytes(b"a")          # Spark hides _ and . names
    (root / "cat" / ".dot.png").write_bytes(b"b")
    (root / "cat" / "plain.png").write_bytes(b"c")
    (root / "cat" / "zero.png").write_bytes(b"")
    (root / "_hidden_dir").mkdir()
    (root / "_hidden_dir" / "x.png").write_bytes(b"d")
    os.symlink(root / "nowhere.png", root / "cat" / "dangling.png")
    os.symlink(root / "cat" / "plain.png", root / "cat" / "link.png")
    os.symlink(root, root / "cat" / "loop")                  # a folder link back to the root
    os.mkfifo(root / "cat" / "pipe.png")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "cat" / "sock.png"))
    return sock


def test_walk_lists_every_entry_with_its_problem(tmp_path):
    root = tmp_path / "corpus root ü#%"
    sock = build(root)
    try:
        got = {path.rsplit("/", 1)[-1] if "/cat/" in path or "_hidden" in path else path: problem
               for path, problem in walk(str(root))}
    finally:
        sock.close()
    # expectations written out by hand from what build() made
    assert got == {"_under.png": None, ".dot.png": None, "plain.png": None, "zero.png": None, "x.png": None,
                   "link.png": None, "dangling.png": "broken_link", "pipe.png": "not_a_file",
                   "sock.png": "not_a_file", "loop": "symlink_loop"}
    assert all(p.startswith("file:" + str(root)) for p, _ in walk(str(root)))  # not %-encoded


def test_glob_filters_files_but_keeps_problem_entries(tmp_path):
    sock = build(tmp_path / "c")
    sock.close()
    names = sorted(p.rsplit("/", 1)[-1] for p, _ in walk(str(tmp_path / "c"), "*.{png,jpg}"))
    assert "loop" in names and "dangling.png" in names
    assert sorted(p.rsplit("/", 1)[-1] for p, q in walk(str(tmp_path / "c"), "plain*") if q is None) == ["plain.png"]


def test_read_files_with_spark_content_still_lists_hidden_names(spark, tmp_path):
    sock = build(tmp_path / "c")
    sock.close()
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in read_files(spark, str(tmp_path / "c"), content=True).collect()}
    assert rows["plain.png"]["content"] == b"c"           # read by Spark
    assert rows["_under.png"]["content"] is None           # hidden from Spark: the worker reads it
    assert rows["dangling.png"]["problem"] == "broken_link"
    assert len(rows) == 10


def test_report_samples_read_awkward_names_and_skip_what_cannot_be_read(tmp_path):
    """The contact sheet's reload: glob characters and hidden names are plain names; a dangling link or a
    fifo is left out (a fifo is never opened), nothing fails."""
    root = tmp_path / "c"
    root.mkdir()
    names = {"a[1].png": b"1", "b{x,y}.png": b"2", "c*?.png": b"3", "_d.png": b"4"}
    for name, data in names.items():
        (root / name).write_bytes(data)
    os.symlink(root / "gone.png", root / "dangling.png")
    os.mkfifo(root / "pipe.png")
    wanted = [f"file:{root}/{n}" for n in (*names, "dangling.png", "pipe.png")]
    got = read_samples(wanted)
    assert got == {f"file:{root}/{n}": data for n, data in names.items()}


def test_names_that_are_not_utf8_are_listed_as_text_and_read_back(tmp_path):
    """A Latin-1 folder and file name: listed with its odd bytes as \\xNN (a string the JVM can hold), read
    back from that listing; a name that really holds a backslash and an x is still itself."""
    root = tmp_path / "c"
    root.mkdir()
    os.mkdir(os.fsencode(root) + b"/lab\xe9l")
    with open(os.fsencode(root) + b"/lab\xe9l/caf\xe9 \xff.png", "wb") as fh:
        fh.write(b"latin")
    (root / "lit\\xe9ral.png").write_bytes(b"literal")
    listed = dict(walk(str(root)))
    assert listed == {f"file:{root}/lab\\xe9l/caf\\xe9 \\xff.png": None, f"file:{root}/lit\\xe9ral.png": None}
    for path in listed:
        path.encode("utf-8")  # no lone surrogate: raises if one is left
    assert read_samples(list(listed)) == {f"file:{root}/lab\\xe9l/caf\\xe9 \\xff.png": b"latin",
                                          f"file:{root}/lit\\xe9ral.png": b"literal"}


def test_a_job_report_names_a_corpus_that_is_not_utf8(tmp_path):
    """Seen: a Latin-1 corpus folder given as ``caf\\xe9`` was cleaned and written, then the job failed
    writing its HTML report (a lone surrogate is not UTF-8), and job_runs recorded it failed with in=0."""
    from shardline.config import Paths, require_path, shown
    from spark_jobs.common import report

    os.mkdir(os.fsencode(tmp_path) + b"/caf\xe9")
    root = require_path(f"{tmp_path}/caf\\xe9", "text corpus")
    assert shown(root) == f"{tmp_path}/caf\\xe9"
    rep = {"input": str(root), "totals": {"in": 1, "kept": 1, "quarantined": 0}, "reasons": {}, "labels": {}}
    out = report.publish(Paths(tmp_path / "home"), "clean_text", "2026-01-01", rep)
    assert f"{tmp_path}/caf\\xe9" in (out / "report.html").read_text()
