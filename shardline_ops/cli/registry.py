"""`shardline datasets ...` and `shardline models ...`: the published dataset versions and the model registry."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from shardline.config import ShardlineError


def cmd_datasets(args: argparse.Namespace) -> int:
    from shardline.datasets import KINDS, list_versions, read_manifest, read_validation

    paths = args.paths
    kinds = [args.kind] if args.kind else list(KINDS)
    if args.action == "list":
        rows = [v for kind in kinds for v in list_versions(paths, kind)]
        if not rows:
            print(f"no published datasets under {paths.datasets}")
            return 0
        print(f"{'kind':<6} {'version':<13} {'dt':<11} {'train':>7} {'val':>6} {'test':>6} {'status':<12} pointers")
        for v in rows:
            pointers = ",".join(p for p in ("latest", "candidate") if v[p])
            print(f"{v['kind']:<6} {v['version']:<13} {v['dt']:<11} {v['rows']['train']:>7} {v['rows']['val']:>6} "
                  f"{v['rows']['test']:>6} {v['status']:<12} {pointers}")
        return 0
    if args.action == "show":
        if not args.version:
            raise ShardlineError("datasets show needs a VERSION (see `shardline datasets list`)")
        matches = [k for k in kinds if (paths.datasets / k / args.version / "manifest.json").exists()]
        if not matches:
            raise ShardlineError(f"no dataset version {args.version!r} under {paths.datasets}")
        kind = matches[0]
        print(json.dumps({"manifest": read_manifest(paths, kind, args.version),
                          "validation": read_validation(paths, kind, args.version)}, indent=2))
        return 0
    from spark_jobs.validate_dataset import gate

    if not args.kind:
        raise ShardlineError("datasets validate needs --kind image|text")
    result = gate(paths, args.kind, args.version)
    print(f"{args.kind} dataset {result['version']} passed validation and is now latest")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from training import registry

    paths = args.paths
    kinds = [args.kind] if args.kind else list(registry.KINDS)
    if args.action == "list":
        rows = [m for kind in kinds for m in registry.list_models(paths, kind)]
        if not rows:
            print(f"no registered models under {paths.models}")
            return 0
        print(f"{'kind':<6} {'version':<30} {'dataset':<13} {'accuracy':>8} {'macro_f1':>8}  champion")
        for m in rows:
            acc = "-" if m["accuracy"] is None else f"{m['accuracy']:.4f}"
            f1 = "-" if m["macro_f1"] is None else f"{m['macro_f1']:.4f}"
            print(f"{m['kind']:<6} {m['version']:<30} {str(m['dataset_version']):<13} {acc:>8} {f1:>8}  "
                  f"{'*' if m['champion'] else ''}")
        return 0
    if not args.kind:
        raise ShardlineError(f"models {args.action} needs --kind image|text")
    if args.action == "show":
        version = args.version or registry.champion(paths, args.kind)
        if version is None:
            raise ShardlineError(f"no {args.kind} champion yet; name a VERSION")
        meta = registry.read_model(paths, args.kind, version)
        meta["metrics"].pop("history", None)
        meta["champion"] = registry.champion(paths, args.kind) == version
        if args.json:
            print(json.dumps(meta, indent=2))
        else:
            print(describe_model(meta, registry.kind_root(paths, args.kind) / version))
        return 0
    if args.action == "promote":
        if not args.version:
            raise ShardlineError("models promote needs a VERSION (see `shardline models list`)")
        registry.promote(paths, args.kind, args.version, reason="promoted by hand")
        print(f"{args.kind} champion is now {args.version}")
        return 0
    restored = registry.rollback(paths, args.kind)
    print(f"{args.kind} champion rolled back to {restored}")
    return 0


def describe_model(meta: dict, folder: Path) -> str:
    """``models show``: the version, the decision, the candidate beside its baseline and champion, the
    per-label figures and where the report is."""
    m = meta["metrics"]
    base = m.get("baseline") or {}
    promo = m.get("promotion") or {}
    champ = promo.get("champion_metrics") or {}

    def f(v):
        return "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

    lines = [f"{meta['kind']} model {meta['version']}{'  (champion)' if meta.get('champion') else ''}",
             f"dataset {meta.get('dataset_version')}  date {meta.get('dt')}  saved {meta.get('saved_at')}",
             f"{'promoted' if promo.get('promoted') else 'not promoted'}: {promo.get('reason', '-')}", "",
             f"{'test split':<24} {'model':>8} {'baseline':>9} {'champion':>9}"]
    if meta.get("flavour") == "sklearn":
        lines.insert(1, f"the scikit-learn baseline {meta.get('name')}, registered in place of the refused "
                        f"network {m.get('refused_network', '-')}")
    from shardline_ops.results import printable  # labels come from the corpus
    from training.report import ROWS, mix_summary  # the report's rows, in the same order

    for key, title in ROWS:
        lines.append(f"{title:<24} {f(m.get(key)):>8} {f(base.get(key)):>9} {f(champ.get(key)):>9}")
    lines.append(f"baseline: {base.get('name', '-')}; champion compared: {promo.get('champion') or 'none'}; "
                 f"majority class {f(m.get('majority_baseline_accuracy'))}")
    if m.get("mix"):
        lines.append(f"mix: {mix_summary(m['mix'])}")
    per = m.get("per_class") or {}
    if per:
        lines += ["", f"{'label':<24} {'support':>7} {'precision':>9} {'recall':>7} {'baseline recall':>15}"]
        for label, row in per.items():
            b = (base.get("per_class") or {}).get(label, {}).get("recall")
            lines.append(f"{printable(label)[:24]:<24} {row['support']:>7} {row['precision']:>9.3f} {row['recall']:>7.3f} "
                         f"{'-' if b is None else f'{b:.3f}':>15}")
    if m.get("epoch_seconds"):
        lines.append(f"\ntraining: {len(m['epoch_seconds'])} epochs, {sum(m['epoch_seconds']) / len(m['epoch_seconds']):.1f} "
                     f"s per epoch, {m.get('train_samples_per_second') or 0:.0f} samples/s")
    if m.get("search"):
        lines.append(f"search: {m['search']['n_trials']} trials, best {m['search']['best']['params']} "
                     f"(val accuracy {m['search']['best']['val_accuracy']})")
    report = folder / "report.html"
    lines.append(f"report: {report}" if report.exists() else "report: none (registered before reports)")
    return "\n".join(lines)



def add_parsers(sub) -> None:
    datasets = sub.add_parser("datasets", help="list, show or validate published dataset versions")
    datasets.add_argument("action", choices=["list", "show", "validate"])
    datasets.add_argument("version", nargs="?", help="version id (show; validate defaults to the candidate)")
    datasets.add_argument("--kind", choices=["image", "text"])
    datasets.set_defaults(func=cmd_datasets)

    models = sub.add_parser("models", help="list, show, promote or roll back registered models")
    models.add_argument("action", choices=["list", "show", "promote", "rollback"])
    models.add_argument("version", nargs="?", help="model version (show: default champion; promote: required)")
    models.add_argument("--kind", choices=["image", "text"])
    models.add_argument("--json", action="store_true", help="show: model.json and metrics.json as JSON")
    models.set_defaults(func=cmd_models)
