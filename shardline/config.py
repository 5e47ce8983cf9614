"""Where Shardline keeps its data, and the typed errors every entry point turns into one clear line."""
from __future__ import annotations

import datetime as _dt
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


class ShardlineError(Exception):
    """A user-facing error (bad flag, missing path, failed gate): printed as one line, no stack trace."""


# Spark reads a table location holding these as a file pattern; petastorm and pyarrow take '#' (and '?')
# in a file: URL as the start of a fragment (query): a data folder with any of them cannot work.
GLOB_CHARS = "[]{}*?\\#"


@dataclass(frozen=True)
class Paths:
    """Every location under the data directory (``SHARDLINE_HOME``, default ``<repo>/data``)."""

    home: Path

    @classmethod
    def from_env(cls) -> "Paths":
        home = Path(os.environ.get("SHARDLINE_HOME") or REPO_ROOT / "data").resolve()
        bad = sorted(set(GLOB_CHARS) & set(str(home)))
        if bad:  # spaces, non-ASCII, ' % ; are fine (tested end to end)
            raise ShardlineError(f"the data folder's path {home} holds {' '.join(bad)}: Spark reads a table "
                                 "location with those as a file pattern and petastorm a dataset URL with # as a "
                                 "fragment; set SHARDLINE_HOME to a folder whose path has none of [ ] { } * ? \\ #")
        return cls(home)

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse"

    @property
    def datasets(self) -> Path:
        return self.home / "datasets"

    @property
    def models(self) -> Path:
        return self.home / "models"

    @property
    def samples(self) -> Path:
        return self.home / "samples"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def logs(self) -> Path:
        return self.home / "logs"


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date(value: str) -> str:
    """Validate a run date (YYYY-MM-DD) and return it unchanged; argparse `type=` friendly."""
    if not _DATE.match(value or ""):
        raise ShardlineError(f"run date must look like YYYY-MM-DD, got {value!r}")
    try:
        _dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ShardlineError(f"run date {value!r} is not a real date: {exc}") from None
    return value


_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")


def version_name(version: str, what: str) -> str:
    """A model or dataset version as given by a person: one folder name under its registry, never a path
    (``../text/<v>`` would make a text model the image champion; ``../../x`` would write outside)."""
    if not _VERSION.match(version or "") or ".." in version:
        raise ShardlineError(f"{what} version must be a folder name of letters, digits, '.', '_', '+' and '-' "
                             f"(as `list` shows), got {version!r}")
    return version


def spark_uri(path: Path | str) -> str:
    """A local path (or a ``file:///`` URI) as Spark's file sources name it: ``file:/abs/path``, not
    %-encoded (``Path.as_uri()`` encodes spaces and non-ASCII; Spark's paths and ``input_file_name`` do
    not, and ``source`` is computed by comparing the two)."""
    if isinstance(path, Path):
        return "file:" + str(path.absolute())
    if path.startswith("file:///"):
        return "file:/" + path[len("file:///"):]
    if path.startswith("/"):
        return "file:" + path
    return path


def relative_path(path: str, root_uri: str) -> str:
    """``path`` under the corpus root ``root_uri`` (both as Spark names them); unchanged when outside it."""
    prefix = root_uri.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else path


def folder_label(rel: str) -> str | None:
    """The class label of a corpus file: its parent folder (ROOT/<label>/<file>), None at the root."""
    parts = rel.split("/")
    return label_text(parts[-2]) if len(parts) >= 2 else None


def label_text(label: str | None) -> str | None:
    """A label in Unicode's composed form (NFC): ``café`` from a macOS folder (decomposed, NFD) and from a
    Linux one (composed) look the same and are one class, not two."""
    return None if label is None else unicodedata.normalize("NFC", label)


_ESCAPED_BYTE = re.compile(rb"\\x([0-9a-f]{2})")


def unescaped(path: str) -> str:
    """``path`` as written when it exists; else, when it holds ``\\xNN`` and the path with those turned back
    into bytes exists, that one. Names that are not UTF-8 (Latin-1 archives) are written this way where a
    string must cross the JVM (``spark_jobs.common.files.listed_uri``), and may be given so on a command line."""
    if "\\x" in path and not os.path.lexists(path):
        raw = os.fsdecode(_ESCAPED_BYTE.sub(lambda m: bytes([int(m.group(1), 16)]), os.fsencode(path)))
        if os.path.lexists(raw):
            return raw
    return path


def shown(path: str | os.PathLike) -> str:
    """A path as a string that any log, report or JVM can hold: bytes of its name that are not UTF-8 as
    ``\\xNN`` (the form ``unescaped`` reads back)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def require_path(path: str, what: str) -> Path:
    """Return the resolved path or raise a one-line error naming what was expected there.

    Inputs are local (or mounted) folders and files, given as paths or ``file:`` URLs. A remote URL
    (``hdfs://``, ``s3a://``, ...) is refused: the jobs check every input's size on the open file before
    reading it (oversized inputs are quarantined unread), and they walk the folder themselves to list the
    names Spark's sources hide (``_x.png``); neither is done through Hadoop's file systems."""
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", str(path))
    if scheme and scheme.group(1).lower() != "file":
        raise ShardlineError(f"{what} must be a local or mounted path, not a {scheme.group(1)}:// URL: {path} "
                             "(copy or mount the corpus first)")
    if str(path).startswith("file:"):
        path = "/" + str(path)[len("file:"):].lstrip("/")
    p = Path(unescaped(os.path.expanduser(str(path))))
    if not p.exists():
        hint = (" (spark-submit hands a name that is not UTF-8 to the job as U+FFFD: write each such byte as "
                "\\xNN, e.g. caf\\xe9)" if "\ufffd" in str(p) else "")
        raise ShardlineError(f"{what} not found: {shown(p)}{hint}")
    return p.resolve()
