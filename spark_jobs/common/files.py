"""Listing an input folder for the jobs: every entry as (path, content, problem), including what Spark's
own listing leaves out.

Spark's file sources skip names that start with ``_`` or ``.`` (the Hadoop convention for ``_SUCCESS`` and
``.crc``) and plan no split for a zero-byte file, so a corpus read through them silently loses files. A
local root is therefore listed by walking it here: every entry is either a file to process or an entry
with a ``problem`` (``broken_link``, ``not_a_file``, ``unreadable``, ``symlink_loop``) that the job
quarantines, so ``records_in`` equals the number of entries the walk finds. Symlinked folders are
followed once (a loop ends with ``symlink_loop``). Roots are local (or mounted): the jobs refuse remote URLs
(``shardline.config.require_path``), since neither the walk nor the size check before reading would hold there.

A name that is not valid UTF-8 (a Latin-1 ``labél`` from an old archive) cannot cross into the JVM as it is:
``listed_uri`` writes each byte that does not decode as ``\\xNN`` (``lab\\xe9l``), and ``local_path`` turns
those back into the bytes on disk, so the file is read like any other and its source and label show the
byte.
"""
from __future__ import annotations

import fnmatch
import os
import re
import stat

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType

from shardline.config import shown, spark_uri, unescaped

LISTING = "path string, problem string"
PROBLEM_DETAIL = "listed under the corpus root but not a readable file"  # the quarantine detail of a problem entry


def read_files(spark: SparkSession, root: str, glob: str | None = None, content: bool = False) -> DataFrame:
    """Every entry under ``root`` (matching ``glob``, if given) as (path, content, problem).

    ``content`` is null for local files (the Python workers open them, so the bytes never pass through
    the JVM and Arrow) unless ``content=True``, which reads them with Spark's ``binaryFile`` source (files
    Spark hides are still listed, with null content, and read by the workers)."""
    listing = spark.createDataFrame(walk(root, glob), LISTING)
    if not content:
        return listing.select("path", F.lit(None).cast(BinaryType()).alias("content"), "problem")
    reader = spark.read.format("binaryFile").option("recursiveFileLookup", "true")
    if glob:
        reader = reader.option("pathGlobFilter", glob)
    spark_files = reader.load(root).select("path", "content")
    return listing.join(spark_files, "path", "left").select("path", "content", "problem")


def _patterns(glob: str | None) -> list[str]:
    """``*.{jpg,png}`` -> [``*.jpg``, ``*.png``] (fnmatch has no alternatives)."""
    patterns = [glob] if glob else []
    while any("{" in g for g in patterns):
        g = next(g for g in patterns if "{" in g)
        m = re.search(r"\{([^{}]*)\}", g)
        if not m:
            break
        patterns.remove(g)
        patterns += [g[:m.start()] + alt + g[m.end():] for alt in m.group(1).split(",")]
    return patterns


def walk(root: str, glob: str | None = None) -> list[tuple[str, str | None]]:
    """(``file:/abs/path``, problem or None) for every entry under a local ``root``, sorted by path.

    Files and symlinks to files are entries; folders (and symlinks to folders, followed once) are walked;
    anything else is an entry with its problem. ``glob`` filters file names, never problem entries of other
    names, so nothing that fails to list disappears."""
    base = root[len("file:"):] if root.startswith("file:") else root
    base = os.path.abspath(base)
    patterns = _patterns(glob)
    out: list[tuple[str, str | None]] = []
    if not os.path.isdir(base):  # a single file given as the root
        return [(listed_uri(base), _file_problem(base))]
    seen: set[tuple[int, int]] = set()
    stack = [base]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError:
            out.append((listed_uri(folder), "unreadable"))
            continue
        if (st.st_dev, st.st_ino) in seen:
            out.append((listed_uri(folder), "symlink_loop"))
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            out.append((listed_uri(folder), "unreadable"))
            continue
        for entry in entries:
            full = entry.path
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                stack.append(full)
                continue
            problem = _file_problem(full)
            if problem is None and patterns and not any(fnmatch.fnmatchcase(entry.name, g) for g in patterns):
                continue
            out.append((listed_uri(full), problem))
    return sorted(out)


def _file_problem(path: str) -> str | None:
    try:
        st = os.stat(path)  # follows a symlink
    except FileNotFoundError:
        return "broken_link" if os.path.islink(path) else "unreadable"
    except OSError as exc:
        return "symlink_loop" if exc.errno == 40 else "unreadable"  # ELOOP: a link that points at itself
    if not stat.S_ISREG(st.st_mode):
        return "not_a_file"  # fifo, socket, device: never opened (a fifo would block the reader)
    if not os.access(path, os.R_OK):
        return "unreadable"
    return None


def read_samples(paths: list[str], max_bytes: int = 64 * 2**20) -> dict[str, bytes]:
    """{path: bytes} of a few files to show in a report; a path that is no readable regular file (or is
    larger than ``max_bytes``) is left out, never fails the report. Local files are read here: Spark's
    ``binaryFile`` source would treat ``[``, ``{``, ``*``, ``?`` in names as a glob, hide ``_``/``.``
    names and fail on a dangling link."""
    out = {}
    for path in paths:
        try:
            if _file_problem(local_path(path)) is None:  # never opens a fifo
                out[path] = read_local(path, max_bytes)
        except (OSError, TooLarge):
            continue
    return out


def listed_uri(path: str | os.PathLike) -> str:
    """``spark_uri`` of a local path, with every byte of its name that is not UTF-8 written as ``\\xNN``
    (``os.scandir`` hands such bytes over as lone surrogates, which no JVM string can hold)."""
    return spark_uri(shown(path))


def local_path(path: str) -> str:
    """The file system path of a ``file:`` path as Spark and ``walk`` write it (``file:/abs/path``, not
    %-encoded). A path that does not exist as written but does with its ``\\xNN`` turned back into bytes
    (``listed_uri``) is that one."""
    if not path.startswith("file:"):
        raise OSError(f"can only read file: paths in the worker, got {path}")
    return unescaped("/" + path[len("file:"):].lstrip("/"))


def read_local(path: str, max_bytes: int | None = None) -> bytes:
    """The bytes of a ``file:`` path; with ``max_bytes``, a larger file raises ``TooLarge`` before any byte is
    read (a huge file is quarantined by its size, never loaded)."""
    with open(local_path(path), "rb") as fh:
        if max_bytes is not None:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise TooLarge(size)
        return fh.read()


class TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size
