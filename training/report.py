"""The HTML model report written into every registered version (``report.html``): the candidate beside
the scikit-learn baseline and the champion it was compared with, the promotion decision, per-class
precision and recall, the confusion matrix picture, training curves and the search trials. One
self-contained file (the picture is embedded), readable offline."""
from __future__ import annotations

import base64
import html
from pathlib import Path

from shardline.storage import write_text_atomic

ROWS = (("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("top_3_accuracy", "top-3 accuracy"),
        ("top_5_accuracy", "top-5 accuracy"), ("calibration_error", "calibration error (ECE)"),
        ("n_test", "test rows"))


def mix_summary(mix: dict) -> str:
    """One line on how a two-headed image model's heads were mixed (``metrics["mix"]``)."""
    def acc(d, k):
        v = (d or {}).get(k)
        return "-" if v is None else f"{v:.4f}"

    val, test = mix.get("accuracy") or {}, mix.get("test_accuracy") or {}
    best = mix.get("best_weight")
    tested = ("" if best is None or best == mix["deep_weight"] else
              f"; the best weight there, {best:.2f}, was not right on significantly more rows than the joint "
              f"head (sign test p {mix.get('p_value')})")
    return (f"weight {mix['deep_weight']:.2f} on the network alone, {1 - mix['deep_weight']:.2f} on the network "
            f"with its wide branch (pixels + HOG), chosen on {mix.get('rows', 0)} validation rows (accuracy there: "
            f"network {acc(val, 'deep')}, with the wide branch {acc(val, 'joint')}, mix {acc(val, 'mixed')}"
            f"{tested}); on the test split the network alone {acc(test, 'deep')}, with the wide branch "
            f"{acc(test, 'joint')}")


def _fmt(value) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def _table(head: list[str], rows: list[list]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows]
    return "\n".join(out + ["</table>"])


def render(meta: dict, metrics: dict, labels: list[str], confusion_png: bytes | None, search: dict | None) -> str:
    baseline = metrics.get("baseline") or {}
    champion = (metrics.get("promotion") or {}).get("champion_metrics") or {}
    champ_name = (metrics.get("promotion") or {}).get("champion") or "none"
    parts = [f"<h1>{html.escape(meta['kind'])} model {html.escape(meta['version'])}</h1>",
             f"<p>dataset {html.escape(str(meta.get('dataset_version')))}, date {html.escape(str(meta.get('dt')))}, "
             f"saved {html.escape(str(meta.get('saved_at')))}, workers {meta.get('workers')}, GPUs {meta.get('gpus')}</p>"]
    if meta.get("flavour") == "sklearn":
        parts.append(f"<p>The scikit-learn baseline {html.escape(str(meta.get('name')))}, registered in place of "
                     f"the refused network {html.escape(str(metrics.get('refused_network')))}.</p>")
    promotion = metrics.get("promotion") or {}
    parts.append(f"<p><b>{'promoted' if promotion.get('promoted') else 'not promoted'}</b>: "
                 f"{html.escape(str(promotion.get('reason', '')))}</p>")
    parts.append("<h2>Test split</h2>")
    parts.append(_table(["metric", "this model", f"baseline ({baseline.get('name', '-')})",
                         f"champion ({champ_name})", "majority class"],
                        [[title, metrics.get(key), baseline.get(key), champion.get(key),
                          metrics.get("majority_baseline_accuracy") if key == "accuracy" else None]
                         for key, title in ROWS]))
    if metrics.get("mix"):
        parts.append(f"<p>Mix: {html.escape(mix_summary(metrics['mix']))}.</p>")
    per = metrics.get("per_class") or {}
    base_per = baseline.get("per_class") or {}
    parts.append("<h2>Per label</h2>")
    parts.append(_table(["label", "support", "precision", "recall", "baseline precision", "baseline recall"],
                        [[label, per.get(label, {}).get("support"), per.get(label, {}).get("precision"),
                          per.get(label, {}).get("recall"), base_per.get(label, {}).get("precision"),
                          base_per.get(label, {}).get("recall")] for label in labels]))
    if confusion_png:
        parts.append("<h2>Confusion matrix</h2><p>rows: true label, columns: predicted</p>")
        parts.append(f'<img alt="confusion matrix" src="data:image/png;base64,'
                     f'{base64.b64encode(confusion_png).decode()}">')
    history = metrics.get("history") or {}
    if history:
        keys = sorted(history)
        n = max(len(v) for v in history.values())
        parts.append("<h2>Training</h2>")
        parts.append(f"<p>seconds per epoch: {html.escape(str(metrics.get('epoch_seconds')))}; "
                     f"samples/s: {_fmt(metrics.get('train_samples_per_second'))}</p>")
        from training.curves import curves_svg

        parts.append(f"<figure>{curves_svg(history)}</figure>")
        parts.append("<details><summary>the figures by epoch</summary>" + _table(
            ["epoch", *keys], [[e + 1, *[history[k][e] if e < len(history[k]) else None for k in keys]]
                               for e in range(n)]) + "</details>")
    if search:
        parts.append(f"<h2>Hyperparameter search ({search['n_trials']} trials of {search['trial_epochs']} "
                     f"epochs, by validation accuracy)</h2>")
        parts.append(_table(["trial", "params", "epochs run", "val accuracy", "seconds"],
                            [[t["trial"], t["params"], t["epochs_run"], t["val_accuracy"], t["seconds"]]
                             for t in search["trials"]]))
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#eee}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(meta['version'])}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def write_report(path: Path, meta: dict, metrics: dict, labels: list[str], confusion: Path | None,
                 search: dict | None = None) -> None:
    png = confusion.read_bytes() if confusion and confusion.exists() else None
    write_text_atomic(path, render(meta, metrics, labels, png, search))
