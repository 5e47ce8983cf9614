"""Per-run cleaning reports: JSON for machines, an HTML page (inline SVG charts) for people.

Written to ``<data>/reports/<job>/dt=<date>/`` by staging a complete folder and renaming it into place,
so a rerun replaces the date's report whole and a reader never sees half of one. All numbers come from
small Spark aggregations over the run's flagged records (never a collect of the corpus).
"""
from __future__ import annotations

import html
import json
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from shardline.config import Paths, ShardlineError
from shardline.storage import replace_dir
from spark_jobs.common.job import Counts

log = logging.getLogger(__name__)


def report_dir(paths: Paths, job: str, dt: str) -> Path:
    return paths.home / "reports" / job / f"dt={dt}"


def summarize(flagged: DataFrame, counts: Counts) -> dict:
    """Totals, counts per reason and per label (kept / quarantined / by reason): one small aggregation,
    checked against the ``counts`` the run wrote."""
    rows = flagged.groupBy("label", "reason").count().collect()
    reasons: dict[str, int] = {}
    labels: dict[str, dict] = {}
    kept = rejected = 0
    for r in rows:
        label = "(none)" if r["label"] is None else r["label"]
        entry = labels.setdefault(label, {"kept": 0, "quarantined": 0, "by_reason": {}})
        if r["reason"] is None:
            entry["kept"] += r["count"]
            kept += r["count"]
        else:
            entry["quarantined"] += r["count"]
            entry["by_reason"][r["reason"]] = entry["by_reason"].get(r["reason"], 0) + r["count"]
            reasons[r["reason"]] = reasons.get(r["reason"], 0) + r["count"]
            rejected += r["count"]
    totals = {"in": kept + rejected, "kept": kept, "quarantined": rejected}
    if totals != {"in": counts.records_in, "kept": counts.records_out, "quarantined": counts.records_quarantined}:
        raise ShardlineError(f"report totals {totals} disagree with the written counts {counts}")
    return {"totals": totals,
            "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            "labels": dict(sorted(labels.items()))}


def histogram(df: DataFrame, value: Column, edges: Sequence[float]) -> list[dict]:
    """Counts of ``value`` in [edges[i], edges[i+1]); the last bin is open-ended, nulls are skipped."""
    idx = F.lit(len(edges) - 1)
    for i in range(len(edges) - 2, -1, -1):
        idx = F.when(value < F.lit(edges[i + 1]), F.lit(i)).otherwise(idx)
    counts = {r["_bin"]: r["count"] for r in
              df.filter(value.isNotNull()).groupBy(idx.alias("_bin")).count().collect()}
    return [{"from": edges[i], "to": edges[i + 1] if i + 1 < len(edges) else None, "count": counts.get(i, 0)}
            for i in range(len(edges))]


def samples(flagged: DataFrame, by: str, n: int, order: Sequence[str] = ("id",),
            cols: Sequence[str] = ("id", "source", "detail")) -> dict[str, list[dict]]:
    """The first ``n`` records (by ``order``) of each value of ``by``: a deterministic sample."""
    w = Window.partitionBy(by).orderBy(*order)
    rows = (flagged.filter(F.col(by).isNotNull()).withColumn("_rn", F.row_number().over(w))
            .filter(F.col("_rn") <= n).select(by, *cols, "_rn").collect())
    out: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: (r[by], r["_rn"])):
        out.setdefault(r[by], []).append({c: r[c] for c in cols})
    return out


def publish(paths: Paths, job: str, dt: str, report: dict, files: dict[str, bytes] | None = None) -> Path:
    """Write report.json, report.html and ``files`` (e.g. a contact sheet) for the date, atomically."""
    final = report_dir(paths, job, dt)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = final.parent / f".stage-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    (stage / "report.json").write_text(json.dumps(report, indent=2, sort_keys=False, default=str) + "\n")
    # a name that is not UTF-8 is shown as \xNN, never a crash of the job after its data is written
    page = render_html(report, sorted(files or {})).encode("utf-8", "surrogateescape")
    (stage / "report.html").write_text(page.decode("utf-8", "backslashreplace"))
    for name, data in (files or {}).items():
        (stage / name).write_bytes(data)
    replace_dir(stage, final)
    log.info("report: %s", (final / "report.html").as_uri())
    return final


def _bars(items: Sequence[tuple[str, int]], width: int = 560) -> str:
    """A horizontal bar chart as inline SVG (no scripts, opens anywhere)."""
    if not items:
        return "<p><em>none</em></p>"
    top = max(v for _, v in items) or 1
    row, label_w = 22, 170
    parts = [f'<svg width="{width}" height="{row * len(items) + 4}" role="img">']
    for i, (name, v) in enumerate(items):
        y = i * row + 2
        w = int((width - label_w - 70) * v / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{html.escape(str(name))}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1)}" height="16" fill="#4c78a8"/>'
                     f'<text x="{label_w + w + 6}" y="{y + 15}">{v:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bin_name(b: dict) -> str:
    lo = f"{b['from']:g}"
    return f"{lo}-{b['to']:g}" if b["to"] is not None else f"≥{lo}"


def render_html(report: dict, images: Sequence[str] = ()) -> str:
    t = report["totals"]
    title = f"{report.get('job', 'cleaning')} report, {report.get('dt', '')}"
    out = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
           "<style>body{font:14px sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}"
           "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
           "td:first-child{text-align:left}svg text{font:12px sans-serif}</style>",
           f"<h1>{html.escape(title)}</h1>",
           f"<p>input: <code>{html.escape(str(report.get('input', '')))}</code> &middot; run "
           f"<code>{html.escape(str(report.get('run_id', '')))}</code></p>",
           f"<p><b>{t['in']:,}</b> in = <b>{t['kept']:,}</b> kept + <b>{t['quarantined']:,}</b> quarantined</p>"]
    if "before_after" in report:
        out.append("<h2>Before / after</h2><table><tr><th></th><th>before</th><th>after</th></tr>")
        for k, v in report["before_after"].items():
            out.append(f"<tr><td>{html.escape(k)}</td><td>{v['before']:,}</td><td>{v['after']:,}</td></tr>")
        out.append("</table>")
    out += ["<h2>Quarantined, by reason</h2>", _bars(list(report["reasons"].items()))]
    out.append("<h2>By label</h2><table><tr><th>label</th><th>kept</th><th>quarantined</th><th>reasons</th></tr>")
    for label, e in report["labels"].items():
        why = ", ".join(f"{k} {v:,}" for k, v in sorted(e["by_reason"].items()))
        out.append(f"<tr><td>{html.escape(label)}</td><td>{e['kept']:,}</td><td>{e['quarantined']:,}</td>"
                   f"<td style='text-align:left'>{html.escape(why)}</td></tr>")
    out.append("</table>")
    for name, bins in report.get("histograms", {}).items():
        out += [f"<h2>{html.escape(name)}</h2>", _bars([(_bin_name(b), b["count"]) for b in bins])]
    for name in images:
        if name.endswith(".png"):
            out += [f"<h2>{html.escape(name)}</h2>", f"<img src='{html.escape(name)}' style='max-width:100%'>"]
    if report.get("config"):
        out += ["<h2>Settings</h2>", f"<pre>{html.escape(json.dumps(report['config'], indent=2))}</pre>"]
    return "\n".join(out) + "\n"
