"""The nightly report: one self-contained page that says what a night did, with numbers from the warehouse.

``<data>/reports/night/dt=<date>/index.html``, written by the DAG's last task on every run (a teardown: it
runs whether the night succeeded or not, and does not change the run's outcome) and by
``shardline report --date D``. Sections: the jobs with status and duration; records in / kept / quarantined
per stage and by reason, against the previous night; duplicates; each kind's dataset version and gate verdict
with its drift; the model against its baseline and the champion; plots of held-out accuracy over the last 30
nights, prediction drift and the training curves (matplotlib, inline SVG); links to each job's report, the
contact sheet and the model reports. Every figure is read from ``ml.*`` (DuckDB, the query sandbox) and the
dataset and model folders; nothing is recomputed.
"""
from __future__ import annotations

import html
import json
import uuid
from pathlib import Path

from shardline.config import Paths
from shardline.storage import replace_dir

KINDS = ("image", "text")
SECTIONS = ("jobs", "records", "duplicates", "datasets", "models", "plots", "links")
DUPLICATE_REASONS = ("duplicate", "near_duplicate", "duplicate_id")


def report_dir(paths: Paths, dt: str) -> Path:
    return paths.home / "reports" / "night" / f"dt={dt}"


def _rows(con, sql: str) -> list[dict]:
    rel = con.sql(sql)
    return [dict(zip(rel.columns, r)) for r in rel.fetchall()]


def gather(paths: Paths, dt: str) -> dict:
    """Everything the page shows, as plain data (tests read this too)."""
    from shardline_ops import duck

    data: dict = {"dt": dt}
    with duck.connected(paths) as con:
        q = lambda sql: _rows(con, sql)  # noqa: E731
        data["jobs"] = q(f"""SELECT job, status, started_at, finished_at,
                                 date_diff('millisecond', started_at, finished_at) / 1000.0 AS seconds,
                                 records_in, records_out, records_quarantined
                          FROM ml.job_runs WHERE dt = '{dt}'
                          QUALIFY row_number() OVER (PARTITION BY job ORDER BY finished_at DESC) = 1 ORDER BY started_at""")
        data["scoring"] = q(f"""SELECT kind, status, rows_in, rows_out, rows_quarantined, duration_s, model_version, error
                             FROM ml.scoring_runs WHERE dt = '{dt}'
                             QUALIFY row_number() OVER (PARTITION BY kind ORDER BY finished_at DESC) = 1 ORDER BY kind""")
        prev = q(f"SELECT max(dt) AS d FROM ml.job_runs WHERE dt < '{dt}'")
        data["previous_dt"] = prev[0]["d"] if prev else None
        dates = [dt] + ([data["previous_dt"]] if data["previous_dt"] else [])
        data["quarantine"] = q(f"""SELECT stage, reason, dt, count(*) AS n FROM ml.quarantine
                                WHERE dt IN ({', '.join(repr(d) for d in dates)}) GROUP BY ALL ORDER BY stage, reason""")
        data["previous_jobs"] = q(f"""SELECT job, records_in, records_out, records_quarantined FROM ml.job_runs
                                   WHERE dt = '{data['previous_dt']}' AND status = 'success'
                                   QUALIFY row_number() OVER (PARTITION BY job ORDER BY finished_at DESC) = 1""") \
            if data["previous_dt"] else []
        data["accuracy"] = q(f"""WITH a AS (SELECT kind, dt, sum(n_correct) / sum(n_labeled) AS accuracy,
                                             sum(n_labeled) AS n
                                      FROM ml.prediction_accuracy WHERE split IN ('test', 'unseen') AND dt <= '{dt}'
                                      GROUP BY kind, dt)
                              SELECT * FROM a QUALIFY row_number() OVER (PARTITION BY kind ORDER BY dt DESC) <= 30
                              ORDER BY kind, dt""")
        data["drift"] = q(f"""SELECT kind, dt, psi, max_share_change FROM ml.prediction_drift WHERE dt <= '{dt}'
                           QUALIFY row_number() OVER (PARTITION BY kind ORDER BY dt DESC) <= 30 ORDER BY kind, dt""")
    data["datasets"] = {kind: _dataset(paths, kind) for kind in KINDS}
    data["models"] = {kind: _model(paths, kind, dt) for kind in KINDS}
    data["links"] = _links(paths, dt, data["models"])
    return data


def _dataset(paths: Paths, kind: str) -> dict | None:
    from shardline.datasets import kind_root, read_manifest, read_validation
    from shardline.storage import read_pointer

    root = kind_root(paths, kind)
    candidate = read_pointer(root / "candidate")
    if not candidate:
        return None
    manifest = read_manifest(paths, kind, candidate)
    validation = read_validation(paths, kind, candidate) or {}
    return {"version": candidate, "rows": manifest.get("rows"), "labels": len(manifest.get("counts", {}).get("train", {}))
            if isinstance(manifest.get("counts", {}).get("train"), dict) else None,
            "status": validation.get("status", "not validated"), "drift": validation.get("drift"),
            "problems": [p for c in (validation.get("checks") or {}).values() for p in c.get("problems", [])],
            "latest": read_pointer(root / "latest")}


