"""The dataset registry on disk: ``<data>/datasets/<kind>/<version>/`` plus pointer files.

A version folder appears only by rename after its ``manifest.json`` is written, so every folder listed
here is complete. ``candidate`` names the last published version, ``latest`` the last one that passed
the validation gate; only ``latest`` is what training reads.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from shardline.config import Paths, ShardlineError, version_name
from shardline.storage import read_pointer, write_json_atomic

log = logging.getLogger(__name__)
KINDS = ("image", "text")


def kind_root(paths: Paths, kind: str) -> Path:
    if kind not in KINDS:
        raise ShardlineError(f"dataset kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return paths.datasets / kind


def version_dir(paths: Paths, kind: str, version: str) -> Path:
    """A version's folder; ``version`` is one folder name, never a path (``version_name``)."""
    return kind_root(paths, kind) / version_name(version, f"{kind} dataset")


def read_manifest(paths: Paths, kind: str, version: str) -> dict:
    path = version_dir(paths, kind, version) / "manifest.json"
    if not path.exists():
        raise ShardlineError(f"no {kind} dataset version {version!r} under {path.parent.parent}")
    return json.loads(path.read_text())


def read_validation(paths: Paths, kind: str, version: str) -> dict | None:
    path = version_dir(paths, kind, version) / "validation.json"
    return json.loads(path.read_text()) if path.exists() else None


def write_validation(paths: Paths, kind: str, version: str, result: dict) -> None:
    write_json_atomic(version_dir(paths, kind, version) / "validation.json", result)


def list_versions(paths: Paths, kind: str) -> list[dict]:
    """Complete versions of ``kind``, oldest first, each with its pointers and gate status."""
    root = kind_root(paths, kind)
    if not root.exists():
        return []
    latest, candidate = read_pointer(root / "latest"), read_pointer(root / "candidate")
    out = []
    for folder in root.iterdir():
        if folder.name.startswith(("_", ".")) or not (folder / "manifest.json").exists():
            continue
        manifest = json.loads((folder / "manifest.json").read_text())
        validation = read_validation(paths, kind, folder.name) or {}
        out.append({"kind": kind, "version": folder.name, "dt": manifest.get("dt"),
                    "published_at": manifest.get("published_at"), "rows": manifest.get("rows"),
                    "status": validation.get("status", "unvalidated"),
                    "latest": folder.name == latest, "candidate": folder.name == candidate})
    return sorted(out, key=lambda v: (v["published_at"] or "", v["version"]))


def apply_retention(paths: Paths, kind: str, keep: int) -> list[str]:
    """Delete the oldest versions beyond ``keep``; ``latest`` and ``candidate`` are never deleted."""
    if keep < 1:
        raise ShardlineError(f"retention must keep at least 1 version, got {keep}")
    versions = list_versions(paths, kind)
    removable = [v for v in versions if not (v["latest"] or v["candidate"])]
    excess = len(versions) - keep
    removed = []
    for v in removable[:max(0, excess)]:
        shutil.rmtree(kind_root(paths, kind) / v["version"])
        removed.append(v["version"])
    if removed:
        log.info("retention: removed %s versions %s (keeping %d)", kind, removed, keep)
    return removed


def clean_stale_staging(paths: Paths, kind: str) -> None:
    """Leftovers of killed publishes: never visible to readers, removed before the next publish."""
    staging = kind_root(paths, kind) / "_staging"
    if staging.exists():
        shutil.rmtree(staging, ignore_errors=True)
