"""The validation gate between publishing and training; the only thing that moves a dataset's ``latest``.

Checks a published candidate version: schema of every split against ``schemas/``, minimum rows per split
and per label, no nulls (from Parquet footer statistics), and drift against the current ``latest``
(PSI of the label distribution and of the payload-size histogram). On success ``latest`` moves and old
versions beyond the retention are removed; on failure the result is written to the version's
``validation.json``, ``latest`` stays, and one line names each failed check and its numbers.
Plain Python (pyarrow reads footers only), so it runs as a fast Airflow task without Spark.

    python -m spark_jobs.validate_dataset --kind image [--version V]
"""
from __future__ import annotations

import argparse
import datetime as _dt
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from schemas.datasets import SCHEMAS, SPLITS
from shardline.config import Paths, ShardlineError
from shardline.datasets import apply_retention, kind_root, read_manifest, write_validation
from shardline.settings import GateSettings, add_setting_flags, parse_args
from shardline.storage import read_pointer, write_pointer

log = logging.getLogger(__name__)
ARROW_TYPES = {"string": "string", "binary": "binary", "int": "int32", "bigint": "int64", "double": "double"}


def psi(expected: list[float], actual: list[float], eps: float = 1e-4) -> float:
    """Population stability index between two count vectors over the same bins."""
    e_total, a_total = sum(expected) or 1, sum(actual) or 1
    value = 0.0
    for e, a in zip(expected, actual):
        pe, pa = max(e / e_total, eps), max(a / a_total, eps)
        value += (pa - pe) * math.log(pa / pe)
    return value


def check_schema(manifest: dict, folder: Path) -> list[str]:
    import pyarrow.parquet as pq

    expected = {f.name: ARROW_TYPES[f.dataType.simpleString()]
                for f in SCHEMAS[manifest["kind"]].as_spark_schema().fields}
    problems = []
    for split in SPLITS:
        files = sorted((folder / split).glob("*.parquet"))
        if not files:
            problems.append(f"{split} has no Parquet files")
            continue
        schema = pq.read_schema(files[0])
        got = {name: str(schema.field(name).type) for name in schema.names}
        if got != expected:
            problems.append(f"{split} columns {got} != expected {expected}")
    return problems


def check_rows(manifest: dict, cfg: GateSettings) -> list[str]:
    """Rows per split and per label. Labels that publishing left out as rare (``rare_labels`` in the
    manifest) are reported, not failed on; the gate fails when fewer than two usable labels remain, a
    split is empty, or (policy ``fail``) any label is rarer than ``min_train_rows_per_label``."""
    minimum = {"train": cfg.min_train_rows, "val": cfg.min_val_rows, "test": cfg.min_test_rows}
    problems = [f"{s} has {manifest['rows'][s]} rows < {minimum[s]}" for s in SPLITS if manifest["rows"][s] < minimum[s]]
    rare = manifest.get("rare_labels") or {}
    usable = [label for label in manifest["labels"] if label not in rare]
    if len(usable) < 2:
        problems.append(f"{len(usable)} usable labels < 2 (labels with at least "
                        f"{cfg.min_train_rows_per_label} train rows; rare: {rare or 'none'})")
    for label in manifest["labels"]:
        n = manifest["counts"]["train"].get(label, 0)
        if n < cfg.min_train_rows_per_label:
            problems.append(f"label {label!r} has {n} train rows < {cfg.min_train_rows_per_label}")
    if cfg.rare_labels == "fail":
        problems += [f"label {label!r} has {n} train rows < {cfg.min_train_rows_per_label} (rare_labels = fail)"
                     for label, n in sorted(rare.items()) if label not in manifest["labels"]]
    return problems


def check_nulls(manifest: dict, folder: Path) -> list[str]:
    """Null counts from Parquet footer statistics; a column chunk without them is read and counted."""
    import pyarrow.parquet as pq

    nulls: dict[str, int] = {}
    for split in SPLITS:
        for f in sorted((folder / split).glob("*.parquet")):
            pf = pq.ParquetFile(f)
            for g in range(pf.metadata.num_row_groups):
                group = pf.metadata.row_group(g)
                for c in range(group.num_columns):
                    col = group.column(c)
                    stats = col.statistics
                    if stats is not None and stats.has_null_count:
                        n = stats.null_count
                    else:
                        n = pf.read_row_group(g, columns=[col.path_in_schema]).column(0).null_count
                    if n:
                        key = f"{split}.{col.path_in_schema}"
                        nulls[key] = nulls.get(key, 0) + n
    return [f"{key} has {n} nulls" for key, n in sorted(nulls.items())]


