"""Stage-then-commit for directory outputs (petastorm datasets, models): readers never see a partial one."""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path


def staging_dir(final: Path) -> Path:
    """A fresh folder beside ``final`` (same filesystem, so the commit is a rename)."""
    stage = final.parent / "_staging" / f"{final.name}-{uuid.uuid4().hex[:8]}"
    stage.mkdir(parents=True)
    return stage


def commit_dir(stage: Path, final: Path) -> None:
    """Move ``stage`` to ``final``, replacing an older copy; the swap is two renames."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = final.parent / "_staging" / f"{final.name}-old-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
    os.replace(stage, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never a part (a uniquely named temporary file, renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: object) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_pointer(path: Path, value: str) -> None:
    """Move a text pointer (``latest``, ``champion``) atomically."""
    write_text_atomic(path, value + "\n")


def read_pointer(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None