def _model(paths: Paths, kind: str, dt: str) -> dict | None:
    from training import registry

    if not registry.kind_root(paths, kind).is_dir():
        return None
    champion = registry.champion(paths, kind)
    tonight = [m for m in registry.list_models(paths, kind) if m["dt"] == dt]  # oldest first
    if not tonight:
        return {"version": None, "champion": champion}
    version = tonight[-1]["version"]
    metrics = registry.read_model(paths, kind, version)["metrics"]
    promotion = metrics.get("promotion") or {}
    return {"version": version, "folder": registry.kind_root(paths, kind) / version, "champion": champion,
            "accuracy": metrics.get("accuracy"), "macro_f1": metrics.get("macro_f1"), "n_test": metrics.get("n_test"),
            "baseline": {k: (metrics.get("baseline") or {}).get(k) for k in ("name", "accuracy", "macro_f1")},
            "champion_before": promotion.get("champion"),
            "champion_accuracy": (promotion.get("champion_metrics") or {}).get("accuracy"),
            "promoted": promotion.get("promoted"), "reason": promotion.get("reason"),
            "history": metrics.get("history") or {}}


def _links(paths: Paths, dt: str, models: dict) -> list[tuple[str, str]]:
    here = report_dir(paths, dt)
    out = []
    for job_dir in sorted((paths.home / "reports").glob(f"*/dt={dt}")):
        if job_dir.parent.name == "night":
            continue
        for name in ("report.html", "contact_sheet.png"):
            if (job_dir / name).exists():
                out.append((f"{job_dir.parent.name}: {name}", _relative(job_dir / name, here)))
    for kind, model in models.items():
        if model and model.get("folder") and (model["folder"] / "report.html").exists():
            out.append((f"{kind} model {model['version']}: report", _relative(model["folder"] / "report.html", here)))
    return out


def _relative(target: Path, start: Path) -> str:
    import os

    return Path(os.path.relpath(target, start)).as_posix()


# ---- plots ------------------------------------------------------------------------------------------------