def check_drift(manifest: dict, previous: dict | None, cfg: GateSettings) -> tuple[list[str], dict]:
    if previous is None:
        return [], {"note": "no previous version: drift not checked"}
    labels = sorted(set(manifest["labels"]) | set(previous["labels"]))

    def label_counts(m):
        return [sum(m["counts"][s].get(label, 0) for s in SPLITS) for label in labels]

    def size_counts(m):
        return [sum(m["size_histogram"][s][i] for s in SPLITS) for i in range(len(m["size_histogram"]["train"]))]

    label_psi = psi(label_counts(previous), label_counts(manifest))
    figures = {"previous": previous["version"], "label_psi": round(label_psi, 4)}
    problems = []
    if label_psi > cfg.max_label_psi:
        problems.append(f"label distribution PSI {label_psi:.3f} > {cfg.max_label_psi} vs {previous['version']}")
    if "size_histogram" not in previous:  # published before sizes were recorded
        figures["size_psi"] = None
        return problems, figures
    if previous.get("encoding", "png") != manifest.get("encoding", "png"):
        figures["size_psi"] = None  # payload sizes of PNG and raw pixels are not comparable
        figures["note"] = f"encoding changed {previous.get('encoding', 'png')} -> {manifest.get('encoding')}"
        return problems, figures
    size_psi = psi(size_counts(previous), size_counts(manifest))
    figures["size_psi"] = round(size_psi, 4)
    if size_psi > cfg.max_size_psi:
        problems.append(f"payload-size distribution PSI {size_psi:.3f} > {cfg.max_size_psi} vs {previous['version']}")
    return problems, figures


def validate(paths: Paths, kind: str, version: str, cfg: GateSettings) -> dict:
    manifest = read_manifest(paths, kind, version)
    folder = kind_root(paths, kind) / version
    latest = read_pointer(kind_root(paths, kind) / "latest")
    previous = read_manifest(paths, kind, latest) if latest and (kind_root(paths, kind) / latest).exists() else None
    drift_problems, drift = check_drift(manifest, previous, cfg)
    checks = {"schema": check_schema(manifest, folder), "min_rows": check_rows(manifest, cfg),
              "nulls": check_nulls(manifest, folder), "drift": drift_problems}
    return {
        "kind": kind, "version": version,
        "status": "passed" if not any(checks.values()) else "failed",
        "checks": {name: {"ok": not problems, "problems": problems} for name, problems in checks.items()},
        "drift": drift, "config": asdict(cfg),
        "rare_labels": manifest.get("rare_labels") or {}, "rare_label": manifest.get("rare_label", 0),
        "validated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
    }


def gate(paths: Paths, kind: str, version: str | None = None, cfg: GateSettings | None = None) -> dict:
    """Validate ``version`` (default: the candidate); on success move ``latest`` and apply retention."""
    cfg = cfg or GateSettings()
    root = kind_root(paths, kind)
    version = version or read_pointer(root / "candidate")
    if version is None:
        raise ShardlineError(f"no published {kind} dataset to validate under {root}: run publish_dataset first")
    result = validate(paths, kind, version, cfg)
    write_validation(paths, kind, version, result)
    if result["status"] != "passed":
        failed = [f"{name}: {'; '.join(c['problems'])}" for name, c in result["checks"].items() if not c["ok"]]
        latest = read_pointer(root / "latest")
        raise ShardlineError(f"{kind} dataset {version} failed validation ({' | '.join(failed)}); "
                             f"latest stays {latest or 'unset'}")
    write_pointer(root / "latest", version)
    result["removed"] = apply_retention(paths, kind, cfg.keep_versions)
    log.info("%s dataset %s passed validation and is now latest (drift %s)", kind, version, result["drift"])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="validate_dataset", description=__doc__.splitlines()[0])
    p.add_argument("--kind", required=True, choices=sorted(SCHEMAS))
    p.add_argument("--version", default=None, help="version to validate (default: the candidate)")
    add_setting_flags(p, "gate")
    args = parse_args(p, argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        gate(Paths.from_env(), args.kind, args.version, args.settings.gate)
    except (ShardlineError, ValueError) as exc:
        print(f"error: validate_dataset: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
