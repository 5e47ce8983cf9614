"""Stage-then-commit for directory outputs (petastorm datasets, models) and pointers: readers never see a
partial one, a committed version is never rewritten, and a commit survives a power cut (the files, the
rename and the folder holding it are fsynced before anything points at them)."""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from shardline.config import ShardlineError

log = logging.getLogger(__name__)
LOCK_TIMEOUT_S = float(os.environ.get("SHARDLINE_LOCK_TIMEOUT_S", "21600"))


@contextmanager
def file_lock(path: Path, what: str, timeout_s: float | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed). Another holder makes this wait, with one
    log line saying so, up to ``timeout_s`` (then a clear error). The kernel releases the lock when its
    holder dies, so a killed writer never leaves it held."""
    timeout_s = LOCK_TIMEOUT_S if timeout_s is None else timeout_s
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline, warned = time.monotonic() + timeout_s, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not warned:
                    log.warning("another writer is writing %s; waiting for it to finish (%s)", what, path)
                    warned = True
                if time.monotonic() > deadline:
                    raise ShardlineError(f"another writer has held {what} for more than {timeout_s:.0f} s ({path}); "
                                         "is a run of the same date stuck?") from None
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)  # releases the lock


def staging_dir(final: Path) -> Path:
    """A fresh folder beside ``final`` (same filesystem, so the commit is a rename)."""
    stage = final.parent / "_staging" / f"{final.name}-{uuid.uuid4().hex[:8]}"
    stage.mkdir(parents=True)
    return stage


def fsync_tree(folder: Path) -> None:
    """Flush every file under ``folder`` and the folders themselves to disk."""
    for dirpath, _, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_dir(stage: Path, final: Path) -> None:
    """Move the complete ``stage`` to ``final`` with one rename, durably. A version is never rewritten in
    place: an existing ``final`` is an error (callers reuse it or pick a new name)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise ShardlineError(f"{final} already exists: a committed version is never replaced")
    fsync_tree(stage)
    try:
        os.rename(stage, final)  # fails rather than replace a non-empty folder that appeared meanwhile
    except OSError as exc:
        raise ShardlineError(f"{final} already exists: a committed version is never replaced ({exc.strerror})") from None
    fsync_dir(final.parent)


def replace_dir(stage: Path, final: Path) -> None:
    """Put the complete ``stage`` (beside ``final``) in place of ``final`` for a page that is rewritten whole
    (a report): the old folder is renamed aside, the new one renamed in, the old one removed. A reader sees the
    old page or the new one, never half of one (for versions that must never be replaced: ``commit_dir``)."""
    old = None
    if final.exists():
        old = final.parent / f".old-{uuid.uuid4().hex[:8]}"
        final.rename(old)
    stage.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def ensure_private_file(path: Path, content: Callable[[], str]) -> Path:
    """A credential file: created 0600 from its first byte (never wider, not even for a moment) with
    ``content()`` when missing; an existing one is kept and narrowed back to 0600 if someone widened it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return path
    with os.fdopen(fd, "w") as fh:
        fh.write(content())
    return path


def open_private_log(path: Path):
    """A log file opened for appending (binary), 0600 from its first byte and narrowed back if widened: logs
    can quote a client's statement or a server's error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    if os.fstat(fd).st_mode & 0o077:
        os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def write_text_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never a part (a uniquely named temporary file, renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())  # the content is on disk before the name points at it
    os.replace(tmp, path)
    fsync_dir(path.parent)  # and the rename itself survives a power cut


def write_json_atomic(path: Path, obj: object) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_pointer(path: Path, value: str) -> None:
    """Move a text pointer (``latest``, ``champion``) atomically."""
    write_text_atomic(path, value + "\n")


def read_pointer(path: Path) -> str | None:
    """The pointer's value; None when there is no pointer. An empty pointer is corrupt (a crash of a writer
    that did not fsync): an error, never "nothing there", so no caller prunes the versions it hid."""
    if not path.exists():
        return None
    value = path.read_text().strip()
    if not value:
        raise ShardlineError(f"{path} is empty (a crash during a write?): write the name of the newest complete "
                             f"version folder beside it into it, or delete it if there is none")
    return value
