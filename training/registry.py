"""The model registry on disk: ``<data>/models/<kind>/<version>/`` plus a ``champion`` alias.

A version folder holds model.keras, saved_model/ (for TF Serving), labels.json, config.json,
metrics.json and model.json (name, version, dataset and code version). Versions appear by rename,
complete. ``champion`` is a pointer file moved atomically; ``champion_history.json`` records every move,
so ``rollback`` can restore the previous champion.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from shardline.config import Paths, ShardlineError, version_name
from shardline.storage import read_pointer, write_json_atomic, write_pointer

KINDS = ("image", "text")


def kind_root(paths: Paths, kind: str) -> Path:
    if kind not in KINDS:
        raise ShardlineError(f"model kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return paths.models / kind


def champion(paths: Paths, kind: str) -> str | None:
    return read_pointer(kind_root(paths, kind) / "champion")


def read_model(paths: Paths, kind: str, version: str) -> dict:
    folder = kind_root(paths, kind) / version_name(version, f"{kind} model")
    if not (folder / "model.json").exists():
        raise ShardlineError(f"no {kind} model version {version!r} under {folder.parent}")
    out = json.loads((folder / "model.json").read_text())
    metrics = folder / "metrics.json"
    out["metrics"] = json.loads(metrics.read_text()) if metrics.exists() else {}
    return out


def list_models(paths: Paths, kind: str) -> list[dict]:
    root = kind_root(paths, kind)
    if not root.exists():
        return []
    current = champion(paths, kind)
    rows = []
    for folder in root.iterdir():
        if folder.name.startswith(("_", ".")) or not (folder / "model.json").exists():
            continue
        meta = read_model(paths, kind, folder.name)
        rows.append({"kind": kind, "version": folder.name, "name": meta["name"], "dt": meta.get("dt"),
                     "dataset_version": meta.get("dataset_version"), "saved_at": meta.get("saved_at", ""),
                     "accuracy": meta["metrics"].get("accuracy"), "macro_f1": meta["metrics"].get("macro_f1"),
                     "champion": folder.name == current})
    return sorted(rows, key=lambda r: (r["saved_at"], r["version"]))


def _history_path(paths: Paths, kind: str) -> Path:
    return kind_root(paths, kind) / "champion_history.json"


def history(paths: Paths, kind: str) -> list[dict]:
    path = _history_path(paths, kind)
    return json.loads(path.read_text()) if path.exists() else []


def promote(paths: Paths, kind: str, version: str, reason: str) -> None:
    read_model(paths, kind, version)  # must exist and be complete
    current = champion(paths, kind)
    if current == version:
        return
    now = _dt.datetime.now(_dt.timezone.utc).isoformat()
    entries = history(paths, kind)
    if current and (not entries or entries[-1]["version"] != current):  # a champion set outside promote()
        entries.append({"version": current, "reason": "champion before this history", "at": now})
    entries.append({"version": version, "reason": reason, "at": now})
    write_json_atomic(_history_path(paths, kind), entries)
    write_pointer(kind_root(paths, kind) / "champion", version)


def rollback(paths: Paths, kind: str) -> str:
    """Make the champion before the current one champion again (recorded as a move of its own)."""
    current = champion(paths, kind)
    previous = [e["version"] for e in history(paths, kind) if e["version"] != current
                and (kind_root(paths, kind) / e["version"] / "model.json").exists()]
    if not previous:
        raise ShardlineError(f"no earlier {kind} champion to roll back to (current: {current or 'none'})")
    promote(paths, kind, previous[-1], reason=f"rollback from {current}")
    return previous[-1]