def plots(data: dict) -> dict[str, str]:
    """name -> inline SVG: held-out accuracy over nights, prediction drift, training curves per kind."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.figure import Figure

    from training.curves import svg

    plt.rcParams.update({"font.size": 9, "svg.fonttype": "none"})

    def over_nights(rows: list[dict], key: str, title: str, ylabel: str, line: tuple | None = None) -> str:
        fig = Figure(figsize=(6.4, 2.6))
        ax = fig.subplots()
        for kind in KINDS:
            pts = [(r["dt"], r[key]) for r in rows if r["kind"] == kind]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=kind)
        if line:
            ax.axhline(line[0], color="red", linestyle="--", linewidth=1, label=line[1])
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.tick_params(axis="x", labelrotation=45)
        if ax.lines:
            ax.legend()
        ax.grid(alpha=0.3)
        if key == "accuracy":
            ax.set_ylim(0, 1.02)
        return svg(fig)

    out = {"accuracy": over_nights(data["accuracy"], "accuracy", "held-out accuracy (test and unseen rows), "
                                   "last 30 nights", "held-out accuracy"),
           "drift": over_nights(data["drift"], "psi", "prediction drift against the previous night", "PSI",
                                (0.2, "0.2: a real shift"))}
    from training.curves import curves_svg

    for kind in KINDS:
        history = (data["models"].get(kind) or {}).get("history") or {}
        if history:
            out[f"training_{kind}"] = curves_svg(history, kind)
    return out


# ---- page -------------------------------------------------------------------------------------------------

def _e(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape("" if value is None else str(value))


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body or '<tr><td colspan=99>none</td></tr>'}</table>"


def _change(now: int | None, before: int | None) -> str:
    if now is None or before is None:
        return ""
    delta = now - before
    return f"{delta:+d}" if delta else "="


def render(data: dict, svgs: dict[str, str]) -> str:
    dt, prev = data["dt"], data.get("previous_dt")
    failed = [j["job"] for j in data["jobs"] if j["status"] != "success"] + \
             [f"score_{s['kind']}" for s in data["scoring"] if s["status"] != "success"]
    verdict = "every job succeeded" if not failed else f"failed: {', '.join(failed)}"
    parts = [f"<h1>Shardline night of {html.escape(dt)}</h1>",
             f"<p class=verdict>{html.escape(verdict)}; previous night: {html.escape(prev or 'none')}</p>"]
    parts.append("<section id=jobs><h2>Jobs</h2>" + _table(
        ["job", "status", "seconds", "records in", "kept", "quarantined"],
        [[j["job"], j["status"], j["seconds"], j["records_in"], j["records_out"], j["records_quarantined"]]
         for j in data["jobs"]]) + "".join(
        f"<p>scoring {html.escape(s['kind'])} failed: {html.escape(s['error'] or '')}</p>"
        for s in data["scoring"] if s["status"] != "success") + "</section>")
    before = {j["job"]: j for j in data["previous_jobs"]}
    rows = []
    for j in data["jobs"]:
        b = before.get(j["job"], {})
        rows.append([j["job"], j["records_in"], _change(j["records_in"], b.get("records_in")), j["records_out"],
                     _change(j["records_out"], b.get("records_out")), j["records_quarantined"],
                     _change(j["records_quarantined"], b.get("records_quarantined"))])
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for r in data["quarantine"]:
        counts.setdefault((r["stage"], r["reason"]), {})[r["dt"]] = r["n"]
    reasons = [[stage, reason, c.get(dt, 0), _change(c.get(dt, 0), c.get(prev, 0)) if prev else ""]
               for (stage, reason), c in sorted(counts.items()) if c.get(dt)]
    parts.append("<section id=records><h2>Records per stage</h2><p>change: against the previous night "
                 f"({html.escape(prev or 'none')})</p>" + _table(
                     ["stage", "in", "change", "kept", "change", "quarantined", "change"], rows)
                 + "<h3>Quarantined by reason</h3>" + _table(["stage", "reason", "records", "change"], reasons)
                 + "</section>")
    dups = [[stage, reason, c.get(dt, 0)] for (stage, reason), c in sorted(counts.items())
            if reason in DUPLICATE_REASONS and c.get(dt)]
    parts.append("<section id=duplicates><h2>Duplicates found</h2>" + _table(["stage", "reason", "records"], dups)
                 + "</section>")
    ds_rows = []
    for kind, d in data["datasets"].items():
        if d:
            drift = d["drift"] or {}
            ds_rows.append([kind, d["version"], d["status"], json.dumps(d["rows"]) if d["rows"] else "",
                            drift.get("label_psi", drift.get("note", "")), drift.get("size_psi", ""), d["latest"],
                            "; ".join(d["problems"])])
    parts.append("<section id=datasets><h2>Datasets and the gate</h2>" + _table(
        ["kind", "version published", "gate", "rows per split", "label PSI", "size PSI", "latest", "problems"],
        ds_rows) + "</section>")
    m_rows = []
    for kind, m in data["models"].items():
        if m and m.get("version"):
            b = m["baseline"]
            m_rows.append([kind, m["version"], m["accuracy"], m["macro_f1"], m["n_test"],
                           f"{b.get('name') or ''} {_e(b.get('accuracy'))}", m["champion_before"] or "none",
                           m["champion_accuracy"], "promoted" if m["promoted"] else "not promoted", m["reason"],
                           m["champion"]])
        elif m:
            m_rows.append([kind, "no model trained this night", "", "", "", "", "", "", "", "", m.get("champion")])
    parts.append("<section id=models><h2>Models: candidate, baseline, champion</h2>" + _table(
        ["kind", "candidate", "test accuracy", "macro-F1", "test rows", "baseline (accuracy)", "champion before",
         "its accuracy", "verdict", "why", "champion now"], m_rows) + "</section>")
    parts.append("<section id=plots><h2>Plots</h2>" + "".join(
        f"<figure>{svg}</figure>" for svg in svgs.values()) + "</section>")
    parts.append("<section id=links><h2>Reports of this night</h2><ul>" + "".join(
        f"<li><a href=\"{html.escape(href)}\">{html.escape(text)}</a></li>" for text, href in data["links"])
                 + "</ul></section>")
    style = ("body{font-family:sans-serif;margin:2em;max-width:75em}table{border-collapse:collapse;margin:.5em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:90%}th{background:#f3f3f3}"
             "figure{display:inline-block;margin:.5em}.verdict{font-size:120%}section{margin-bottom:1.5em}")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Shardline night {html.escape(dt)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def write(paths: Paths, dt: str) -> Path:
    """Gather, plot and write the page atomically (a complete folder renamed into place); returns index.html."""
    data = gather(paths, dt)
    page = render(data, plots(data))
    final = report_dir(paths, dt)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = final.parent / f".stage-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    (stage / "index.html").write_text(page)
    (stage / "report.json").write_text(json.dumps({k: v for k, v in data.items() if k != "models"} | {
        "models": {k: {kk: vv for kk, vv in (m or {}).items() if kk != "folder"} for k, m in data["models"].items()}},
        indent=2, default=str) + "\n")
    replace_dir(stage, final)
    return final / "index.html"
